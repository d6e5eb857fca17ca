/**
 * The Tasks extension's wire (SEP-2663, `io.modelcontextprotocol/tasks`, protocol revision
 * 2026-07-28): how a stored task is shown to a client, the JSON-RPC errors the extension names,
 * and the check that a request declared the extension. Pure: no SDK import, no I/O.
 */
import type { JsonObject } from '../json';
import type { TaskRecord } from '../task-store';

/** The extension's identifier, in `capabilities.extensions` on both sides. */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** JSON-RPC codes the extension uses. */
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
export const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;

/** How a tool takes part: the spec's `execution.taskSupport` on its `tools/list` entry. */
export type TaskSupport = 'optional' | 'required';

/**
 * A JSON-RPC error as the SDK answers it: a thrown error's numeric `code`, `message` and `data`
 * go to the wire as they are (SDK v2 reads `code` and `data` from any thrown error).
 */
export class TaskProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: JsonObject,
  ) {
    super(message);
    this.name = 'TaskProtocolError';
  }
}

/** -32021: the request needs the tasks extension, which its client did not declare. */
export function missingTasksCapability(what: string): TaskProtocolError {
  return new TaskProtocolError(
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    `Missing required client capability: ${what} needs the ${TASKS_EXTENSION} extension`,
    { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
  );
}

/** -32602: no such task for this caller (an unknown id, an expired task, another principal's). */
export function taskNotFound(): TaskProtocolError {
  return new TaskProtocolError(INVALID_PARAMS, 'Failed to retrieve task: Task not found');
}

/** Whether client capabilities (the request's `_meta` envelope in 2026-07-28) declare the extension. */
export function declaresTasks(capabilities: unknown): boolean {
  const extensions = (capabilities as { extensions?: unknown } | undefined)?.extensions;
  return typeof extensions === 'object' && extensions !== null && TASKS_EXTENSION in extensions;
}

/** The `Task` fields every shape carries: ISO times, integer milliseconds, no v1 names. */
function taskFields(task: TaskRecord): JsonObject {
  return {
    taskId: task.id,
    status: task.status,
    ...(task.statusMessage !== null && { statusMessage: task.statusMessage }),
    createdAt: new Date(task.createdAt).toISOString(),
    lastUpdatedAt: new Date(task.updatedAt).toISOString(),
    ttlMs: task.ttlMs === null ? null : Math.round(task.ttlMs),
    ...(task.pollIntervalMs !== null && { pollIntervalMs: Math.round(task.pollIntervalMs) }),
  };
}

/** `tools/call`'s answer once the task is stored: `CreateTaskResult`, flat, with no payload. */
export function createTaskResult(task: TaskRecord): JsonObject {
  return { resultType: 'task', ...taskFields(task) };
}

/**
 * `tasks/get`'s answer (and a `notifications/tasks` payload): the task with what its status
 * carries inline, the result, the error or the outstanding input requests, and nothing else.
 */
export function detailedTask(task: TaskRecord): JsonObject {
  const fields = taskFields(task);
  switch (task.status) {
    case 'input_required':
      return { ...fields, inputRequests: task.inputRequests ?? {} };
    case 'completed':
      // The request's own result as the wire carries it (a 2026-07-28 Result has its resultType).
      return { ...fields, result: { ...(task.result ?? { content: [] }), resultType: 'complete' } };
    case 'failed':
      return { ...fields, error: task.error ?? { code: INTERNAL_ERROR, message: 'Internal error' } };
    default:
      return fields;
  }
}

/** What a worker's write announces on the task's bus channel (status notifications listen there). */
export const TASK_CHANGED = Object.freeze({ kind: 'status' }) as { readonly kind: 'status' };

/** The empty acknowledgement of `tasks/update` and `tasks/cancel`. */
export const EMPTY_ACK: JsonObject = Object.freeze({ resultType: 'complete' }) as JsonObject;

/**
 * A thrown error as a task's end: a JSON-RPC error (a numeric `code`) fails the task with it;
 * anything else is the tool's own failure, which the spec reports as a completed task whose
 * result has `isError` (as the SDK reports a tool that throws).
 */
export function outcomeOfError(
  error: unknown,
): { kind: 'failed'; error: JsonObject } | { kind: 'completed'; result: JsonObject } {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && Number.isSafeInteger(code)) {
    const data = (error as { data?: unknown }).data;
    return {
      kind: 'failed',
      error: { code, message, ...(data !== undefined && { data: data as JsonObject }) },
    };
  }
  return { kind: 'completed', result: toolErrorResult(message) };
}

/** A tool's own failure as its result says it (`isError`), as SDK tools report one. */
export function toolErrorResult(text: string): JsonObject {
  return { content: [{ type: 'text', text }], isError: true };
}
