/**
 * SDK v1's experimental `TaskStore` (protocol 2025-11-25: task-augmented `tools/call`,
 * `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`) over a `TaskManager`, so a
 * 2025-11-25 server's tasks outlive its process and are read by every instance sharing the store.
 *
 * - Every change goes through the task lifecycle (`TaskManager`): the instance whose server
 *   created a task is its worker, under a lease renewed by the manager; only it stores the result
 *   or moves the status, and anyone who sees the task may cancel it. A task whose instance died
 *   fails with the lifecycle's `WORKER_LOST_ERROR` once another instance's sweep claims the lapsed
 *   lease: a v1 task never runs again, because its work lives in the tool's closure.
 * - A task belongs to the session the SDK names: its principal is `v1-session:` and the SHA-256 of
 *   the session id (a bearer credential when no principal is bound, so it stays out of the tasks
 *   table and the CLI). Another session, or a call without a session, does not find it (stricter
 *   than the SDK's `InMemoryTaskStore`, where a call without a session sees every task).
 * - Status mapping: `storeTaskResult` ends it `completed` or `failed` with the result;
 *   `updateTaskStatus` to `input_required` asks for input (the requests themselves wait in the
 *   message queue, so `inputRequests` is `{}`), to `working` resumes or reports progress, to
 *   `failed` fails it with a JSON-RPC internal error carrying the status message, to `cancelled`
 *   cancels it. `completed` without a result is refused: there is nothing to answer with.
 *
 * @example
 * ```ts
 * const taskManager = new TaskManager({ store, instanceId: manager.instanceId });
 * const taskStore = new DurableTaskStore({ tasks: taskManager });
 * const handler = createNodeSessionHandler({
 *   manager,
 *   createServer: () => {
 *     const server = new McpServer(info, {
 *       capabilities: { tasks: { requests: { tools: { call: {} } }, list: {}, cancel: {} } },
 *       taskStore,
 *       taskMessageQueue: new DurableTaskMessageQueue({ manager }),
 *     });
 *     server.experimental.tasks.registerToolTask('report', config, handlers);
 *     return server;
 *   },
 * });
 * ```
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, TaskNotFoundError, TaskResultUnavailableError } from '../errors';
import { isValidSessionId } from '../ids';
import { encodeJson, type JsonObject } from '../json';
import { assertKnownOptions, positiveInteger, positiveNumber } from '../options';
import type { TaskRecord, TaskStatus } from '../task-store';
import { DEFAULT_TASK_PAGE_SIZE, type TaskManager } from '../tasks';
import type { RequestId, V1CreateTaskOptions, V1Task } from './wire';

/** The pollInterval of a task created without one: the SDK's own default. */
export const DEFAULT_V1_POLL_INTERVAL_MS = 1000;
/** The longest ttl a 2025-11-25 client gets, and what one asking for none (null) gets. */
export const DEFAULT_V1_MAX_TASK_TTL_MS = 24 * 60 * 60 * 1000;

export interface DurableTaskStoreOptions {
  /** The tasks runtime over the store: one per process, beside the `SessionManager` (share its `instanceId`). */
  tasks: TaskManager;
  /** The pollInterval of a task created without one. Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * The longest ttl a task gets: a longer request, or one for none (`null`), gets this, so no task
   * stays in a shared store forever. A request without a ttl gets the manager's `defaultTtlMs`.
   * Default 24 hours.
   */
  maxTtlMs?: number;
  /** Tasks per `tasks/list` page. Default 50. */
  pageSize?: number;
}

/** SDK v1's `TaskStore` (`@modelcontextprotocol/sdk/experimental/tasks`), durable: pass it as `taskStore`. */
export class DurableTaskStore {
  readonly tasks: TaskManager;
  private readonly pollIntervalMs: number;
  private readonly maxTtlMs: number;
  private readonly pageSize: number;

  constructor(options: DurableTaskStoreOptions) {
    assertKnownOptions(options, STORE_OPTIONS, 'DurableTaskStore');
    if (!options.tasks || typeof options.tasks.create !== 'function') {
      throw new InvalidArgumentError('tasks', 'must be a TaskManager');
    }
    this.tasks = options.tasks;
    this.pollIntervalMs = positiveNumber(
      'pollIntervalMs',
      options.pollIntervalMs,
      DEFAULT_V1_POLL_INTERVAL_MS,
    );
    this.maxTtlMs = positiveNumber('maxTtlMs', options.maxTtlMs, DEFAULT_V1_MAX_TASK_TTL_MS);
    this.pageSize = positiveInteger('pageSize', options.pageSize, DEFAULT_TASK_PAGE_SIZE);
  }

  /** Stores a working task for `request`, run by this instance, before the SDK answers with it. */
  async createTask(
    taskParams: V1CreateTaskOptions,
    _requestId: RequestId,
    request: { method: string; params?: { [key: string]: unknown } },
    sessionId?: string,
  ): Promise<V1Task> {
    const task = await this.tasks.create(
      json({ method: request.method, ...(request.params !== undefined && { params: request.params }) }),
      {
        principal: scopeOf(sessionId),
        ttlMs: this.ttlFor(taskParams.ttl),
        pollIntervalMs: positiveNumber('pollInterval', taskParams.pollInterval, this.pollIntervalMs),
      },
    );
    return toV1Task(task);
  }

  /** The task for this session, or null (unknown, expired, another session's, or a malformed id). */
  async getTask(taskId: string, sessionId?: string): Promise<V1Task | null> {
    const task = await this.find(taskId, sessionId);
    return task ? toV1Task(task) : null;
  }

