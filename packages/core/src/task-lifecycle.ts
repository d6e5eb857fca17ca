/**
 * The task lifecycle as pure functions (MCP's Tasks extension), beside the session one in
 * `lifecycle.ts`: stores persist what these return and never decide. No clock, no I/O.
 *
 *   create → working ⇄ input_required ──▶ completed | failed | cancelled   (terminal: no way out)
 *                 │ worker's lease lapsed (a crash): another instance takes it over:
 *                 └─▶ working again from the start (the tool said that is safe), else failed
 *
 * Only the task's worker (the lease holder) reports progress, asks for input, completes or
 * fails it, so a worker that lost its lease can no longer write. Anyone allowed to see the task
 * (its principal) may cancel it. A terminal task holds no lease, so no store ever claims or
 * renews it again; the sweep deletes it once its ttl is over.
 */
import type { JsonObject } from './json';
import type { TaskRecord, TaskStatus } from './task-store';

export interface TaskPolicy {
  /** A worker's lease: renewed in batches while it runs; after it lapses another instance takes over. */
  readonly leaseMs: number;
  /** The ttl of a task whose creator gave none. */
  readonly defaultTtlMs: number;
}

export interface CreateTaskInput {
  readonly id: string;
  readonly principal?: string | null;
  readonly request: JsonObject;
  readonly rerunnable?: boolean;
  /** The instance that accepted the request and runs the task. */
  readonly workerId: string;
  /** Default `policy.defaultTtlMs`; null for none. */
  readonly ttlMs?: number | null;
  readonly pollIntervalMs?: number | null;
  readonly statusMessage?: string | null;
}

export type TaskEvent =
  | { readonly type: 'progress'; readonly workerId: string; readonly statusMessage: string | null }
  | {
      readonly type: 'need_input';
      readonly workerId: string;
      readonly inputRequests: JsonObject;
      readonly statusMessage?: string | null;
    }
  | {
      readonly type: 'input_received';
      readonly workerId: string;
      /** The requests answered (keys of `inputRequests`); default all. The task works again once none is left. */
      readonly answered?: readonly string[];
      readonly statusMessage?: string | null;
    }
  | { readonly type: 'complete'; readonly workerId: string; readonly result: JsonObject }
  | {
      readonly type: 'fail';
      readonly workerId: string;
      readonly error: JsonObject;
      readonly statusMessage?: string | null;
    }
  /**
   * Ends it `failed` with a result that reports the failure (a `CallToolResult` with `isError`),
   * not a JSON-RPC error: how protocol 2025-11-25 (SDK v1's `storeTaskResult(id, 'failed', result)`) ends one.
   */
  | {
      readonly type: 'fail_with_result';
      readonly workerId: string;
      readonly result: JsonObject;
      readonly statusMessage?: string | null;
    }
  | { readonly type: 'cancel'; readonly statusMessage?: string | null }
  /** The claimer of a lapsed lease (`claimLapsedTasks` made it the worker) decides what follows. */
  | { readonly type: 'take_over'; readonly workerId: string }
  /** A planned stop: the worker gives its lease up now, so another instance takes the task over at once. */
  | { readonly type: 'release'; readonly workerId: string };

export type TaskRefusal = 'terminal' | 'not_worker' | 'not_waiting';

export type TaskTransition =
  | { readonly ok: true; readonly task: TaskRecord; readonly changed: boolean }
  | { readonly ok: false; readonly reason: TaskRefusal };

/** What a lost worker leaves when the task may not run again: a JSON-RPC internal error. */
export const WORKER_LOST_ERROR: JsonObject = {
  code: -32603,
  message: 'The worker running this task was lost before it finished',
};

