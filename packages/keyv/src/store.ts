import { createHash } from 'node:crypto';
import {
  type AgentStateEntry,
  InvalidArgumentError,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  assertKnownOptions,
  type ClaimDueQuery,
  compareNames,
  decodeJson,
  type EventEntry,
  encodeJson,
  isNetworkError,
  isSessionStatus,
  jsonByteLength,
  type ListQuery,
  livenessOf,
  nonNegativeNumber,
  positiveNumber,
  type ReadEventsQuery,
  type SessionIdentity,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import type { Keyv } from 'keyv';
import { BucketIndex, type IndexChange, type IndexKind, type KvIo, timeOf } from './buckets';
import { KeyedMutex } from './mutex';

/** Every key this store writes starts with this (inside the Keyv's own namespace). */
export const DEFAULT_KEY_PREFIX = 'mcp-sessions';
/** Width of the time buckets of the due, creation and expiry indexes. */
export const DEFAULT_BUCKET_MS = 60_000;
/** Values each index bucket is split into. */
export const DEFAULT_INDEX_SHARDS = 16;
/** Keys longer than this are replaced by a hash: @keyv/postgres keys are VARCHAR(255). */
export const DEFAULT_MAX_KEY_LENGTH = 200;
/** A Keyv call that takes longer fails its operation with `StoreUnavailableError`. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
/** Native TTL of an agent-state entry: its lifetime plus this, so the backend never drops it early. */
export const DEFAULT_NATIVE_TTL_SLACK_MS = 60_000;

/** Keys per getMany / setMany / deleteMany round trip. */
const CHUNK = 200;
/** Expiry-index entries handled per round of `purgeExpiredState`. */
const PURGE_BATCH = 500;
/** Version of the key layout, kept at `<prefix>:layout` with the index geometry. */
const LAYOUT = 2;

export interface KeyvSessionStoreOptions {
  /** Prefix of every key the store writes. Default `mcp-sessions`. One store instance per prefix. */
  prefix?: string;
  /**
   * Whether an acknowledged write survives a crash: true only if the Keyv backend is durable as
   * you run it (@keyv/sqlite on a file, @keyv/postgres, Redis with AOF). Default false, since the
   * bridge cannot see how the backend is configured; a Keyv over a `Map` can never claim it.
   */
  durable?: boolean;
  /** Default 60 s. Smaller buckets: smaller index values, more of them to read for a sweep. Fixed per prefix. */
  bucketMs?: number;
  /** Default 16. Fixed per prefix. */
  indexShards?: number;
  /** Default 200. Longer keys (long session ids, agent ids, state keys) are hashed. */
  maxKeyLength?: number;
  /** Per Keyv call. Default 10 s; 0 waits forever. Configure the backend client's own timeouts as well. */
  operationTimeoutMs?: number;
  /** Give agent-state entries with an expiry a Keyv TTL (lifetime + `nativeTtlSlackMs`). Default true. */
  nativeTtl?: boolean;
  /** Default 60 s. */
  nativeTtlSlackMs?: number;
  /** Default `keyv`. */
  name?: string;
}

/** Every key `KeyvSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'prefix',
  'durable',
  'bucketMs',
  'indexShards',
  'maxKeyLength',
  'operationTimeoutMs',
  'nativeTtl',
  'nativeTtlSlackMs',
  'name',
];

/** One store operation: the first backend error Keyv reported while one of its calls was running. */
interface Op {
  error: unknown;
  calls: number;
}

interface Manifest {
  /** Last event seq handed out; never goes back (survives trims and purges). */
  seq: number;
  /** Lowest event seq that may still be stored. */
  lo: number;
  /** The stored events' message bytes, for `maxBytes`. */
  bytes: number;
  /** Agent-state keys of the session, in no order. */
  slots: Array<[agentId: string, key: string]>;
}

interface StoredState {
  a: string;
  k: string;
  u: number;
  e: number | null;
  /** The value as `encodeJson` text. */
  v: string;
}

interface StoredEvent {
  s: string;
  c: number;
  /** The message as `encodeJson` text. */
  m: string;
}

interface LivenessWrite {
  id: string;
  prev: SessionLiveness;
  next: SessionLiveness;
}

/**
 * A `SessionStore` over any Keyv instance (@keyv/sqlite, @keyv/redis, @keyv/postgres, a Map...).
 * A record is two values: its identity, written once by `insert`, and its small liveness, all
 * that compare-and-set and heartbeats rewrite. Keyv has no compare-and-set and no secondary
 * index, so this store serialises every read-modify-write per session id inside this process and
 * keeps its due, creation and state-expiry indexes as Keyv entries of its own (time buckets: a
 * sweep reads only the buckets up to `now`). Correct for ONE process: `atomic` and
 * `crossProcess` are false.
 *
 * The Keyv must be created with `throwOnErrors: true` (and `emitErrors` left on): otherwise Keyv
 * turns a failing backend into `undefined`. Errors adapters only emit (as @keyv/redis does) fail
 * the operation that was waiting on the backend.
 *
 * @example
 * ```ts
 * import KeyvSqlite from '@keyv/sqlite';
 * import Keyv from 'keyv';
 * const keyv = new Keyv(new KeyvSqlite('sqlite://sessions.db'), { throwOnErrors: true });
 * const store = new KeyvSessionStore(keyv, { durable: true });
 * const manager = new SessionManager({ store });
 * ```
 */
export class KeyvSessionStore implements SessionStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  private readonly keyv: Keyv;
  private readonly prefix: string;
  private readonly maxKeyLength: number;
  private readonly timeoutMs: number;
  private readonly nativeTtl: boolean;
  private readonly ttlSlackMs: number;
  /** Whether `keyv.getMany` reports backend errors (Keyv's fallback for adapters without it does not). */
  private readonly batchedReads: boolean;
  private readonly sessions = new KeyedMutex();
  private readonly index: BucketIndex;
  private readonly calling = new Set<Op>();
  private readonly running = new Set<Promise<unknown>>();
  /** The layout check of the first operation, shared by the others (cleared when it fails). */
  private layoutChecked: Promise<void> | undefined;
  private closed = false;
  private readonly onError = (error: unknown) => {
    for (const op of this.calling) op.error ??= error ?? new Error('keyv reported an error');
  };

  constructor(keyv: Keyv, options: KeyvSessionStoreOptions = {}) {
    assertKnownOptions(options, OPTION_KEYS, 'KeyvSessionStore');
    const refuse = (name: string, why: string): never => {
      throw new InvalidArgumentError(name, why);
    };
    // Structural: another copy of keyv in the app is still a Keyv.
    if (typeof (keyv as Partial<Keyv> | null)?.getMany !== 'function') {
      refuse('keyv', 'must be a Keyv instance (new Keyv(adapter, { throwOnErrors: true }))');
    }
    if (keyv.throwOnErrors !== true) {
      refuse(
        'keyv',
        'create it with { throwOnErrors: true }, or Keyv reports a failing backend as undefined',
      );
    }
    if (keyv.opts.emitErrors === false)
      refuse('keyv', 'emitErrors must stay on: some adapters only emit failures');
    const inMemory = keyv.store instanceof Map;
    if (options.durable && inMemory) refuse('durable', 'a Keyv over a Map is not durable');
    this.keyv = keyv;
    this.name = options.name ?? 'keyv';
    this.capabilities = { atomic: false, durable: options.durable ?? false, crossProcess: false };
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    if (this.prefix.length === 0) refuse('prefix', 'must not be empty');
    this.maxKeyLength = positiveNumber('maxKeyLength', options.maxKeyLength, DEFAULT_MAX_KEY_LENGTH);
    if (this.maxKeyLength < this.prefix.length + 48)
      refuse('maxKeyLength', 'must leave room for the prefix and a hash');
    const { operationTimeoutMs: timeout, nativeTtlSlackMs: slack } = options;
    this.timeoutMs = nonNegativeNumber('operationTimeoutMs', timeout, DEFAULT_OPERATION_TIMEOUT_MS);
    this.nativeTtl = options.nativeTtl ?? true;
    this.ttlSlackMs = nonNegativeNumber('nativeTtlSlackMs', slack, DEFAULT_NATIVE_TTL_SLACK_MS);
    const store: unknown = keyv.store;
    this.batchedReads = inMemory || typeof (store as { getMany?: unknown }).getMany === 'function';
    this.index = new BucketIndex(
      (kind, part) => this.key(INDEX_TAGS[kind], part),
      positiveNumber('bucketMs', options.bucketMs, DEFAULT_BUCKET_MS),
      Math.floor(positiveNumber('indexShards', options.indexShards, DEFAULT_INDEX_SHARDS)),
    );
    keyv.on('error', this.onError);
  }

  // --- Session records ---

  async insert(record: SessionRecord): Promise<void> {
    const identity = encodeJson(identityOf(record), 1);
    const liveness = encodeJson(livenessOf(record));
    const { id } = record;
    return this.run('insert', (op) =>
      this.sessions.with([id], async () => {
        if ((await this.getOne(op, this.livenessKey(id))) !== undefined) throw new SessionExistsError(id);
        // Index entries, then the identity, then the liveness: the record exists once that lands.
        await this.index.apply(this.io(op), [
          { kind: 'created', entry: [id, record.createdAt], add: true },
          { kind: 'due', entry: [id, record.dueAt], add: true },
        ]);
        await this.setOne(op, this.identityKey(id), identity);
        await this.setOne(op, this.livenessKey(id), liveness);
      }),
    );
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    return this.run('get', async (op) => (await this.readRecords(op, [id]))[0]);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const live = livenessOf(next); // the ten fields by name, whatever else a JS caller passed
    encodeJson(live); // refuse what cannot round-trip before taking the lock
    return this.run('compareAndSet', (op) =>
      this.sessions.with([id], async () => {
        const [prev] = await this.readLiveness(op, [id]);
        if (prev?.version !== expectedVersion) return false;
        await this.writeLiveness(op, [{ id, prev, next: live }]);
        return true;
      }),
    );
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    return this.run('touch', (op) =>
      this.sessions.with(unique, async () => {
        const prevs = await this.readLiveness(op, unique);
        const writes: LivenessWrite[] = [];
        unique.forEach((id, i) => {
          const prev = prevs[i];
          if (prev?.status !== 'active') return;
          const next = { ...prev, lastHeartbeatAt: patch.now, dueAt: patch.dueAt, version: prev.version + 1 };
          writes.push({ id, prev, next });
        });
        await this.writeLiveness(op, writes);
        // In input order, a duplicated id as often as given, as the other stores answer.
        const touched = new Set(writes.map((w) => w.id));
        return ids.filter((id) => touched.has(id));
      }),
    );
  }

  async delete(id: string): Promise<boolean> {
    return this.run('delete', (op) =>
      this.sessions.with([id], async () => {
        const manifest = await this.getOne(op, this.manifestKey(id));
        if (manifest !== undefined) {
          await this.dropData(op, id, parseManifest(id, manifest));
          await this.deleteOne(op, this.manifestKey(id));
        }
        const [record] = await this.readRecords(op, [id]);
        if (record === undefined) return false;
        // The liveness first: without it the record is gone, whatever a crash leaves behind.
        await this.deleteOne(op, this.livenessKey(id));
        await this.deleteOne(op, this.identityKey(id));
        await this.index.apply(this.io(op), [
          { kind: 'created', entry: [id, record.createdAt], add: false },
          { kind: 'due', entry: [id, record.dueAt], add: false },
        ]);
        return true;
      }),
    );
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    return this.run('list', async (op) => {
      const page: SessionRecord[] = [];
      if (query.limit <= 0) return page;
      const io = this.io(op);
      const statuses = new Set(query.statuses);
      const { after } = query;
      const start = after ? this.index.bucketOf(after.createdAt) : Number.POSITIVE_INFINITY;
      // Creation never changes, so entries never move: the walk needs no lock against heartbeats.
      for (const bucket of await this.index.bucketsDownFrom(io, 'created', start)) {
        const entries = (await this.index.entries(io, 'created', bucket))
          .map((e) => ({ id: e[0], at: timeOf(e) }))
          .filter(
            (e) =>
              !after ||
              e.at < after.createdAt ||
              (e.at === after.createdAt && compareNames(e.id, after.id) < 0),
          )
          .sort((a, b) => b.at - a.at || compareNames(b.id, a.id));
        let i = 0;
        while (i < entries.length) {
          const chunk = entries.slice(i, i + Math.min(CHUNK, Math.max(query.limit - page.length, 16)));
          i += chunk.length;
          for (const record of await this.readRecords(
            op,
            chunk.map((e) => e.id),
          )) {
            // No record: a leftover entry of an insert or delete a crash cut short.
            if (record === undefined || !statuses.has(record.status)) continue;
            page.push(record);
            if (page.length >= query.limit) return page;
          }
        }
      }
      return page;
    });
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return this.run('claimDue', async (op) => {
      const io = this.io(op);
      const claimed: SessionRecord[] = [];
      const taken = new Set<string>();
      while (claimed.length < query.limit) {
        const need = query.limit - claimed.length;
        const found: Array<{ id: string; at: number }> = [];
        for (const bucket of await this.index.bucketsUpTo(io, 'due', this.index.bucketOf(query.now))) {
          for (const e of await this.index.entries(io, 'due', bucket)) {
            if (timeOf(e) <= query.now && !taken.has(e[0])) found.push({ id: e[0], at: timeOf(e) });
          }
          // Later buckets hold only later times: a full bucket's worth is enough to pick from.
          if (found.length >= need) break;
        }
        if (found.length === 0) break;
        const candidates = found.sort((a, b) => a.at - b.at || compareNames(a.id, b.id)).slice(0, need);
        await this.sessions.with(
          candidates.map((c) => c.id),
          async () => {
            const records = await this.readRecords(
              op,
              candidates.map((c) => c.id),
            );
            const writes: LivenessWrite[] = [];
            const stale: IndexChange[] = [];
            candidates.forEach((c, i) => {
              const prev = records[i];
              // An entry whose time is not the record's is a leftover (or was claimed meanwhile).
              if (prev?.dueAt !== c.at) {
                stale.push({ kind: 'due', entry: [c.id, c.at], add: false });
                return;
              }
              taken.add(c.id);
              const next = {
                ...livenessOf(prev),
                dueAt: query.now + query.leaseMs,
                version: prev.version + 1,
              };
              writes.push({ id: c.id, prev, next });
              claimed.push({ ...prev, ...next });
            });
            await this.writeLiveness(op, writes, stale);
          },
        );
      }
      return claimed;
    });
  }

  async purgeSessionData(id: string): Promise<void> {
    return this.run('purgeSessionData', (op) =>
      this.sessions.with([id], async () => {
        const text = await this.getOne(op, this.manifestKey(id));
        if (text === undefined) return;
        const manifest = parseManifest(id, text);
        await this.dropData(op, id, manifest);
        await this.setOne(
          op,
          this.manifestKey(id),
          encodeManifest({ seq: manifest.seq, lo: manifest.seq + 1, slots: [], bytes: 0 }),
        );
      }),
    );
  }

  // --- Agent state ---

  async setState(entry: AgentStateEntry): Promise<void> {
    const stored: StoredState = {
      a: entry.agentId,
      k: entry.key,
      u: entry.updatedAt,
      e: entry.expiresAt,
      v: encodeJson(entry.value),
    };
    const { sessionId, agentId, key } = entry;
    return this.run('setState', (op) =>
      this.sessions.with([sessionId], async () => {
        const manifest = await this.liveManifest(op, sessionId);
        // Bookkeeping first: a crash between the writes leaves an index entry without a value
        // (harmless), never a value no index knows about.
        if (addSlot(manifest, agentId, key)) {
          await this.setOne(op, this.manifestKey(sessionId), encodeManifest(manifest));
        }
        if (entry.expiresAt !== null) {
          await this.index.apply(this.io(op), [
            { kind: 'expiry', entry: [sessionId, agentId, key, entry.expiresAt], add: true },
          ]);
        }
        await this.setOne(
          op,
          this.stateKey(sessionId, agentId, key),
          JSON.stringify(stored),
          this.ttlFor(entry),
        );
      }),
    );
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    return this.run('getState', async (op) => {
      const stateKey = this.stateKey(key.sessionId, key.agentId, key.key);
      const text = await this.getOne(op, stateKey);
      if (text === undefined) return undefined;
      const stored = parseState(stateKey, text);
      return isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
    });
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    return this.run('deleteState', (op) =>
      this.sessions.with([key.sessionId], async () => {
        const existed = await this.deleteOne(op, this.stateKey(key.sessionId, key.agentId, key.key));
        const text = await this.getOne(op, this.manifestKey(key.sessionId));
        if (text !== undefined) {
          const manifest = parseManifest(key.sessionId, text);
          if (removeSlot(manifest, key.agentId, key.key)) {
            await this.setOne(op, this.manifestKey(key.sessionId), encodeManifest(manifest));
          }
        }
        return existed;
      }),
    );
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    return this.run('listState', async (op) => {
      const text = await this.getOne(op, this.manifestKey(sessionId));
      const keys = parseManifest(sessionId, text)
        .slots.filter(([a]) => agentId === undefined || a === agentId)
        .sort(([a1, k1], [a2, k2]) => compareNames(a1, a2) || compareNames(k1, k2))
        .map(([a, k]) => this.stateKey(sessionId, a, k));
      const texts = await this.getMany(op, keys);
      return texts.flatMap((t, i) => {
        const stored = t === undefined ? undefined : parseState(keys[i]!, t);
        return stored && isFresh(stored, now) ? [toEntry(sessionId, stored)] : [];
      });
    });
  }

  async purgeExpiredState(now: number): Promise<number> {
    return this.run('purgeExpiredState', async (op) => {
      const io = this.io(op);
      let purged = 0;
      for (;;) {
        const due: Array<readonly [sessionId: string, agentId: string, key: string, at: number]> = [];
        for (const bucket of await this.index.bucketsUpTo(io, 'expiry', this.index.bucketOf(now))) {
          for (const e of await this.index.entries(io, 'expiry', bucket)) {
            if (timeOf(e) <= now && e.length === 4) due.push(e as (typeof due)[number]);
          }
          if (due.length >= PURGE_BATCH) break;
        }
        if (due.length === 0) return purged;
        const sessionIds = [...new Set(due.map((d) => d[0]))];
        purged += await this.sessions.with(sessionIds, async () => {
          const stateKeys = due.map(([s, a, k]) => this.stateKey(s, a, k));
          const texts = await this.getMany(op, [
            ...stateKeys,
            ...sessionIds.map((id) => this.manifestKey(id)),
          ]);
          const manifests = new Map(
            sessionIds.map((id, i) => [id, parseManifest(id, texts[stateKeys.length + i])]),
          );
          const changed = new Set<string>();
          const doomed = new Set<string>();
          due.forEach(([sessionId, agentId, key, at], i) => {
            const text = texts[i];
            const stored = text === undefined ? undefined : parseState(stateKeys[i]!, text);
            // Overwritten since with another expiry: this index entry is a leftover, the value stays.
            if (stored && stored.e !== at) return;
            if (stored) doomed.add(stateKeys[i]!);
            if (removeSlot(manifests.get(sessionId)!, agentId, key)) changed.add(sessionId);
          });
          await this.deleteMany(op, [...doomed]);
          await this.setMany(
            op,
            [...changed].map((id) => ({
              key: this.manifestKey(id),
              value: encodeManifest(manifests.get(id)!),
            })),
          );
          await this.index.apply(
            io,
            due.map((entry) => ({ kind: 'expiry', entry, add: false })),
          );
          return doomed.size;
        });
      }
    });
  }

  // --- Event log ---

  async appendEvent(event: AppendEvent): Promise<number> {
    const stored: StoredEvent = { s: event.streamId, c: event.createdAt, m: encodeJson(event.message) };
    const { sessionId } = event;
    return this.run('appendEvent', (op) =>
      this.sessions.with([sessionId], async () => {
        const manifest = await this.liveManifest(op, sessionId);
        manifest.bytes += jsonByteLength(stored.m);
        const seq = ++manifest.seq;
        // The counter is saved before the event: a crash in between leaves a gap, never a reused seq.
        await this.setOne(op, this.manifestKey(sessionId), encodeManifest(manifest));
        await this.setOne(op, this.eventKey(sessionId, seq), JSON.stringify(stored));
        return seq;
      }),
    );
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    return this.run('readEvents', async (op) => {
      const { sessionId, streamId } = query;
      const manifest = parseManifest(sessionId, await this.getOne(op, this.manifestKey(sessionId)));
      const limit = query.limit ?? Number.POSITIVE_INFINITY;
      const out: EventEntry[] = [];
      const from = Math.max(Math.floor(query.afterSeq) + 1, manifest.lo);
      for await (const chunk of this.events(op, sessionId, from, manifest.seq, () => out.length < limit)) {
        for (const { seq, event: e } of chunk) {
          if (e === undefined || (streamId !== undefined && e.s !== streamId)) continue;
          out.push({ sessionId, streamId: e.s, seq, message: decodeJson(e.m), createdAt: e.c });
          if (out.length >= limit) break;
        }
      }
      return out;
    });
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
    return this.run('getEventStream', async (op) => {
      const key = this.eventKey(sessionId, seq);
      const text = await this.getOne(op, key);
      return text === undefined ? undefined : parseEvent(key, text).s;
    });
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    const { sessionId, maxEvents, createdBefore, maxBytes } = query;
    return this.run('trimEvents', (op) =>
      this.sessions.with([sessionId], async () => {
        const text = await this.getOne(op, this.manifestKey(sessionId));
        if (text === undefined) return 0;
        const manifest = parseManifest(sessionId, text);
        const { lo, seq: last } = manifest;
        let cut = lo; // first seq kept by maxEvents and createdBefore
        let before = createdBefore !== undefined;
        for await (const chunk of this.events(op, sessionId, lo, last, () => before)) {
          for (const { seq, event } of chunk) {
            if (event && event.c >= (createdBefore ?? 0)) before = false;
            if (!before) break;
            cut = seq + 1;
          }
        }
        if (maxEvents !== undefined) cut = Math.max(cut, last - Math.max(0, maxEvents) + 1);
        let { bytes } = manifest;
        let next = lo;
        let deleted = 0;
        // Oldest first: below `cut`, then while over the byte budget.
        const trimming = () => next < cut || (maxBytes !== undefined && bytes > maxBytes);
        for await (const chunk of this.events(op, sessionId, lo, last, trimming)) {
          const gone: string[] = [];
          for (const { seq, key, event } of chunk) {
            if (!trimming()) break;
            if (event) {
              bytes -= jsonByteLength(event.m);
              gone.push(key);
            }
            next = seq + 1;
          }
          await this.deleteMany(op, gone);
          deleted += gone.length;
        }
        if (next === lo) return 0;
        await this.setOne(op, this.manifestKey(sessionId), encodeManifest({ ...manifest, lo: next, bytes }));
        return deleted;
      }),
    );
  }

  /** Waits for running operations and detaches from the Keyv, which stays open: it is the caller's. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
    this.keyv.off('error', this.onError);
    this.index.reset();
  }

  // --- Internal helpers ---

  /** Runs one store operation, mapping backend errors to `StoreUnavailableError` / `StoreError`. */
  private run<T>(what: string, work: (op: Op) => Promise<T>): Promise<T> {
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

  /** Checks, once per instance, that the prefix holds this layout and index geometry. */
  private ready(op: Op): Promise<void> {
    this.layoutChecked ??= this.checkLayout(op).catch((error: unknown) => {
      this.layoutChecked = undefined;
      throw error;
    });
    return this.layoutChecked;
  }

  private async checkLayout(op: Op): Promise<void> {
    const key = `${this.prefix}:layout`;
    const want = JSON.stringify({ v: LAYOUT, bucketMs: this.index.bucketMs, shards: this.index.shards });
    const found = await this.getOne(op, key);
    if (found === want) return;
    // Layout 1 (before the record split) had no layout key, and a heartbeat index on every record.
    const layout1 = found === undefined && (await this.getOne(op, this.key('ih', 'dir'))) !== undefined;
    const old = layout1 ? '1 (from before contract v2)' : found;
    if (old !== undefined) {
      throw new StoreError(
        `keyv prefix ${JSON.stringify(this.prefix)} holds layout ${old}, this store writes ${want}: ` +
          'bucketMs and indexShards are fixed per prefix; an older layout needs a new prefix (see the README)',
      );
    }
    await this.setOne(op, key, want);
  }

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

  private io(op: Op): KvIo {
    return {
      getMany: (keys) => this.getMany(op, keys),
      setMany: (entries) => this.setMany(op, entries),
      deleteMany: (keys) => this.deleteMany(op, keys),
    };
  }

  private async getOne(op: Op, key: string): Promise<string | undefined> {
    const value: unknown = await this.call(op, () => this.keyv.get(key));
    return asText(key, value);
  }

  private async getMany(op: Op, keys: readonly string[]): Promise<Array<string | undefined>> {
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

  private async setOne(op: Op, key: string, value: string, ttl = 0): Promise<void> {
    // ttl 0: no expiry, whatever default TTL the Keyv was created with.
    const ok: unknown = await this.call(op, () => this.keyv.set(key, value, ttl));
    if (ok === false) throw new StoreError(`keyv set of ${key} returned false`);
  }

  private async setMany(op: Op, entries: ReadonlyArray<{ key: string; value: string }>): Promise<void> {
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

  private async deleteOne(op: Op, key: string): Promise<boolean> {
    const existed: unknown = await this.call(op, () => this.keyv.delete(key));
    return existed === true;
  }

  private async deleteMany(op: Op, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      await this.call(op, () => this.keyv.deleteMany(chunk));
    }
  }

  /** The liveness of each id (undefined: no record). Its presence is what makes a record exist. */
  private async readLiveness(op: Op, ids: readonly string[]): Promise<Array<SessionLiveness | undefined>> {
    const texts = await this.getMany(
      op,
      ids.map((id) => this.livenessKey(id)),
    );
    return ids.map((id, i) => {
      const text = texts[i];
      return text === undefined ? undefined : parseLiveness(id, text);
    });
  }

  /** Whole records, both parts read in one round trip. */
  private async readRecords(op: Op, ids: readonly string[]): Promise<Array<SessionRecord | undefined>> {
    const texts = await this.getMany(
      op,
      ids.flatMap((id) => [this.livenessKey(id), this.identityKey(id)]),
    );
    return ids.map((id, i) => {
      const [liveness, identity] = [texts[2 * i], texts[2 * i + 1]];
      if (liveness === undefined) return undefined;
      // The identity is written before the liveness and deleted after it.
      if (identity === undefined) throw new StoreError(`session ${JSON.stringify(id)} has no identity`);
      return { ...parseIdentity(id, identity), ...parseLiveness(id, liveness) };
    });
  }

  /**
   * Writes liveness values. A moved `dueAt` gets its new index entry before the write and loses
   * the old one after it, so the due index always holds every record's current position (plus,
   * after a crash, leftovers that `claimDue` recognises and drops).
   */
  private async writeLiveness(op: Op, writes: readonly LivenessWrite[], stale: IndexChange[] = []) {
    const moved = writes.filter((w) => w.prev.dueAt !== w.next.dueAt);
    const io = this.io(op);
    await this.index.apply(
      io,
      moved.map((w) => ({ kind: 'due', entry: [w.id, w.next.dueAt], add: true })),
    );
    await this.setMany(
      op,
      writes.map((w) => ({ key: this.livenessKey(w.id), value: encodeJson(livenessOf(w.next)) })),
    );
    await this.index.apply(io, [
      ...stale,
      ...moved.map((w): IndexChange => ({ kind: 'due', entry: [w.id, w.prev.dueAt], add: false })),
    ]);
  }

  /** The manifest of a live session (`endedAt` null), for the writes that refuse any other. */
  private async liveManifest(op: Op, sessionId: string): Promise<Manifest> {
    const [liveness, manifest] = await this.getMany(op, [
      this.livenessKey(sessionId),
      this.manifestKey(sessionId),
    ]);
    if (liveness === undefined || parseLiveness(sessionId, liveness).endedAt !== null) {
      throw new SessionNotFoundError(sessionId);
    }
    return parseManifest(sessionId, manifest);
  }

  /** Events `from..to` with their keys, one round trip per chunk, while `more()` holds; a trimmed seq or a crash's gap has no event. */
  private async *events(op: Op, sessionId: string, from: number, to: number, more = () => true) {
    for (let seq = from; seq <= to && more(); seq += CHUNK) {
      const seqs = range(seq, Math.min(seq + CHUNK - 1, to));
      const keys = seqs.map((s) => this.eventKey(sessionId, s));
      const texts = await this.getMany(op, keys);
      yield seqs.map((s, i) => {
        const text = texts[i];
        return { seq: s, key: keys[i]!, event: text === undefined ? undefined : parseEvent(keys[i]!, text) };
      });
    }
  }

  /** Deletes a session's agent state and events (the manifest is the caller's to rewrite). */
  private async dropData(op: Op, sessionId: string, manifest: Manifest): Promise<void> {
    await this.deleteMany(op, [
      ...manifest.slots.map(([a, k]) => this.stateKey(sessionId, a, k)),
      ...range(manifest.lo, manifest.seq).map((s) => this.eventKey(sessionId, s)),
    ]);
  }

  private ttlFor(entry: AgentStateEntry): number {
    if (!this.nativeTtl || entry.expiresAt === null) return 0;
    // The lifetime as the caller's clock sees it, started now: right even when that clock is not Date.now().
    return Math.max(0, entry.expiresAt - entry.updatedAt) + this.ttlSlackMs;
  }

  /** `prefix:tag:parts`; hashed when too long for the backend's key column. */
  private key(tag: string, ...parts: string[]): string {
    const key = `${this.prefix}:${tag}:${parts.join(':')}`;
    if (key.length <= this.maxKeyLength) return key;
    return `${this.prefix}:${tag}#${createHash('sha256').update(key).digest('base64url')}`;
  }

  private identityKey(id: string): string {
    return this.key('r', id); // layout 1's whole-record key
  }

  private livenessKey(id: string): string {
    return this.key('v', id);
  }

  private manifestKey(id: string): string {
    return this.key('m', id);
  }

  private stateKey(sessionId: string, agentId: string, key: string): string {
    return this.key('s', sessionId, escapePart(agentId), escapePart(key));
  }

  private eventKey(sessionId: string, seq: number): string {
    return this.key('e', sessionId, String(seq));
  }
}

const INDEX_TAGS: Record<IndexKind, string> = { due: 'id', created: 'ic', expiry: 'ix' };

/** Session ids never hold `:` escapes; agent ids and keys may hold anything, so `%` and `:` are escaped. */
function escapePart(part: string): string {
  return part.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

function range(from: number, to: number): number[] {
  return to < from ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function asText(key: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new StoreError(`unexpected non-text value at ${key}`);
  return value;
}

/** JSON text of an object `valid` accepts; anything else is a corrupt value, reported as such. */
function parse(
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

function isNumber(...values: unknown[]): boolean {
  return values.every((v) => typeof v === 'number');
}

function identityOf(r: SessionIdentity): SessionIdentity {
  const { id, principal, createdAt, workingDirectory, metadata, initializeParams } = r;
  return { id, principal, createdAt, workingDirectory, metadata, initializeParams };
}

function parseIdentity(id: string, text: string): SessionIdentity {
  const r = parse(
    `identity of session ${JSON.stringify(id)}`,
    text,
    (r) => r.id === id && isNumber(r.createdAt),
  );
  return r as unknown as SessionIdentity;
}

function parseLiveness(id: string, text: string): SessionLiveness {
  const r = parse(
    `liveness of session ${JSON.stringify(id)}`,
    text,
    (r) =>
      isSessionStatus(r.status) && isNumber(r.version, r.lastHeartbeatAt, r.dueAt) && r.endedAt !== undefined,
  );
  return r as unknown as SessionLiveness;
}

function parseManifest(sessionId: string, text: string | undefined): Manifest {
  if (text === undefined) return { seq: 0, lo: 1, slots: [], bytes: 0 };
  const m = parse(`manifest of ${sessionId}`, text, (m) => isNumber(m.q, m.l, m.b) && Array.isArray(m.s));
  return { seq: m.q as number, lo: m.l as number, slots: m.s as Manifest['slots'], bytes: m.b as number };
}

function encodeManifest(m: Manifest): string {
  return JSON.stringify({ q: m.seq, l: m.lo, s: m.slots, b: m.bytes });
}

function parseState(key: string, text: string): StoredState {
  const valid = (s: Record<string, unknown>) =>
    [s.a, s.k, s.v].every((v) => typeof v === 'string') && isNumber(s.u) && (s.e === null || isNumber(s.e));
  return parse(`agent state at ${key}`, text, valid) as unknown as StoredState;
}

function parseEvent(key: string, text: string): StoredEvent {
  const valid = (e: Record<string, unknown>) =>
    typeof e.s === 'string' && typeof e.m === 'string' && isNumber(e.c);
  return parse(`event at ${key}`, text, valid) as unknown as StoredEvent;
}

function toEntry(sessionId: string, s: StoredState): AgentStateEntry {
  return { sessionId, agentId: s.a, key: s.k, value: decodeJson(s.v), updatedAt: s.u, expiresAt: s.e };
}

function isFresh(s: StoredState, now: number): boolean {
  return s.e === null || s.e > now;
}

function addSlot(m: Manifest, agentId: string, key: string): boolean {
  if (m.slots.some(([a, k]) => a === agentId && k === key)) return false;
  m.slots.push([agentId, key]);
  return true;
}

function removeSlot(m: Manifest, agentId: string, key: string): boolean {
  const index = m.slots.findIndex(([a, k]) => a === agentId && k === key);
  if (index >= 0) m.slots.splice(index, 1);
  return index >= 0;
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
