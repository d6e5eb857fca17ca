export { KeyvSessionBus, type KeyvSessionBusOptions } from './bus';
export {
  DEFAULT_BUCKET_MS,
  DEFAULT_INDEX_SHARDS,
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_NATIVE_TTL_SLACK_MS,
  DEFAULT_OPERATION_TIMEOUT_MS,
  KeyvSessionStore,
  type KeyvSessionStoreOptions,
} from './store';
