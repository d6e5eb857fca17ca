export { DEFAULT_PREFIX, SCHEMA_VERSION } from './sql';
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  SqliteOpenError,
  SqliteSessionStore,
  type SqliteSessionStoreOptions,
} from './store';
