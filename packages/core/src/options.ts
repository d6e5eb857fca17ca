/** Defaults of `SessionManager`, named for what they mean. The seed's values where it had one. */
export const DEFAULT_GRACE_PERIOD_MS = 10 * 60 * 1000;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30 * 1000;
export const DEFAULT_MAX_RECOVERY_ATTEMPTS = 3;
export const DEFAULT_CLEANUP_INTERVAL_MS = 5 * 60 * 1000;
/** An active session is stale after this many missed heartbeats. */
export const DEFAULT_STALE_AFTER_HEARTBEATS = 3;
export const DEFAULT_TOMBSTONE_MS = 60 * 60 * 1000;
/** Ids per `touch` round trip. */
export const DEFAULT_HEARTBEAT_BATCH_SIZE = 1000;
/** Records per `claimDue` round trip. */
export const DEFAULT_CLEANUP_BATCH_SIZE = 500;
/** A sweeper that crashes mid-batch leaves its claimed records to others after this long. */
export const DEFAULT_SWEEP_LEASE_MS = 60 * 1000;
/** Compare-and-set retries against concurrent writers before `ConflictError`. */
export const DEFAULT_MAX_CAS_RETRIES = 10;
/** Cleanup runs at interval × (1 ± this), so a fleet's instances do not sweep in lockstep. */
export const CLEANUP_JITTER = 0.2;

/** Session ids are visible ASCII (0x21–0x7E), as the MCP transport spec requires. */
export const MAX_SESSION_ID_LENGTH = 256;
export const MAX_AGENT_KEY_LENGTH = 1024;

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
