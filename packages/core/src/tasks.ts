/**
 * Durable tasks (MCP's Tasks extension) over a store's tasks facet: created durably before they
 * are answered, read and cancelled by any instance, written by the one instance whose worker
 * holds the lease. This instance renews the leases of the tasks it runs in batches (one round
 * trip per tick, as heartbeats are); a task whose worker died (its lease lapsed) is claimed by
 * one instance and, as the lifecycle says, run again from the start or failed. A planned stop
 * gives its leases up at once. Expired tasks are deleted by the indexed sweep.
 *
 * The protocol side (the `tasks/*` methods, the tool call that creates a task) builds on this.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { decodeCursor, encodeCursor } from './cursor';
import { ConflictError, InvalidArgumentError, TaskNotFoundError, TaskRefusedError } from './errors';
import { assertSessionId, generateSessionId, sessionTag } from './ids';
import { encodeJson, type JsonObject } from './json';
import { type LoggerLike, resolveLogger } from './logger';
import {
  type Clock,
  DEFAULT_MAX_CAS_RETRIES,
  type Logger,
  positiveInteger,
  positiveNumber,
  systemClock,
  timerDelay,
} from './options';
import type { SessionStore } from './store';
import { createTask, leaseDeadline, type TaskEvent, type TaskPolicy, transitionTask } from './task-lifecycle';
import { hasTasks, type TaskRecord, type TaskStore, taskStateOf } from './task-store';

/** A worker's lease: another instance takes its task over this long after its last renewal. */
export const DEFAULT_TASK_LEASE_MS = 15_000;
/** A task's ttl when its creator gives none: minutes, so a client can read a result a while after. */
export const DEFAULT_TASK_TTL_MS = 60 * 60 * 1000;
/** Tasks claimed or deleted per round trip; tasks read per round trip by `list`. */
const SWEEP_BATCH = 100;
/** A `list` page's tasks when the caller names no limit. */
export const DEFAULT_TASK_PAGE_SIZE = 50;
/** Tasks of every principal `list` reads at most per call (the store has no index by principal). */
export const DEFAULT_TASK_LIST_SCAN = 1000;

export interface TaskManagerOptions {
  /** A store that declares `capabilities.tasks` (every adapter of this project does). */
  store: SessionStore;
  /** Default 15 s. Renewed every third of it; a SIGKILLed worker's task runs again about a lease later. */
  leaseMs?: number;
  /** Default 1 hour. */
  defaultTtlMs?: number;
  /** Renewal and takeover timers. Default true; tests call `tick()` and `sweep()` instead. */
  timers?: boolean;
  clock?: Clock;
  logger?: LoggerLike | false;
  /** Names this instance as a task's worker. Default `hostname:pid:random` (share the session manager's). */
  instanceId?: string;
}

export interface CreateTaskOptions {
  /** Who may read, update and cancel it; null for none. */
  principal?: string | null;
  /** Running it again from the start after a lost worker is safe. Default false: such a task fails. */
  rerunnable?: boolean;
  /** Default `defaultTtlMs`; null for none. */
  ttlMs?: number | null;
  pollIntervalMs?: number | null;
  statusMessage?: string | null;
}

export interface ListTasksOptions {
  /** Whose tasks; null (default) for those created without one. */
  principal?: string | null;
  /** Default 50. */
  limit?: number;
  /** A page's `nextCursor`. */
  cursor?: string;
  /** Tasks of every principal read at most by this call. Default 1000. */
  maxScanned?: number;
}

export interface TaskPage {
  tasks: TaskRecord[];
  /** Where the next page starts; absent once the store has no more tasks. */
  nextCursor?: string;
}

export interface SweepResult {
  /** Lapsed tasks claimed here: now running here again, or failed. */
  takenOver: number;
  /** Tasks deleted after their ttl. */
  deleted: number;
}

export interface TaskManagerEvents {
  created: [task: TaskRecord];
  completed: [task: TaskRecord];
  failed: [task: TaskRecord];
  cancelled: [task: TaskRecord];
  /** A lapsed task this instance claimed: running again (status `working`: run it) or failed. */
  takenOver: [task: TaskRecord];
  /** A task this instance ran is no longer its to run (cancelled, taken over, or gone): stop its worker. */
  lost: [taskId: string];
  error: [error: Error];
}

export class TaskManager extends EventEmitter<TaskManagerEvents> {
  readonly store: SessionStore & TaskStore;
  readonly instanceId: string;
  readonly policy: TaskPolicy;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Tasks this instance runs: their leases are renewed at every tick. */
  private readonly running = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private ticking: Promise<number> | undefined;
  private sweeping: Promise<SweepResult> | undefined;

