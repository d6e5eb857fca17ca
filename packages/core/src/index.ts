/**
 * `@mcp-sessions/core`: what an application uses — the manager and its options, the errors, the
 * record types it reads, the lifecycle's `transition`, ids and loggers, the store and bus contracts
 * it passes in, and the defaults its options fall back to. Adapter authors' helpers live in
 * `@mcp-sessions/core/adapter`; the HTTP layer in `@mcp-sessions/core/http`.
 */

export type { BusListener, BusReach, BusSubscription, SessionBus } from './bus';
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
} from './errors';
// Ids and logging.
export { generateSessionId, sessionTag } from './ids';
export { type JsonObject, type JsonValue, MAX_JSON_DEPTH } from './json';
// The lifecycle as one pure function.
export {
  type LifecycleEvent,
  type LifecyclePolicy,
  type TransitionResult,
  transition,
} from './lifecycle';
export { type LoggerLike, redactUrl, resolveLogger } from './logger';
// The manager and what its methods take and return.
export {
  type CleanupResult,
  type ConsumeOnceOptions,
  type HandleInfo,
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
// Defaults of the manager's options.
export {
  type Clock,
  DEFAULT_CLEANUP_BATCH_SIZE,
  DEFAULT_CLEANUP_INTERVAL_MS,
  DEFAULT_GRACE_PERIOD_MS,
  DEFAULT_HANDLE_TTL_MS,
  DEFAULT_HEARTBEAT_BATCH_SIZE,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_RECOVERY_ATTEMPTS,
  DEFAULT_TOMBSTONE_MS,
  type Logger,
  silentLogger,
} from './options';
// Records as applications read them, and the contracts they pass in.
export type { AgentStateEntry, SessionRecord, SessionStatus, SessionStore } from './store';