export function isTerminalTask(status: TaskStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** create: (none) → working, run by `workerId` under a fresh lease. */
export function createTask(input: CreateTaskInput, now: number, policy: TaskPolicy): TaskRecord {
  const ttlMs = input.ttlMs === undefined ? policy.defaultTtlMs : input.ttlMs;
  return {
    id: input.id,
    principal: input.principal ?? null,
    createdAt: now,
    request: input.request,
    rerunnable: input.rerunnable ?? false,
    status: 'working',
    version: 1,
    statusMessage: input.statusMessage ?? null,
    updatedAt: now,
    ttlMs,
    expiresAt: ttlMs === null ? null : now + ttlMs,
    pollIntervalMs: input.pollIntervalMs ?? null,
    workerId: input.workerId,
    leaseUntil: now + policy.leaseMs,
    attempts: 1,
    inputRequests: null,
    result: null,
    error: null,
  };
}

/** The lease a worker's renewal writes now. */
export function leaseDeadline(now: number, policy: TaskPolicy): number {
  return now + policy.leaseMs;
}

/** The next task for `event`, or why the event is refused. Pure. */
export function transitionTask(
  task: TaskRecord,
  event: TaskEvent,
  now: number,
  policy: TaskPolicy,
): TaskTransition {
  const next = (patch: Partial<TaskRecord>): TaskTransition => ({
    ok: true,
    changed: true,
    task: { ...task, ...patch, version: task.version + 1, updatedAt: now },
  });
  // Terminal: nothing changes it again, and it holds no lease.
  const end = (patch: Partial<TaskRecord>) => next({ ...patch, workerId: null, leaseUntil: null });
  if (isTerminalTask(task.status)) {
    return event.type === 'cancel' && task.status === 'cancelled'
      ? { ok: true, changed: false, task }
      : { ok: false, reason: 'terminal' };
  }
  if (event.type === 'cancel') {
    return end({
      status: 'cancelled',
      statusMessage: event.statusMessage ?? task.statusMessage,
      inputRequests: null,
    });
  }
  if (task.workerId !== event.workerId) return { ok: false, reason: 'not_worker' };
  switch (event.type) {
    case 'progress':
      return next({ statusMessage: event.statusMessage });
    case 'need_input':
      return next({
        status: 'input_required',
        inputRequests: event.inputRequests,
        statusMessage: event.statusMessage ?? task.statusMessage,
      });
    case 'input_received': {
      if (task.status !== 'input_required') return { ok: false, reason: 'not_waiting' };
      const left = remainingRequests(task.inputRequests, event.answered);
      return next({
        status: left === null ? 'working' : 'input_required',
        inputRequests: left,
        statusMessage: event.statusMessage ?? task.statusMessage,
      });
    }
    case 'complete':
      return end({ status: 'completed', result: event.result, inputRequests: null });
    case 'fail':
      return end({
        status: 'failed',
        error: event.error,
        inputRequests: null,
        statusMessage: event.statusMessage ?? task.statusMessage,
      });
    case 'fail_with_result':
      return end({
        status: 'failed',
        result: event.result,
        inputRequests: null,
        statusMessage: event.statusMessage ?? task.statusMessage,
      });
    case 'release':
      return next({ leaseUntil: Math.min(now, task.leaseUntil ?? now) });
    case 'take_over':
      if (!task.rerunnable) {
        return end({
          status: 'failed',
          error: WORKER_LOST_ERROR,
          inputRequests: null,
          statusMessage: 'The worker running this task was lost; it was not safe to run it again',
        });
      }
      return next({
        status: 'working',
        attempts: task.attempts + 1,
        inputRequests: null,
        leaseUntil: leaseDeadline(now, policy),
        statusMessage: 'Running again from the start: the worker running it was lost',
      });
  }
}

/** The requests still unanswered once `answered` are (all when undefined); null when none is left. */
function remainingRequests(
  requests: JsonObject | null,
  answered: readonly string[] | undefined,
): JsonObject | null {
  if (requests === null || answered === undefined) return null;
  const left = Object.fromEntries(Object.entries(requests).filter(([key]) => !answered.includes(key)));
  return Object.keys(left).length === 0 ? null : left;
}
