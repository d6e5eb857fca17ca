import { InvalidArgumentError } from './errors';

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
/** A session no request used for this long expires (`idleTimeoutMs`). */
export const DEFAULT_IDLE_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** A held session with no request and no open stream for this long is released from memory (`idleReleaseMs`). */
export const DEFAULT_IDLE_RELEASE_MS = 5 * 60 * 1000;
/** A handle's lifetime when `mintHandle` is given no `ttlMs`. */
export const DEFAULT_HANDLE_TTL_MS = 60 * 60 * 1000;

/** What `SessionManager` uses for an option left out (and `mintHandle`/`touchHandle` for `ttlMs`). */
export const SESSION_DEFAULTS = Object.freeze({
  gracePeriodMs: DEFAULT_GRACE_PERIOD_MS,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  maxRecoveryAttempts: DEFAULT_MAX_RECOVERY_ATTEMPTS,
  cleanupIntervalMs: DEFAULT_CLEANUP_INTERVAL_MS,
  /** `staleAfterMs` defaults to this many heartbeat intervals. */
  staleAfterHeartbeats: DEFAULT_STALE_AFTER_HEARTBEATS,
  tombstoneMs: DEFAULT_TOMBSTONE_MS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  idleReleaseMs: DEFAULT_IDLE_RELEASE_MS,
  heartbeatBatchSize: DEFAULT_HEARTBEAT_BATCH_SIZE,
  cleanupBatchSize: DEFAULT_CLEANUP_BATCH_SIZE,
  handleTtlMs: DEFAULT_HANDLE_TTL_MS,
});

/** For calls made on behalf of a client: the subject it authenticated as. */
export interface PrincipalOptions {
  /** The authenticated subject making the request; must equal the session's. */
  principal?: string | null;
}

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

// --- Option checks (for the manager and for adapters' own options) ---

/** Node turns delays above 2^31-1 ms into 1 ms, so a larger interval would spin, not wait. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** `value ?? fallback`, which must be a finite number > 0; else `InvalidArgumentError` naming the option. */
export function positiveNumber(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(name, 'must be a positive number');
  }
  return v;
}

/** `value ?? fallback`, which must be a finite number >= 0. */
export function nonNegativeNumber(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError(name, 'must be zero or more');
  }
  return v;
}

/** `value ?? fallback`, which must be a safe integer >= 0. */
export function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(name, 'must be an integer >= 0');
  return v;
}

/** `value ?? fallback`, which must be a safe integer > 0. */
export function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(name, 'must be an integer > 0');
  return v;
}

/** `value ?? fallback`, which must be a number > 0 or `Infinity` (never). */
export function positiveOrInfinite(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (v === Number.POSITIVE_INFINITY) return v;
  return positiveNumber(name, v, fallback);
}

/** A positive delay that `setTimeout`/`setInterval` honour. */
export function timerDelay(name: string, value: number | undefined, fallback: number): number {
  const v = positiveNumber(name, value, fallback);
  if (v > MAX_TIMER_DELAY_MS)
    throw new InvalidArgumentError(name, `must be at most ${MAX_TIMER_DELAY_MS} ms`);
  return v;
}

/**
 * Refuses option keys `where` does not know, so a typo (`gracePeriod` for `gracePeriodMs`) fails
 * at construction instead of silently falling back to a default: `InvalidArgumentError` naming
 * the key and the nearest known one. Also refuses an `options` that is not an object.
 *
 * @example
 * ```ts
 * assertKnownOptions(options, ['filename', 'prefix'], 'SqliteSessionStore');
 * // { filenme: 'x' } → invalid filenme: unknown SqliteSessionStore option; did you mean "filename"?
 * ```
 */
export function assertKnownOptions(options: object, allowed: readonly string[], where: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `${where} needs an options object`);
  }
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const nearest = nearestName(key, allowed);
    throw new InvalidArgumentError(
      key,
      `unknown ${where} option${nearest === undefined ? '' : `; did you mean ${JSON.stringify(nearest)}?`}`,
    );
  }
}

/** The allowed name at the smallest edit distance from `name` (case-insensitive), first on ties. */
function nearestName(name: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
