export {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_PAYLOAD_RETENTION_MS,
  MAX_INLINE_PAYLOAD_BYTES,
  type PostgresBusOptions,
  type PostgresBusTarget,
  PostgresSessionBus,
  type PostgresSessionBusOptions,
} from './bus';
export type { PgPoolClientLike, PgPoolConfig, PgPoolLike, PgResultLike } from './connection';
export {
  DEFAULT_SCHEMA,
  DEFAULT_TABLE_PREFIX,
  migrationSql,
  SCHEMA_VERSION,
  type SchemaOptions,
} from './sql';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_QUERY_TIMEOUT_MS,
  PostgresSessionStore,
  type PostgresSessionStoreOptions,
  type PostgresStoreBaseOptions,
} from './store';
