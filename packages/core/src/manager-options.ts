/**
 * `SessionManager`'s options: what each means, and the checks and defaults that turn them into
 * the policy and settings the manager runs with. Bad values fail here, at construction.
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from './errors';
import { generateSessionId } from './ids';
import type { LifecyclePolicy } from './lifecycle';
import { type LoggerLike, resolveLogger } from './logger';
import {
  assertKnownOptions,
  type Clock,
  DEFAULT_CLEANUP_BATCH_SIZE,
  DEFAULT_CLEANUP_INTERVAL_MS,
  DEFAULT_GRACE_PERIOD_MS,
  DEFAULT_HEARTBEAT_BATCH_SIZE,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_RECOVERY_ATTEMPTS,
  DEFAULT_STALE_AFTER_HEARTBEATS,
  DEFAULT_TOMBSTONE_MS,
  type Logger,
  nonNegativeInteger,
  nonNegativeNumber,
  positiveInteger,
  positiveNumber,
  positiveOrInfinite,
  silentLogger,
  systemClock,
  timerDelay,
} from './options';
import type { SessionStore } from './store';

export interface SessionManagerOptions {
  store: SessionStore;
  /** How long a disconnected session may be recovered. Default 10 minutes. */
  gracePeriodMs?: number;
  /** One timer touches every session this instance holds, this often. Default 30 s. */
  heartbeatIntervalMs?: number;
  /** Default 3. */
  maxRecoveryAttempts?: number;
  /** Sweep of expired sessions and state, jittered ±20%. Default 5 minutes; 0 turns it off. */
  cleanupIntervalMs?: number;
  /** An active session without heartbeat this long is treated as disconnected. Default 3 heartbeats. */
  staleAfterMs?: number;
  /** How long expired and closed records stay as tombstones. Default 1 hour. */
  tombstoneMs?: number;
  /**
   * A session no request has used for this long expires through the lifecycle (404 everywhere,
   * its state and events deleted, the tombstone deleted later). Counted from its last use on the
   * instance that used it last; a session with a request in flight or an open stream is in use.
   * Nothing is written per request: the deadline rides on the write that lets the session go
   * (`handOff`, the idle release). Default 24 hours; `Infinity` keeps unused sessions forever.
   */
  idleTimeoutMs?: number;
  heartbeatBatchSize?: number;
  cleanupBatchSize?: number;
  /** Start the heartbeat and cleanup timers. Default true; tests drive `tick()` by hand instead. */
  timers?: boolean;
  /** Time source for every deadline. Default `Date.now`; tests move a fake one instead of sleeping. */
  clock?: Clock;
  /**
   * Lifecycle events at `info`, lost sessions at `warn`, background failures at `error` (when
   * there is no `error` listener). Default: warnings and errors on stderr. `false` silences it;
   * a background failure with no listener then becomes a process warning, so it is never lost.
   * Console-style and pino/bunyan-style loggers both fit.
   */
  logger?: LoggerLike | false;
  /** Names this process in records (`ownerId`) and logs. Default `hostname:pid:random`. */
  instanceId?: string;
}

/** The options checked, with every default filled in. */
export interface ResolvedManagerOptions {
  store: SessionStore;
  policy: LifecyclePolicy;
  heartbeatIntervalMs: number;
  cleanupIntervalMs: number;
  heartbeatBatchSize: number;
  cleanupBatchSize: number;
  clock: Clock;
  logger: Logger;
  /** The caller turned logging off (`logger: false`). */
  silenced: boolean;
  instanceId: string;
}

/** Checks every option (`InvalidArgumentError` naming it) and fills in the defaults. */
export function resolveManagerOptions(options: SessionManagerOptions): ResolvedManagerOptions {
  assertKnownOptions(options, MANAGER_OPTIONS, 'SessionManager');
  if (!isStore(options.store)) throw new InvalidArgumentError('store', 'must be a SessionStore');
  const heartbeatIntervalMs = timerDelay(
    'heartbeatIntervalMs',
    options.heartbeatIntervalMs,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
  );
  const policy: LifecyclePolicy = {
    gracePeriodMs: positiveNumber('gracePeriodMs', options.gracePeriodMs, DEFAULT_GRACE_PERIOD_MS),
    maxRecoveryAttempts: nonNegativeInteger(
      'maxRecoveryAttempts',
      options.maxRecoveryAttempts,
      DEFAULT_MAX_RECOVERY_ATTEMPTS,
    ),
    staleAfterMs: positiveNumber(
      'staleAfterMs',
      options.staleAfterMs,
      heartbeatIntervalMs * DEFAULT_STALE_AFTER_HEARTBEATS,
    ),
    tombstoneMs: nonNegativeNumber('tombstoneMs', options.tombstoneMs, DEFAULT_TOMBSTONE_MS),
    idleTimeoutMs: positiveOrInfinite('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS),
  };
  // A session must survive at least one late tick, or a healthy owner would look crashed.
  if (policy.staleAfterMs <= heartbeatIntervalMs) {
    throw new InvalidArgumentError('staleAfterMs', 'must be longer than heartbeatIntervalMs');
  }
  const logger = resolveLogger(options.logger);
  return {
    store: options.store,
    policy,
    heartbeatIntervalMs,
    cleanupIntervalMs:
      options.cleanupIntervalMs === 0
        ? 0
        : timerDelay('cleanupIntervalMs', options.cleanupIntervalMs, DEFAULT_CLEANUP_INTERVAL_MS),
    heartbeatBatchSize: positiveInteger(
      'heartbeatBatchSize',
      options.heartbeatBatchSize,
      DEFAULT_HEARTBEAT_BATCH_SIZE,
    ),
    cleanupBatchSize: positiveInteger(
      'cleanupBatchSize',
      options.cleanupBatchSize,
      DEFAULT_CLEANUP_BATCH_SIZE,
    ),
    clock: options.clock ?? systemClock,
    logger,
    silenced: logger === silentLogger || options.logger === false,
    instanceId: options.instanceId ?? `${hostname()}:${process.pid}:${generateSessionId().slice(0, 6)}`,
  };
}

// --- Internal helpers ---

/** Every option's name (the type makes the list exhaustive). */
const MANAGER_OPTIONS = Object.keys({
  store: true,
  gracePeriodMs: true,
  heartbeatIntervalMs: true,
  maxRecoveryAttempts: true,
  cleanupIntervalMs: true,
  staleAfterMs: true,
  tombstoneMs: true,
  idleTimeoutMs: true,
  heartbeatBatchSize: true,
  cleanupBatchSize: true,
  timers: true,
  clock: true,
  logger: true,
  instanceId: true,
} satisfies Record<keyof SessionManagerOptions, true>);

function isStore(value: unknown): value is SessionStore {
  const store = value as Partial<SessionStore> | null | undefined;
  return typeof store?.insert === 'function' && typeof store.touch === 'function';
}
