/**
 * `@mcp-sessions/core/adapter`: what store and bus authors need beyond the root entry — the
 * contract's types, the lifecycle's pure functions, the JSON and option checks every adapter
 * applies the same way, logger resolution, error wrapping, name order, and the record builders the
 * conformance suite uses. Errors and `sessionTag` come from `@mcp-sessions/core` itself: no value
 * is exported from both entries, so `instanceof` never meets two copies of a class.
 */

// The bus contract, and the listener bookkeeping every bus shares.
export {
  assertListener,
  type BackendSubscriptions,
  type BusListener,
  type BusListenerEntry,
  BusListeners,
  type BusReach,
  type BusSubscription,
  busClosed,
  InProcessSessionBus,
  type InProcessSessionBusOptions,
  type SessionBus,
} from './bus';
// Backend failures as `StoreError` / `StoreUnavailableError`.
export { isNetworkError, toStoreError } from './driver-errors';
// Ids and names: validation and the one order `list` and `listState` use.
export { assertName, assertSessionId, compareNames, isValidSessionId } from './ids';

// JSON as every adapter stores it.
export {
  cloneJson,
  decodeJson,
  encodeJson,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  jsonByteLength,
  MAX_JSON_DEPTH,
} from './json';
// The lifecycle, and records as the manager writes them (for adapters' and the suite's fixtures).
export {
  createHandleRecord,
  createOnceRecord,
  createRecord,
  createSecretRecord,
  expiryCause,
  type HandleInput,
  heartbeatPatch,
  type InitializeInput,
  idleDeadline,
  idleSince,
  type LifecycleEvent,
  type LifecyclePolicy,
  NEVER_DUE_AT,
  RECORD_KIND_KEY,
  type RecordKind,
  recordKind,
  type TransitionResult,
  transition,
} from './lifecycle';
// Line loggers for adapters' own processes (the CLI, workers).
export { createLineLogger, formatLogLine, type LoggerLike, resolveLogger, stderrLogger } from './logger';
// Option checks, with the same errors the manager gives.
export {
  assertKnownOptions,
  type Clock,
  type Logger,
  MAX_AGENT_KEY_LENGTH,
  MAX_SESSION_ID_LENGTH,
  MAX_TIMER_DELAY_MS,
  nonNegativeInteger,
  nonNegativeNumber,
  positiveInteger,
  positiveNumber,
  timerDelay,
} from './options';
// The store contract.
export type {
  AgentStateEntry,
  AgentStateKey,
  AppendEvent,
  ClaimDueQuery,
  EventEntry,
  ListAfter,
  ListQuery,
  ReadEventsQuery,
  SessionIdentity,
  SessionLiveness,
  SessionRecord,
  SessionStatus,
  SessionStore,
  StoreCapabilities,
  TouchPatch,
  TrimEventsQuery,
} from './store';
export {
  compareListOrder,
  isSessionStatus,
  LIVE_STATUSES,
  livenessOf,
  livenessValues,
  SESSION_STATUSES,
} from './store';
// The tasks facet (MCP's Tasks extension): its contract and its pure lifecycle.
export {
  type CreateTaskInput,
  createTask,
  isTerminalTask,
  leaseDeadline,
  type TaskEvent,
  type TaskPolicy,
  type TaskRefusal,
  type TaskTransition,
  transitionTask,
  WORKER_LOST_ERROR,
} from './task-lifecycle';
export {
  type ClaimLapsedQuery,
  hasTasks,
  isTaskStatus,
  TASK_STATUSES,
  type TaskIdentity,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  type TaskStatus,
  type TaskStore,
  taskStateOf,
} from './task-store';
