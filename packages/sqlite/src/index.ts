export {
  DEFAULT_BUS_POLL_INTERVAL_MS,
  DEFAULT_BUS_RETENTION_MS,
  SqliteSessionBus,
  type SqliteSessionBusOptions,
} from './bus';
export { type SqliteDatabaseLike, SqliteOpenError, type SqliteStatementLike } from './connection';
export { DEFAULT_PREFIX, SCHEMA_VERSION } from './sql';
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  DEFAULT_CACHE_SIZE_MIB,
  SqliteSessionStore,
  type SqliteSessionStoreOptions,
} from './store';
