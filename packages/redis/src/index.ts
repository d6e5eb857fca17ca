export {
  type RedisBusOptions,
  type RedisBusTarget,
  RedisSessionBus,
  type RedisSessionBusOptions,
} from './bus';
export type {
  AnyRedisClient,
  RedisClientLike,
  RedisClusterLike,
  RedisSentinelLike,
  RedisTarget,
} from './connection';
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_NATIVE_EXPIRY_MARGIN_MS,
  DEFAULT_PREFIX,
  DEFAULT_SHARDS,
  RedisSessionStore,
  type RedisSessionStoreOptions,
  type RedisStoreOptions,
} from './store';
