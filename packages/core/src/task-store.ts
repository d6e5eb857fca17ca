/**
 * The tasks facet of the store contract (MCP's Tasks extension, SEP-2663): durable records of
 * units of work that outlive the instance that started them. Adapters persist; every decision
 * (which status follows which, who may write, what a lost worker means) is made in core, by
 * `task-lifecycle.ts`. A store that keeps tasks declares `capabilities.tasks` and implements
 * every method below; the conformance suite's `tasks` group checks each promise.
 *
 * A task has an identity written once (`TaskIdentity`) and a state (`TaskState`) that only
 * `compareAndSetTask`, `renewTaskLeases` and `claimLapsedTasks` write. Two fields are indexed:
 * `leaseUntil` (a running task's worker lease; null once the task is terminal) and `expiresAt`
 * (its ttl; null for none). The store never reads a status to decide: a task is claimable or
 * renewable by its `leaseUntil` alone.
 */
import type { JsonObject } from './json';
import type { TaskStatus } from './status';
import type { ListAfter, SessionStore } from './store';

export type { TaskStatus } from './status';

/** Written once by `insertTask`. */
export interface TaskIdentity {
  /** At least 128 random bits (`generateSessionId()` gives 192): the id is the client's handle on it. */
  readonly id: string;
  /** Who created it (an auth subject), or null: only that principal may read, update or cancel it. */
  readonly principal: string | null;
  readonly createdAt: number;
  /** The request it runs (method and params), so another instance can run it again. */
  readonly request: JsonObject;
  /** The tool declared that running it again from the start after a lost worker is safe. */
  readonly rerunnable: boolean;
}

/** What changes over a task's life: all that the state writes set. */
export interface TaskState {
  readonly status: TaskStatus;
  /** Starts at 1; every write sets a higher value. The compare-and-set token. */
  readonly version: number;
  readonly statusMessage: string | null;
  readonly updatedAt: number;
  /** The ttl the client sees, from creation; null for none. */
  readonly ttlMs: number | null;
  /** `createdAt + ttlMs`: the sweep deletes the task after it. Null for none. Indexed. */
  readonly expiresAt: number | null;
  readonly pollIntervalMs: number | null;
  /** The instance running it (the lease holder); null once terminal. */
  readonly workerId: string | null;
  /** The worker's lease: after it another instance may take the task over. Null once terminal. Indexed. */
  readonly leaseUntil: number | null;
  /** Runs started: 1 at creation, one more for each run after a lost worker. */
  readonly attempts: number;
  /** While `input_required`: the requests the client must answer (`tasks/update`), by key. */
  readonly inputRequests: JsonObject | null;
  /** Once `completed`: the request's result (or once `failed` with a result that reports it: protocol 2025-11-25). */
  readonly result: JsonObject | null;
  /** Once `failed` with a JSON-RPC error (a 2025-11-25 task may fail with a `result` instead). */
  readonly error: JsonObject | null;
}

export interface TaskRecord extends TaskIdentity, TaskState {}

export interface ClaimLapsedQuery {
  readonly now: number;
  readonly limit: number;
  /** The claiming instance: the new `workerId`. */
  readonly workerId: string;
  /** The new lease of every claimed task. */
  readonly leaseUntil: number;
}

/** Keyset position for `listTasks`: the last task of the previous page, as `list`'s `ListAfter`. */
export type TaskListAfter = ListAfter;

export interface TaskStore {
  /** Writes a new task. False, writing nothing, when the id is taken. */
  insertTask(task: TaskRecord): Promise<boolean>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  /**
   * Writes `next` as the task's state if the stored version is `expectedVersion`; false when it
   * is not (or there is no task). The identity is never rewritten.
   */
  compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean>;
  /**
   * A worker's lease renewal for many tasks in one round trip: for each id whose task has a lease
   * (`leaseUntil` not null) held by `workerId`, sets `leaseUntil` and `version + 1`. Returns the
   * ids it renewed, in input order. A task whose lease another instance took, or that ended, is
   * left alone and not returned: its worker must stop.
   */
  renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]>;
  /**
   * Tasks whose lease lapsed (`leaseUntil <= now`), earliest first, at most `limit`, found
   * through an index, each atomically given to `workerId` with `leaseUntil` and `version + 1`.
   * Returns them as stored after the claim. Of concurrent claims, each task goes to one only.
   */
  claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]>;
  /** Deletes up to `limit` tasks whose `expiresAt <= now`, through an index; returns how many. */
  deleteExpiredTasks(now: number, limit: number): Promise<number>;
  /** A keyset page of tasks in `list`'s order (`compareListOrder`): `createdAt` descending, then `id` descending. */
  listTasks(query: { readonly limit: number; readonly after?: TaskListAfter }): Promise<TaskRecord[]>;
}

export const TASK_STATUSES: readonly TaskStatus[] = [
  'working',
  'input_required',
  'completed',
  'failed',
  'cancelled',
];

export function isTaskStatus(value: unknown): value is TaskStatus {
  return (TASK_STATUSES as readonly unknown[]).includes(value);
}

/** The state part of a task: what `compareAndSetTask` is given. Read by name. */
export function taskStateOf(task: TaskState): TaskState {
  return {
    status: task.status,
    version: task.version,
    statusMessage: task.statusMessage,
    updatedAt: task.updatedAt,
    ttlMs: task.ttlMs,
    expiresAt: task.expiresAt,
    pollIntervalMs: task.pollIntervalMs,
    workerId: task.workerId,
    leaseUntil: task.leaseUntil,
    attempts: task.attempts,
    inputRequests: task.inputRequests,
    result: task.result,
    error: task.error,
  };
}

/** Whether the store keeps tasks (declares `capabilities.tasks`). */
export function hasTasks(store: SessionStore): store is SessionStore & TaskStore {
  return store.capabilities.tasks === true;
}