  constructor(options: TaskManagerOptions) {
    super();
    if (!options.store || !hasTasks(options.store)) {
      throw new InvalidArgumentError('store', 'must keep tasks (capabilities.tasks)');
    }
    this.store = options.store;
    this.policy = {
      leaseMs: timerDelay('leaseMs', options.leaseMs, DEFAULT_TASK_LEASE_MS),
      defaultTtlMs: positiveNumber('defaultTtlMs', options.defaultTtlMs, DEFAULT_TASK_TTL_MS),
    };
    this.clock = options.clock ?? systemClock;
    this.logger = resolveLogger(options.logger);
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${generateSessionId().slice(0, 6)}`;
    if (options.timers !== false) {
      const renew = setInterval(
        () => this.background(this.tick(), 'task lease renewal'),
        this.policy.leaseMs / 3,
      );
      const sweep = setInterval(() => this.background(this.sweep(), 'task sweep'), this.policy.leaseMs / 2);
      renew.unref();
      sweep.unref();
      this.timers = [renew, sweep];
    }
  }

  /** Ids of the tasks this instance runs. */
  get runningTaskIds(): ReadonlySet<string> {
    return this.running;
  }

  /**
   * A new task for `request`, run by this instance: written before it returns, so a `tasks/get`
   * on any instance finds it once the client has its id.
   */
  async create(request: JsonObject, options: CreateTaskOptions = {}): Promise<TaskRecord> {
    encodeJson(request);
    const ttlMs =
      options.ttlMs === null ? null : positiveNumber('ttlMs', options.ttlMs, this.policy.defaultTtlMs);
    const task = createTask(
      { id: generateSessionId(), workerId: this.instanceId, request, ...options, ttlMs },
      this.clock.now(),
      this.policy,
    );
    if (!(await this.store.insertTask(task))) throw new ConflictError(task.id, 1);
    this.running.add(task.id);
    this.emit('created', task);
    return task;
  }

  /** The task, for its principal; `TaskNotFoundError` for an unknown id or another principal's task. */
  async get(taskId: string, options: { principal?: string | null } = {}): Promise<TaskRecord> {
    assertSessionId(taskId);
    const task = await this.store.getTask(taskId);
    if (!task || !belongsTo(task, options.principal ?? null)) throw new TaskNotFoundError(taskId);
    return task;
  }

  /**
   * A page of one principal's tasks, newest first (the store's `listTasks` order). The store has
   * no index by principal, so a call reads at most `maxScanned` tasks of every principal: a page
   * may hold fewer than `limit` tasks, even none, and still give a `nextCursor`.
   */
  async list(options: ListTasksOptions = {}): Promise<TaskPage> {
    const principal = options.principal ?? null;
    const limit = positiveInteger('limit', options.limit, DEFAULT_TASK_PAGE_SIZE);
    const maxScanned = positiveInteger('maxScanned', options.maxScanned, DEFAULT_TASK_LIST_SCAN);
    let after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, 'list');
    const tasks: TaskRecord[] = [];
    for (let scanned = 0; scanned < maxScanned; ) {
      const want = Math.min(SWEEP_BATCH, maxScanned - scanned);
      const page = await this.store.listTasks({ limit: want, after });
      for (const task of page) {
        scanned++;
        after = task;
        if (belongsTo(task, principal) && tasks.push(task) === limit) {
          return { tasks, nextCursor: encodeCursor(task) };
        }
      }
      if (page.length < want) return { tasks };
    }
    return after ? { tasks, nextCursor: encodeCursor(after) } : { tasks };
  }

  /** Cancels the task for its principal, wherever it runs; the worker learns it at its next write or renewal. */
  cancel(
    taskId: string,
    options: { principal?: string | null; statusMessage?: string } = {},
  ): Promise<TaskRecord> {
    return this.apply(
      taskId,
      { type: 'cancel', statusMessage: options.statusMessage },
      options.principal ?? null,
    );
  }

  /** An operator's cancel (`mcp-sessions tasks cancel`): whoever created the task. */
  forceCancel(taskId: string, statusMessage = 'Cancelled by an operator'): Promise<TaskRecord> {
    return this.apply(taskId, { type: 'cancel', statusMessage });
  }

  /** This instance's worker reports on a task it runs (progress, input needed or received, the end). */
  report(
    taskId: string,
    event: Exclude<TaskEvent, { type: 'cancel' | 'take_over' | 'release' }>,
  ): Promise<TaskRecord> {
    return this.apply(taskId, event);
  }

  /** Renews the lease of every task this instance runs, in one round trip. Returns how many. */
  tick(): Promise<number> {
    this.ticking ??= this.renew().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /** Takes over tasks whose worker was lost and deletes expired ones. */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /**
   * A planned stop: gives up the lease of every task this instance runs, so another instance
   * takes each over at its next sweep (run again or failed, as the lifecycle says).
   */
  async handOff(): Promise<void> {
    const ids = [...this.running];
    this.running.clear();
    await Promise.allSettled(ids.map((id) => this.apply(id, { type: 'release', workerId: this.instanceId })));
  }

  /** Stops the timers; closes nothing. */
  async dispose(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await Promise.allSettled([this.ticking, this.sweeping]);
  }

  // --- Internal helpers ---

  private async renew(): Promise<number> {
    if (this.running.size === 0) return 0;
    const ids = [...this.running];
    const renewed = new Set(
      await this.store.renewTaskLeases(ids, this.instanceId, leaseDeadline(this.clock.now(), this.policy)),
    );
    for (const id of ids) if (!renewed.has(id)) this.stopRunning(id);
    return renewed.size;
  }

  private async runSweep(): Promise<SweepResult> {
    let takenOver = 0;
    for (;;) {
      const now = this.clock.now();
      const claimed = await this.store.claimLapsedTasks({
        now,
        limit: SWEEP_BATCH,
        workerId: this.instanceId,
        leaseUntil: leaseDeadline(now, this.policy),
      });
      for (const task of claimed) if (await this.takeOver(task, now)) takenOver++;
      if (claimed.length < SWEEP_BATCH) break;
    }
    let deleted = 0;
    for (;;) {
      const n = await this.store.deleteExpiredTasks(this.clock.now(), SWEEP_BATCH);
      deleted += n;
      if (n < SWEEP_BATCH) break;
    }
    return { takenOver, deleted };
  }

  /** A task this instance just claimed: run again or failed, as the lifecycle says. */
  private async takeOver(task: TaskRecord, now: number): Promise<boolean> {
    const next = transitionTask(task, { type: 'take_over', workerId: this.instanceId }, now, this.policy);
    if (!next.ok || !(await this.store.compareAndSetTask(task.id, taskStateOf(next.task), task.version))) {
      return false;
    }
    if (next.task.status === 'working') this.running.add(task.id);
    this.logger.warn('task taken over from a lost worker', {
      task: sessionTag(task.id),
      status: next.task.status,
      attempts: next.task.attempts,
    });
    this.emit('takenOver', next.task);
    if (next.task.status === 'failed') this.emit('failed', next.task);
    return true;
  }

  /**
   * Read, decide with the task lifecycle, compare-and-set; again on a lost race. `principal`:
   * a client's call (only its own tasks); undefined for this instance's own worker.
   */
  private async apply(taskId: string, event: TaskEvent, principal?: string | null): Promise<TaskRecord> {
    assertSessionId(taskId);
    for (let attempt = 0; attempt < DEFAULT_MAX_CAS_RETRIES; attempt++) {
      const current = await this.store.getTask(taskId);
      if (!current || (principal !== undefined && !belongsTo(current, principal))) {
        throw new TaskNotFoundError(taskId);
      }
      const result = transitionTask(current, event, this.clock.now(), this.policy);
      if (!result.ok) {
        if (result.reason === 'not_worker' || result.reason === 'terminal') this.stopRunning(taskId);
        throw new TaskRefusedError(taskId, result.reason);
      }
      if (!result.changed) return current;
      if (await this.store.compareAndSetTask(taskId, taskStateOf(result.task), current.version)) {
        this.settled(result.task);
        return result.task;
      }
    }
    throw new ConflictError(taskId, DEFAULT_MAX_CAS_RETRIES);
  }

  private settled(task: TaskRecord): void {
    if (task.leaseUntil === null || task.workerId !== this.instanceId) this.running.delete(task.id);
    if (task.status === 'completed') this.emit('completed', task);
    else if (task.status === 'failed') this.emit('failed', task);
    else if (task.status === 'cancelled') this.emit('cancelled', task);
  }

  private stopRunning(taskId: string): void {
    if (this.running.delete(taskId)) this.emit('lost', taskId);
  }

  private background(work: Promise<unknown>, what: string): void {
    work.catch((error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else this.logger.error(`${what} failed`, { error: err });
    });
  }
}

/** Who may see a task: its creator's principal only (one rule for get, list and a client's changes). */
function belongsTo(task: TaskRecord, principal: string | null): boolean {
  return task.principal === principal;
}
