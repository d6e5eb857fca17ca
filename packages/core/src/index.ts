/**
 * `@mcp-sessions/core`: what an application uses — the manager, its options and what its methods
 * take and return, the errors, the records it reads, ids and logging, and the store and bus
 * contracts it passes in. Store and bus authors' toolkit (contract details, the lifecycle's pure
 * functions, JSON and option checks, error wrapping) is `@mcp-sessions/core/adapter`; the HTTP
 * layer is `@mcp-sessions/core/http`.
 */

export type { SessionBus } from './bus';
// Errors: every one an `McpSessionsError` with a stable `code`.
export {
  ConflictError,
  type ErrorCode,
  HandleExpiredError,
  InvalidArgumentError,
  InvalidValueError,
  McpSessionsError,
  type RecoveryRefusal,
  RecoveryRefusedError,
  SessionExistsError,
  SessionNotFoundError,
  SessionNotLiveError,
  StoreError,
  StoreUnavailableError,
  TaskNotFoundError,
  TaskQueueError,
  TaskRefusedError,
  TaskResultUnavailableError,
} from './errors';
// Ids and logging.
export { generateSessionId, sessionTag } from './ids';
export type { JsonObject, JsonValue } from './json';
export { type LoggerLike, redactUrl } from './logger';
// The manager and what its methods take and return.
export {
  type CleanupResult,
  type ConsumeOnceOptions,
  type HandleInfo,
  type HandOffOptions,
  type InitializeOptions,
  type MintHandleOptions,
  type PrincipalOptions,
  type RecoveryCheck,
  type ResumeResult,
  type SaveStateOptions,
  SessionManager,
  type SessionManagerEvents,
  type SessionManagerOptions,
  type SessionPage,
  type TouchHandleOptions,
} from './manager';
export { type Clock, type Logger, SESSION_DEFAULTS } from './options';
// A random secret every instance sharing the store agrees on (a `requestState` HMAC key).
export { SHARED_SECRET_BYTES, type SharedSecretOptions, sharedSecret } from './secrets';
// Records as applications read them, and the store they pass in.
export type { AgentStateEntry, SessionRecord, SessionStatus, SessionStore } from './store';
// What the modern leg of the dual-era handler learns store failures by.
export { observeStoreFailures } from './store-failures';
// Store specs (`sqlite:./sessions.db`, `redis://…`): one string naming a store, parsed.
export { parseStoreSpec, STORE_SPEC_FORMS, type StoreSpec } from './store-spec';
// Durable tasks (MCP's Tasks extension): the runtime over a store's tasks facet, and what it reads.
export type { TaskRecord, TaskStatus, TaskStore } from './task-store';
export {
  type CreateTaskOptions,
  DEFAULT_TASK_LEASE_MS,
  DEFAULT_TASK_TTL_MS,
  type ListTasksOptions,
  type SweepResult as TaskSweepResult,
  TaskManager,
  type TaskManagerEvents,
  type TaskManagerOptions,
  type TaskPage,
} from './tasks';
