import type { SessionStatus, TaskStatus } from './status';
import { noteStoreFailure } from './store-failures';

/**
 * One error hierarchy for the whole SDK. Every error has a stable `code`; adapters wrap driver
 * errors into these and keep the original as `cause`.
 */

export type ErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'SESSION_EXISTS'
  | 'SESSION_NOT_LIVE'
  | 'RECOVERY_REFUSED'
  | 'HANDLE_EXPIRED'
  | 'TASK_NOT_FOUND'
  | 'TASK_REFUSED'
  | 'TASK_RESULT_UNAVAILABLE'
  | 'TASK_QUEUE'
  | 'CONFLICT'
  | 'INVALID_VALUE'
  | 'INVALID_ARGUMENT'
  | 'STORE_UNAVAILABLE'
  | 'STORE_ERROR';

export class McpSessionsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No record with this id exists (never created, or deleted after its tombstone ran out). */
export class SessionNotFoundError extends McpSessionsError {
  constructor(readonly sessionId: string) {
    super('SESSION_NOT_FOUND', `session ${quote(sessionId)} not found`);
  }
}

/** `insert` of an id that is already taken. */
export class SessionExistsError extends McpSessionsError {
  constructor(readonly sessionId: string) {
    super('SESSION_EXISTS', `session ${quote(sessionId)} already exists`);
  }
}

/** The operation needs a live session (active or disconnected) and this one is not. */
export class SessionNotLiveError extends McpSessionsError {
  /** `detail`: why a session that is still live in the store cannot be served here. */
  constructor(
    readonly sessionId: string,
    readonly status: SessionStatus,
    detail?: string,
  ) {
    super('SESSION_NOT_LIVE', `session ${quote(sessionId)} is ${status}${detail ? `: ${detail}` : ''}`);
  }
}

/** Why a session may not be recovered; see `canRecover`. */
export type RecoveryRefusal =
  | 'not_found'
  | 'closed'
  | 'expired'
  | 'grace_expired'
  | 'attempts_exhausted'
  | 'principal_mismatch'
  | 'still_active';

export class RecoveryRefusedError extends McpSessionsError {
  constructor(
    readonly sessionId: string,
    readonly reason: RecoveryRefusal,
  ) {
    super('RECOVERY_REFUSED', `session ${quote(sessionId)} cannot be recovered: ${reason}`);
  }
}

/**
 * A handle (stateless-era state id) that existed and has expired or been closed. Given only to
 * its own principal, and only until its tombstone is deleted; after that it is `SessionNotFoundError`.
 */
export class HandleExpiredError extends McpSessionsError {
  constructor(readonly handle: string) {
    super('HANDLE_EXPIRED', `handle ${quote(handle)} has expired`);
  }
}

/** A compare-and-set lost too many times in a row to concurrent writers. */
export class ConflictError extends McpSessionsError {
  constructor(
    readonly sessionId: string,
    readonly attempts: number,
  ) {
    super('CONFLICT', `session ${quote(sessionId)} changed concurrently ${attempts} times; gave up`);
  }
}

/** No task with this id for this caller (never created, expired past its ttl, or another principal's). */
export class TaskNotFoundError extends McpSessionsError {
  constructor(readonly taskId: string) {
    super('TASK_NOT_FOUND', `task ${quote(taskId)} not found`);
  }
}

/**
 * The task lifecycle refused the change: the task ended (`terminal`), this instance no longer
 * holds its lease (`not_worker`: its worker must stop), or it is not waiting for input.
 */
export class TaskRefusedError extends McpSessionsError {
  constructor(
    readonly taskId: string,
    readonly reason: 'terminal' | 'not_worker' | 'not_waiting',
  ) {
    super('TASK_REFUSED', `task ${quote(taskId)} refused the change: ${reason.replace('_', ' ')}`);
  }
}

/**
 * A task's result was asked for and it has none: it is still running, it was cancelled, or it
 * failed with a JSON-RPC error (`error`, e.g. its worker was lost) rather than a result.
 */
export class TaskResultUnavailableError extends McpSessionsError {
  constructor(
    readonly taskId: string,
    readonly status: TaskStatus,
    /** The JSON-RPC error the task failed with, if it did (JSON; typed loosely: json.ts imports this file). */
    readonly error: Readonly<Record<string, unknown>> | null,
  ) {
    super('TASK_RESULT_UNAVAILABLE', `task ${quote(taskId)} has no result: ${resultMissing(status, error)}`);
  }
}

/**
 * A task's message queue refused: it is `full` (at its bound), or it held requests or replies
 * queued by another server (`foreign`), whose answer only that server can take (removed).
 */
export class TaskQueueError extends McpSessionsError {
  constructor(
    readonly taskId: string,
    readonly reason: 'full' | 'foreign',
    detail: string,
  ) {
    super('TASK_QUEUE', `task ${quote(taskId)} message queue: ${detail}`);
  }
}

/** A value that would not come back as it went in (cycle, BigInt, function, Date, NaN...). */
export class InvalidValueError extends McpSessionsError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super('INVALID_VALUE', `value at ${path} is not storable as JSON: ${reason}`);
  }
}

/** An argument (id, key, option) that is malformed. Checked before any store round trip. */
export class InvalidArgumentError extends McpSessionsError {
  constructor(
    readonly argument: string,
    reason: string,
  ) {
    super('INVALID_ARGUMENT', `invalid ${argument}: ${reason}`);
  }
}

/** The backend cannot be reached (refused, lost, timed out). Usually worth retrying later. */
export class StoreUnavailableError extends McpSessionsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
    noteStoreFailure(this);
  }
}

/** The backend answered with an error that is not about reachability (corrupt file, bad schema...). */
export class StoreError extends McpSessionsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_ERROR', message, options);
    noteStoreFailure(this);
  }
}

function resultMissing(status: TaskStatus, error: Readonly<Record<string, unknown>> | null): string {
  if (status === 'failed') {
    return `it failed${typeof error?.message === 'string' ? `: ${error.message}` : ''}`;
  }
  return status === 'cancelled' ? 'it was cancelled' : `it is ${status.replace('_', ' ')}`;
}

function quote(id: string): string {
  return JSON.stringify(id.length > 80 ? `${id.slice(0, 77)}...` : id);
}
