export {
  DEFAULT_SCHEMA,
  DEFAULT_TABLE_PREFIX,
  migrationSql,
  SCHEMA_VERSION,
  type SchemaOptions,
} from './schema';
export {
  PostgresSessionStore,
  type PostgresSessionStoreOptions,
  type PostgresStoreBaseOptions,
} from './store';