  /** The worker ends the task with its result (`failed`: a result reporting the failure). */
  async storeTaskResult(
    taskId: string,
    status: 'completed' | 'failed',
    result: { [key: string]: unknown },
    sessionId?: string,
  ): Promise<void> {
    if (status !== 'completed' && status !== 'failed') {
      throw new InvalidArgumentError('status', "must be 'completed' or 'failed'");
    }
    await this.visible(taskId, sessionId);
    const workerId = this.tasks.instanceId;
    await this.tasks.report(
      taskId,
      status === 'completed'
        ? { type: 'complete', workerId, result: json(result) }
        : { type: 'fail_with_result', workerId, result: json(result) },
    );
  }

  /** The stored result; `TaskResultUnavailableError` when there is none (running, cancelled, failed with an error). */
  async getTaskResult(taskId: string, sessionId?: string): Promise<JsonObject> {
    const task = await this.visible(taskId, sessionId);
    if (task.result !== null) return task.result;
    throw new TaskResultUnavailableError(task.id, task.status, task.error);
  }

  /** Moves the status through the lifecycle (see the file's header for the mapping). */
  async updateTaskStatus(
    taskId: string,
    status: TaskStatus,
    statusMessage?: string,
    sessionId?: string,
  ): Promise<void> {
    const task = await this.visible(taskId, sessionId);
    const workerId = this.tasks.instanceId;
    switch (status) {
      case 'cancelled':
        await this.tasks.cancel(taskId, { principal: scopeOf(sessionId), statusMessage });
        return;
      case 'failed':
        await this.tasks.report(taskId, {
          type: 'fail',
          workerId,
          error: { code: INTERNAL_ERROR, message: statusMessage ?? 'The task failed' },
          statusMessage,
        });
        return;
      case 'input_required':
        await this.tasks.report(taskId, { type: 'need_input', workerId, inputRequests: {}, statusMessage });
        return;
      case 'working':
        await this.tasks.report(
          taskId,
          task.status === 'input_required'
            ? { type: 'input_received', workerId, statusMessage }
            : { type: 'progress', workerId, statusMessage: statusMessage ?? task.statusMessage },
        );
        return;
      case 'completed':
        throw new InvalidArgumentError('status', "'completed' comes with the result: call storeTaskResult");
      default:
        throw new InvalidArgumentError('status', `unknown task status ${JSON.stringify(status)}`);
    }
  }

  /**
   * A page of this session's tasks, newest first. The store has no index by session: a call
   * reads at most 1000 tasks of every session, so a page may be short, even empty, with a cursor.
   */
  async listTasks(cursor?: string, sessionId?: string): Promise<{ tasks: V1Task[]; nextCursor?: string }> {
    const page = await this.tasks.list({ principal: scopeOf(sessionId), limit: this.pageSize, cursor });
    const tasks = page.tasks.map(toV1Task);
    return page.nextCursor === undefined ? { tasks } : { tasks, nextCursor: page.nextCursor };
  }

  // --- Internal helpers ---

  /** The ttl a task gets: the manager's default when none is asked for, never more than `maxTtlMs`. */
  private ttlFor(requested: number | null | undefined): number {
    if (requested === undefined) return Math.min(this.tasks.policy.defaultTtlMs, this.maxTtlMs);
    if (requested === null) return this.maxTtlMs;
    return Math.min(positiveNumber('ttl', requested, this.maxTtlMs), this.maxTtlMs);
  }

  /** The task if this session may see it; `TaskNotFoundError` otherwise. */
  private async visible(taskId: string, sessionId: string | undefined): Promise<TaskRecord> {
    const task = await this.find(taskId, sessionId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  }

  private async find(taskId: string, sessionId: string | undefined): Promise<TaskRecord | undefined> {
    // A client's id that no task could have is simply not found (TaskManager would call it malformed).
    if (!isValidSessionId(taskId)) return undefined;
    try {
      return await this.tasks.get(taskId, { principal: scopeOf(sessionId) });
    } catch (error) {
      if (error instanceof TaskNotFoundError) return undefined;
      throw error;
    }
  }
}

// --- Internal helpers ---

const STORE_OPTIONS = Object.keys({
  tasks: true,
  pollIntervalMs: true,
  maxTtlMs: true,
  pageSize: true,
} satisfies Record<keyof DurableTaskStoreOptions, true>);

/** JSON-RPC's internal error: what a task failed by `updateTaskStatus` answers `tasks/result` with. */
const INTERNAL_ERROR = -32603;

/** The principal a v1 task is stored under: its session, hashed (the id is a credential). */
function scopeOf(sessionId: string | undefined): string {
  if (sessionId === undefined) return 'v1-no-session';
  return `v1-session:${createHash('sha256').update(sessionId).digest('base64url')}`;
}

/** A value the SDK hands over, proven JSON before anything is written (`InvalidValueError`). */
function json(value: { [key: string]: unknown }): JsonObject {
  encodeJson(value);
  return value as JsonObject;
}

function toV1Task(task: TaskRecord): V1Task {
  return {
    taskId: task.id,
    status: task.status,
    ttl: task.ttlMs,
    createdAt: new Date(task.createdAt).toISOString(),
    lastUpdatedAt: new Date(task.updatedAt).toISOString(),
    ...(task.pollIntervalMs !== null && { pollInterval: task.pollIntervalMs }),
    ...(task.statusMessage !== null && { statusMessage: task.statusMessage }),
  };
}
