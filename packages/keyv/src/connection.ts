import { SessionNotFoundError, StoreError, StoreUnavailableError } from '@mcp-sessions/core';
import {
  decodeJson,
  isNetworkError,
  isSessionStatus,
  type SessionLiveness,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import type { Keyv } from 'keyv';
import type { BucketIndex, KvIo } from './buckets';
import type { KeySpace } from './keys';
import { KeyedMutex } from './mutex';

/** Keys per getMany / setMany / deleteMany round trip. */
export const CHUNK = 200;

/** One store operation: the first backend error Keyv reported while one of its calls was running. */
export interface Op {
  error: unknown;
  calls: number;
}

export interface Manifest {
  /** Last event seq handed out; never goes back (survives trims and purges). */
  seq: number;
  /** Lowest event seq that may still be stored. */
  lo: number;
  /** The stored events' message bytes, for `maxBytes`. */
  bytes: number;
  /** Agent-state keys of the session, in no order. */
  slots: Array<[agentId: string, key: string]>;
}

export interface KeyvContextOptions {
  keyv: Keyv;
  keys: KeySpace;
  index: BucketIndex;
  /** The tasks' indexes: an instance of their own, so task writes never queue behind heartbeats'. */
  taskIndex: BucketIndex;
  /** Per Keyv call; 0 waits forever. */
  timeoutMs: number;
  /** Whether `keyv.getMany` reports backend errors (Keyv's fallback for adapters without it does not). */
  batchedReads: boolean;
  /** Give agent-state entries with an expiry a Keyv TTL (lifetime + `ttlSlackMs`). */
  nativeTtl: boolean;
  ttlSlackMs: number;
  /** The store's layout check (see `KeyvSessionStore`), run before the first operation. */
  ready: (op: Op) => Promise<void>;
}

/**
 * What the facets share: the Keyv with its error listener, every key name, the bucket indexes,
 * the per-session and per-task locks, and the operations still running (for `close`). Each operation runs
 * through `run`, and each of its Keyv calls through the I/O helpers here, so a backend error
 * fails the operation that was waiting on it.
 */
export class KeyvContext {
  readonly keys: KeySpace;
  readonly index: BucketIndex;
  readonly taskIndex: BucketIndex;
  readonly sessions = new KeyedMutex();
  /** Per task id, apart from the sessions' locks so the two id spaces never meet. */
  readonly tasks = new KeyedMutex();
  readonly nativeTtl: boolean;
  readonly ttlSlackMs: number;
  private readonly keyv: Keyv;
  private readonly timeoutMs: number;
  /** Whether `keyv.getMany` reports backend errors (Keyv's fallback for adapters without it does not). */
  private readonly batchedReads: boolean;
  private readonly ready: (op: Op) => Promise<void>;
  private readonly calling = new Set<Op>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;
  private readonly onError = (error: unknown) => {
    for (const op of this.calling) op.error ??= error ?? new Error('keyv reported an error');
  };

  constructor(options: KeyvContextOptions) {
    this.keyv = options.keyv;
    this.keys = options.keys;
    this.index = options.index;
    this.taskIndex = options.taskIndex;
    this.timeoutMs = options.timeoutMs;
    this.batchedReads = options.batchedReads;
    this.nativeTtl = options.nativeTtl;
    this.ttlSlackMs = options.ttlSlackMs;
    this.ready = options.ready;
    this.keyv.on('error', this.onError);
  }

  /** Runs one store operation, mapping backend errors to `StoreUnavailableError` / `StoreError`. */
  run<T>(what: string, work: (op: Op) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('keyv session store is closed'));
    const op: Op = { error: undefined, calls: 0 };
    const task = this.ready(op)
      .then(() => work(op))
      .then(
        (result) => {
          if (op.error !== undefined) throw toStoreError(op.error, `keyv ${what} failed`, isUnavailable);
          return result;
        },
        (error: unknown) => {
          throw toStoreError(op.error ?? error, `keyv ${what} failed`, isUnavailable);
        },
      );
    this.running.add(task);
    const forget = () => this.running.delete(task);
    task.then(forget, forget);
    return task;
  }

  io(op: Op): KvIo {
    return {
      getMany: (keys) => this.getMany(op, keys),
      setMany: (entries) => this.setMany(op, entries),
      deleteMany: (keys) => this.deleteMany(op, keys),
    };
  }

  async getOne(op: Op, key: string): Promise<string | undefined> {
    const value: unknown = await this.call(op, () => this.keyv.get(key));
    return asText(key, value);
  }

  async getMany(op: Op, keys: readonly string[]): Promise<Array<string | undefined>> {
    if (keys.length === 1) return [await this.getOne(op, keys[0]!)];
    const out: Array<string | undefined> = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      const values: unknown = await this.call(op, () =>
        this.batchedReads ? this.keyv.getMany(chunk) : Promise.all(chunk.map((k) => this.keyv.get(k))),
      );
      if (!Array.isArray(values) || values.length !== chunk.length) {
        throw new StoreError('keyv getMany returned a malformed result');
      }
      chunk.forEach((k, j) => {
        out.push(asText(k, values[j]));
      });
    }
    return out;
  }

  async setOne(op: Op, key: string, value: string, ttl = 0): Promise<void> {
    // ttl 0: no expiry, whatever default TTL the Keyv was created with.
    const ok: unknown = await this.call(op, () => this.keyv.set(key, value, ttl));
    if (ok === false) throw new StoreError(`keyv set of ${key} returned false`);
  }

  async setMany(op: Op, entries: ReadonlyArray<{ key: string; value: string }>): Promise<void> {
    if (entries.length === 1) return this.setOne(op, entries[0]!.key, entries[0]!.value);
    for (let i = 0; i < entries.length; i += CHUNK) {
      const chunk = entries.slice(i, i + CHUNK).map((e) => ({ key: e.key, value: e.value, ttl: 0 }));
      const results: unknown = await this.call(op, () => this.keyv.setMany(chunk));
      // Adapters with a native setMany return nothing; Keyv's fallback returns one boolean per entry.
      if (Array.isArray(results) && results.includes(false)) {
        throw new StoreError('keyv setMany reported a failed write');
      }
    }
  }

  async deleteOne(op: Op, key: string): Promise<boolean> {
    const existed: unknown = await this.call(op, () => this.keyv.delete(key));
    return existed === true;
  }

  async deleteMany(op: Op, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      await this.call(op, () => this.keyv.deleteMany(chunk));
    }
  }

  /** The manifest of a live session (`endedAt` null), for the writes that refuse any other. */
  async liveManifest(op: Op, sessionId: string): Promise<Manifest> {
    const [liveness, manifest] = await this.getMany(op, [
      this.keys.liveness(sessionId),
      this.keys.manifest(sessionId),
    ]);
    if (liveness === undefined || parseLiveness(sessionId, liveness).endedAt !== null) {
      throw new SessionNotFoundError(sessionId);
    }
    return parseManifest(sessionId, manifest);
  }

  /** Waits for running operations and detaches from the Keyv, which stays open: it is the caller's. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
    this.keyv.off('error', this.onError);
    this.index.reset();
    this.taskIndex.reset();
  }

  // --- Internal helpers ---

  /**
   * One Keyv call on behalf of `op`. An error event during the call fails it (even when the
   * adapter swallowed the error and returned a value), and so does a call that outlasts
   * `operationTimeoutMs` (its write may still land later, as with any driver timeout).
   */
  private async call<T>(op: Op, fn: () => Promise<T>): Promise<T> {
    if (op.error !== undefined) throw op.error;
    op.calls++;
    this.calling.add(op);
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.timeoutMs === 0) return await fn();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new StoreUnavailableError(`keyv call timed out after ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
      const pending = fn();
      pending.catch(() => undefined); // a late rejection after the timeout is not unhandled
      return await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
      if (--op.calls === 0) this.calling.delete(op);
      // biome-ignore lint/correctness/noUnsafeFinally: the backend's error must win over the value
      if (op.error !== undefined) throw op.error;
    }
  }
}

export function range(from: number, to: number): number[] {
  return to < from ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function asText(key: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new StoreError(`unexpected non-text value at ${key}`);
  return value;
}

/** JSON text of an object `valid` accepts; anything else is a corrupt value, reported as such. */
export function parse(
  what: string,
  text: string,
  valid: (v: Record<string, unknown>) => boolean,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = decodeJson(text);
  } catch (cause) {
    throw new StoreError(`corrupt ${what}`, { cause });
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    valid(value as Record<string, unknown>)
  ) {
    return value as Record<string, unknown>;
  }
  throw new StoreError(`corrupt ${what}`);
}

export function isNumber(...values: unknown[]): boolean {
  return values.every((v) => typeof v === 'number');
}

export function parseLiveness(id: string, text: string): SessionLiveness {
  const r = parse(
    `liveness of session ${JSON.stringify(id)}`,
    text,
    (r) =>
      isSessionStatus(r.status) && isNumber(r.version, r.lastHeartbeatAt, r.dueAt) && r.endedAt !== undefined,
  );
  return r as unknown as SessionLiveness;
}

export function parseManifest(sessionId: string, text: string | undefined): Manifest {
  if (text === undefined) return { seq: 0, lo: 1, slots: [], bytes: 0 };
  const m = parse(`manifest of ${sessionId}`, text, (m) => isNumber(m.q, m.l, m.b) && Array.isArray(m.s));
  return { seq: m.q as number, lo: m.l as number, slots: m.s as Manifest['slots'], bytes: m.b as number };
}

export function encodeManifest(m: Manifest): string {
  return JSON.stringify({ q: m.seq, l: m.lo, s: m.slots, b: m.bytes });
}

/** Backend codes for "unreachable right now", on top of Node's socket errors. */
const UNAVAILABLE_CODES = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  '57P01', // Postgres admin_shutdown
  '57P02',
  '57P03',
  '53300', // too_many_connections
]);
const UNAVAILABLE_NAMES = new Set([
  'ConnectionTimeoutError',
  'SocketClosedUnexpectedlyError',
  'ClientClosedError',
  'ClientOfflineError',
  'ReconnectStrategyError',
  'SocketTimeoutError',
  'TimeoutError',
]);
const UNAVAILABLE_MESSAGE =
  /not connected|failed to connect|connection (?:terminated|timeout|refused|closed)|timed out|client is closed|offline|socket closed|econnrefused|econnreset|database is locked/i;

/** Unreachable, refused, lost or timed out: worth retrying later. Looks through causes and aggregates. */
function isUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 4 || error === null || error === undefined) return false;
  if (depth === 0 && isNetworkError(error)) return true;
  if (typeof error === 'string') return UNAVAILABLE_MESSAGE.test(error);
  if (typeof error !== 'object') return false;
  const e = error as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('08'))) return true;
  if (typeof e.name === 'string' && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isUnavailable(x, depth + 1))) return true;
  return isUnavailable(e.cause, depth + 1);
}
