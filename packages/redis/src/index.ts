export {
  type RedisBusOptions,
  type RedisBusTarget,
  RedisSessionBus,
  type RedisSessionBusOptions,
} from './bus';

import {
  type AgentStateEntry,
  InvalidArgumentError,
  InvalidValueError,
  type JsonObject,
  type LoggerLike,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
  StoreError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  assertKnownOptions,
  type ClaimDueQuery,
  compareListOrder,
  compareNames,
  decodeJson,
  type EventEntry,
  encodeJson,
  isSessionStatus,
  jsonByteLength,
  type ListAfter,
  type ListQuery,
  type Logger,
  nonNegativeNumber,
  positiveNumber,
  type ReadEventsQuery,
  resolveLogger,
  SESSION_STATUSES,
  type SessionIdentity,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { type AnyRedisClient, Connection, evalScript, type Script } from './connection';
import { decodeName, encodeName, type KeySpace, keySpace } from './keys';
import * as lua from './scripts';

export type { AnyRedisClient, RedisClientLike, RedisClusterLike, RedisSentinelLike } from './connection';

export const DEFAULT_PREFIX = 'mcps:';
export const DEFAULT_SHARDS = 16;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Native expiry of a state entry is its `expiresAt` plus this, so a caller's clock a little behind the server's never loses an entry. */
export const DEFAULT_NATIVE_EXPIRY_MARGIN_MS = 5 * 60 * 1000;

/** Where the data lives: exactly one of these. */
export type RedisTarget =
  /** A `redis://` or `rediss://` URL: the store creates, connects and closes its own client. */
  | { url: string; clusterUrls?: never; client?: never }
  /** Root nodes of a Redis Cluster: the store creates, connects and closes its own cluster client. */
  | { clusterUrls: readonly string[]; url?: never; client?: never }
  /**
   * Your `createClient()`, `createCluster()` or `createSentinel()` client. The store connects it
   * if it is not open, and `close()` leaves it connected. Give it an `'error'` listener: a client
   * without one crashes the process on a connection error (Node's EventEmitter rule).
   */
  | { client: AnyRedisClient; url?: never; clusterUrls?: never };

export interface RedisStoreOptions {
  /** Start of every key name. No `{` or `}` (the store builds the hash tags). Default `mcps:`. */
  prefix?: string;
  /**
   * How many shards the indexes are split into (see the README). Fixed for the life of the data:
   * changing it hides existing sessions. Default 16.
   */
  shards?: number;
  /** Bound on (re)connecting before a call fails with `StoreUnavailableError`. Default 5 s. */
  connectTimeoutMs?: number;
  /** Bound on every command; a call never waits longer per round trip. Default 5 s. */
  commandTimeoutMs?: number;
  /**
   * Declared in `capabilities.durable`. Set it when the server runs `appendonly yes` with
   * `appendfsync always` (an acknowledged write is on disk). Default false: the store cannot
   * check this itself (managed Redis often hides CONFIG).
   */
  durable?: boolean;
  /** Redis drops an expiring state entry natively this long after its `expiresAt`. Default 5 min. */
  nativeExpiryMarginMs?: number;
  /**
   * Receives client connection errors (warn). Default: warnings and errors on stderr
   * (`resolveLogger`); `false` silences it.
   */
  logger?: LoggerLike | false;
}

/** Every key `RedisSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'url',
  'clusterUrls',
  'client',
  'prefix',
  'shards',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'durable',
  'nativeExpiryMarginMs',
  'logger',
];

export type RedisSessionStoreOptions = RedisTarget & RedisStoreOptions;

/** Events read per round trip by `readEvents`. */
const READ_EVENTS_CHUNK = 500;
/** Expired state entries deleted per script call by `purgeExpiredState`. */
const PURGE_BATCH = 1_000;
/** `claimDue` re-peeks this many times when other sweepers took some of its candidates. */
const CLAIM_ROUNDS = 3;
/** Ids one `list` script looks at, at most, in one shard (a bound on the script's run time). */
const LIST_SCAN = 1_000;
/** The key layout this code writes, recorded under `<prefix>layout`; older layouts are migrated. */
const LAYOUT = 2;
/** Records one migration script moves. */
const MIGRATE_BATCH = 500;

/**
 * Sessions in Redis or Redis Cluster. Every multi-key step is one Lua script over the keys of one
 * shard, so it is atomic for every client; indexes are sharded so the store runs on a cluster.
 *
 * @example
 * ```ts
 * const store = new RedisSessionStore({ url: 'redis://127.0.0.1:6379', durable: true });
 * const manager = new SessionManager({ store });
 * ```
 */
export class RedisSessionStore implements SessionStore {
  readonly name = 'redis';
  readonly capabilities: StoreCapabilities;
  private readonly connection: Connection;
  private readonly keys: KeySpace;
  private readonly nativeExpiryMarginMs: number;
  private readonly layoutKey: string;
  private readonly shards: number;
  private readonly logger: Logger;
  /** The first call's check that the data under this prefix was written with the same `shards`. */
  private layoutChecked: Promise<void> | undefined;

  constructor(options: RedisSessionStoreOptions) {
    assertKnownOptions(options, OPTION_KEYS, 'RedisSessionStore');
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (/[{}]/.test(prefix)) throw new InvalidArgumentError('prefix', 'must not contain { or }');
    const shards = options.shards ?? DEFAULT_SHARDS;
    if (!Number.isInteger(shards) || shards < 1 || shards > 16_384) {
      throw new InvalidArgumentError('shards', 'must be an integer from 1 to 16384');
    }
    const targets = [options.url, options.clusterUrls, options.client].filter((t) => t !== undefined);
    if (targets.length !== 1 || options.clusterUrls?.length === 0) {
      throw new InvalidArgumentError('options', 'give exactly one of url, clusterUrls (not empty), client');
    }
    if (options.url !== undefined) assertRedisUrl('url', options.url);
    for (const url of options.clusterUrls ?? []) assertRedisUrl('clusterUrls', url);
    this.keys = keySpace(prefix, shards);
    this.shards = shards;
    this.layoutKey = `${prefix}layout`;
    this.nativeExpiryMarginMs = nonNegativeNumber(
      'nativeExpiryMarginMs',
      options.nativeExpiryMarginMs,
      DEFAULT_NATIVE_EXPIRY_MARGIN_MS,
    );
    this.capabilities = { atomic: true, durable: options.durable ?? false, crossProcess: true };
    this.logger = resolveLogger(options.logger);
    this.connection = new Connection({
      url: options.url,
      clusterUrls: options.clusterUrls,
      client: options.client,
      connectTimeoutMs: positiveNumber(
        'connectTimeoutMs',
        options.connectTimeoutMs,
        DEFAULT_CONNECT_TIMEOUT_MS,
      ),
      commandTimeoutMs: positiveNumber(
        'commandTimeoutMs',
        options.commandTimeoutMs,
        DEFAULT_COMMAND_TIMEOUT_MS,
      ),
      logger: this.logger,
    });
  }

  // --- Session records ---

  async insert(record: SessionRecord): Promise<void> {
    const identity = encodeJson(identityOf(record), 1);
    const k = this.keys;
    const shard = k.shardOf(record.id);
    const inserted = await this.run(
      lua.INSERT,
      [k.record(record.id), k.due(shard), k.created(shard)],
      [record.id, identity, String(finite('createdAt', record.createdAt)), ...livenessArgs(record)],
    );
    if (inserted !== 1) throw new SessionExistsError(record.id);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const key = this.keys.record(id);
    return parseRecord(array(await this.command(key, ['HMGET', key, 'j', ...lua.LIVENESS_FIELDS])), 0);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const written = await this.run(
      lua.COMPARE_AND_SET,
      [this.keys.record(id), this.keys.due(this.keys.shardOf(id))],
      [id, String(expectedVersion), ...livenessArgs(next)],
    );
    return written === 1;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const replies = await Promise.all(
      [...this.byShard(ids)].map(([shard, group]) =>
        this.run(
          lua.TOUCH,
          [this.keys.due(shard), ...group.map((id) => this.keys.record(id))],
          [String(patch.now), String(patch.dueAt), ...group],
        ),
      ),
    );
    const missed = new Set(replies.flatMap((r) => array(r).map(text)));
    return missed.size === 0 ? [...ids] : ids.filter((id) => !missed.has(id));
  }

  async delete(id: string): Promise<boolean> {
    const k = this.keys;
    const shard = k.shardOf(id);
    const existed = await this.run(
      lua.DELETE,
      [
        k.record(id),
        k.due(shard),
        k.created(shard),
        k.stateIndex(id),
        k.stateExpiry(shard),
        k.events(id),
        k.eventBytes(id),
      ],
      [id, k.stateEntryPrefix(id), k.stateExpiryPrefix(id)],
    );
    return existed === 1;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = SESSION_STATUSES.filter((s) => query.statuses.includes(s));
    const limit = query.limit;
    if (limit <= 0 || statuses.length === 0) return [];
    // Each shard's created index is a stream in list order, read from its own cursor by a script
    // that keeps the wanted statuses and returns whole records. Each stream first gives a small
    // quota; only a stream whose unread part could still reach the top `limit` is asked again
    // (distributed top-k: usually one round).
    const streams = this.keys.allShards.map((shard) => ({
      shard,
      cursor: query.after as ListAfter | undefined,
      rows: [] as SessionRecord[],
      exhausted: false,
    }));
    const quota = Math.min(limit, Math.ceil((2 * limit) / streams.length) + 4);
    let wanted = streams;
    let top: SessionRecord[] = [];
    while (wanted.length > 0) {
      await Promise.all(
        wanted.map(async (s) => {
          const reply = array(
            await this.run(
              lua.LIST_PAGE,
              [this.keys.created(s.shard)],
              [
                String(quota),
                String(LIST_SCAN),
                s.cursor ? String(s.cursor.createdAt) : '',
                s.cursor?.id ?? '',
                this.keys.tag(s.shard),
                ...statuses,
              ],
            ),
          );
          s.exhausted = integer(reply[0]) === 1;
          const lastId = optionalText(reply[2]);
          if (lastId !== undefined) s.cursor = { createdAt: num(text(reply[1])), id: lastId };
          for (let at = 3; at < reply.length; at += lua.RECORD_WIDTH) {
            const record = parseRecord(reply, at);
            if (record) s.rows.push(record);
          }
        }),
      );
      top = streams
        .flatMap((s) => s.rows)
        .sort(compareListOrder)
        .slice(0, limit);
      const last = top[top.length - 1];
      // A stream's unread ids all come after its cursor: it matters only if that is before `last`.
      wanted = streams.filter(
        (s) =>
          !s.exhausted && (top.length < limit || !last || !s.cursor || compareListOrder(s.cursor, last) < 0),
      );
    }
    return top;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    const leasedDue = String(query.now + query.leaseMs);
    const claimed = new Map<string, { record: SessionRecord; due: number }>();
    for (let round = 0; round < CLAIM_ROUNDS && claimed.size < query.limit; round++) {
      const want = query.limit - claimed.size;
      const peeks = await Promise.all(
        this.keys.allShards.map((shard) =>
          this.run(lua.PEEK_DUE, [this.keys.due(shard)], [String(query.now), String(want)]),
        ),
      );
      const candidates = peeks
        .flatMap((r) => pairs(r).map(([id, due]) => ({ id, due: Number(due) })))
        .filter((c) => !claimed.has(c.id))
        .sort((a, b) => a.due - b.due || compareNames(a.id, b.id))
        .slice(0, want);
      if (candidates.length === 0) break;
      const dueOf = new Map(candidates.map((c) => [c.id, c.due]));
      const replies = await Promise.all(
        [...this.byShard(candidates.map((c) => c.id))].map(([shard, group]) =>
          this.run(
            lua.CLAIM,
            [this.keys.due(shard), ...group.map((id) => this.keys.record(id))],
            [String(query.now), leasedDue, ...group],
          ),
        ),
      );
      let won = 0;
      for (const reply of replies) {
        const fields = array(reply);
        for (let i = 0; i < fields.length; i += lua.RECORD_WIDTH) {
          const record = parseRecord(fields, i);
          if (!record) continue;
          claimed.set(record.id, { record, due: dueOf.get(record.id) ?? query.now });
          won++;
        }
      }
      // Every candidate won: either the limit is reached or nothing else is due.
      if (won === candidates.length) break;
    }
    return [...claimed.values()]
      .sort((a, b) => a.due - b.due || compareNames(a.record.id, b.record.id))
      .map((c) => c.record);
  }

  async purgeSessionData(id: string): Promise<void> {
    const k = this.keys;
    await this.run(
      lua.PURGE_SESSION_DATA,
      [k.stateIndex(id), k.stateExpiry(k.shardOf(id)), k.events(id), k.eventBytes(id)],
      [k.stateEntryPrefix(id), k.stateExpiryPrefix(id)],
    );
  }

  // --- Agent state ---

  async setState(entry: AgentStateEntry): Promise<void> {
    const value = `${entry.updatedAt}|${entry.expiresAt ?? ''}|${encodeJson(entry.value)}`;
    const k = this.keys;
    const written = await this.run(
      lua.SET_STATE,
      [
        k.record(entry.sessionId),
        k.stateEntry(entry),
        k.stateIndex(entry.sessionId),
        k.stateExpiry(k.shardOf(entry.sessionId)),
      ],
      [
        k.stateMember(entry),
        k.stateExpiryPrefix(entry.sessionId) + k.stateMember(entry),
        value,
        entry.expiresAt === null ? '' : String(entry.expiresAt),
        entry.expiresAt === null ? '' : String(entry.expiresAt + this.nativeExpiryMarginMs),
      ],
    );
    if (written !== 1) throw new SessionNotFoundError(entry.sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const entryKey = this.keys.stateEntry(key);
    const stored = optionalText(await this.connection.command(entryKey, ['GET', entryKey]));
    if (stored === undefined) return undefined;
    const entry = parseStateValue(key.sessionId, key.agentId, key.key, stored);
    return isFresh(entry, now) ? entry : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    const k = this.keys;
    const deleted = await this.run(
      lua.DELETE_STATE,
      [k.stateEntry(key), k.stateIndex(key.sessionId), k.stateExpiry(k.shardOf(key.sessionId))],
      [k.stateMember(key), k.stateExpiryPrefix(key.sessionId) + k.stateMember(key)],
    );
    return deleted === 1;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    const reply = await this.run(
      lua.LIST_STATE,
      [this.keys.stateIndex(sessionId)],
      [this.keys.stateEntryPrefix(sessionId)],
    );
    const entries: AgentStateEntry[] = [];
    for (const [member, stored] of pairs(reply)) {
      const [a, k] = this.keys.parseStateMember(member);
      if (agentId !== undefined && a !== agentId) continue;
      const entry = parseStateValue(sessionId, a, k, stored);
      if (isFresh(entry, now)) entries.push(entry);
    }
    return entries.sort((x, y) => compareNames(x.agentId, y.agentId) || compareNames(x.key, y.key));
  }

  async purgeExpiredState(now: number): Promise<number> {
    const perShard = await Promise.all(
      this.keys.allShards.map(async (shard) => {
        let deleted = 0;
        for (;;) {
          const reply = array(
            await this.run(
              lua.PURGE_EXPIRED_STATE,
              [this.keys.stateExpiry(shard)],
              [String(now), String(PURGE_BATCH), this.keys.tag(shard)],
            ),
          );
          deleted += integer(reply[0]);
          if (integer(reply[1]) < PURGE_BATCH) return deleted;
        }
      }),
    );
    return perShard.reduce((a, b) => a + b, 0);
  }

  // --- Event log ---

  async appendEvent(event: AppendEvent): Promise<number> {
    const message = encodeJson(event.message);
    const seq = await this.run(
      lua.APPEND_EVENT,
      [
        this.keys.record(event.sessionId),
        this.keys.events(event.sessionId),
        this.keys.eventBytes(event.sessionId),
      ],
      [String(event.createdAt), encodeName(event.streamId), message, String(jsonByteLength(message))],
    );
    if (typeof seq !== 'number' || seq <= 0) throw new SessionNotFoundError(event.sessionId);
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const key = this.keys.events(query.sessionId);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const chunk = query.streamId === undefined && limit < READ_EVENTS_CHUNK ? limit : READ_EVENTS_CHUNK;
    const out: EventEntry[] = [];
    let after = query.afterSeq;
    while (out.length < limit) {
      const members = array(
        await this.connection.command(key, [
          'ZRANGE',
          key,
          `(${after}`,
          '+inf',
          'BYSCORE',
          'LIMIT',
          '0',
          String(chunk),
        ]),
      ).map(text);
      for (const member of members) {
        const event = parseEvent(query.sessionId, member);
        after = event.seq;
        if (query.streamId !== undefined && event.streamId !== query.streamId) continue;
        out.push(event);
        if (out.length >= limit) break;
      }
      if (members.length < chunk) break;
    }
    return out;
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    const key = this.keys.events(sessionId);
    const [member] = array(
      await this.connection.command(key, ['ZRANGE', key, String(seq), String(seq), 'BYSCORE']),
    );
    return member === undefined ? undefined : parseEvent(sessionId, text(member)).streamId;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    const { maxEvents, createdBefore, maxBytes } = query;
    if (maxEvents === undefined && createdBefore === undefined && maxBytes === undefined) return 0;
    const removed = await this.run(
      lua.TRIM_EVENTS,
      [this.keys.events(query.sessionId), this.keys.eventBytes(query.sessionId)],
      [
        maxEvents === undefined ? '' : String(Math.max(0, maxEvents)),
        createdBefore === undefined ? '' : String(createdBefore),
        maxBytes === undefined ? '' : String(maxBytes),
      ],
    );
    return integer(removed);
  }

  /** Closes the client the store created; a client passed in stays connected. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  // --- Internal helpers ---

  private async run(script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    await this.layoutReady();
    return evalScript(this.connection, script, keys, args);
  }

  /** A plain command on data whose layout matters (records). */
  private async command(key: string, args: string[]): Promise<unknown> {
    await this.layoutReady();
    return this.connection.command(key, args);
  }

  private layoutReady(): Promise<void> {
    if (!this.layoutChecked) {
      this.layoutChecked = this.checkLayout();
      // A failed check (server down) is tried again by the next call.
      this.layoutChecked.catch(() => {
        this.layoutChecked = undefined;
      });
    }
    return this.layoutChecked;
  }

  /**
   * Records how the prefix's data is laid out (`shards`, layout version), or checks it: a store
   * opened with another `shards` would look for every session in the wrong shard and find
   * nothing, silently. Data of layout 1 is migrated here, before the first call runs.
   */
  private async checkLayout(): Promise<void> {
    const layout = `shards=${this.shards} layout=${LAYOUT}`;
    const found = optionalText(
      await this.connection.command(this.layoutKey, ['SET', this.layoutKey, layout, 'NX', 'GET']),
    );
    if (found === undefined || found === layout) return;
    const prefix = JSON.stringify(this.layoutKey.slice(0, -'layout'.length));
    const parsed = /^shards=(\d+)(?: layout=(\d+))?$/.exec(found);
    if (!parsed) {
      throw new StoreError(`${this.layoutKey} holds ${JSON.stringify(found)}, not a layout this store knows`);
    }
    if (Number(parsed[1]) !== this.shards) {
      throw new StoreError(
        `data under ${prefix} was written with shards=${parsed[1]}, ` +
          `but this store is configured with shards=${this.shards}: give it the same shards option`,
      );
    }
    const version = Number(parsed[2] ?? 1);
    if (version > LAYOUT) {
      throw new StoreError(
        `data under ${prefix} has layout ${version}, newer than this @mcp-sessions/redis knows (${LAYOUT}): upgrade the package`,
      );
    }
    await this.migrateLayout1();
    await this.connection.command(this.layoutKey, ['SET', this.layoutKey, layout]);
  }

  /** Layout 1 → 2 on every shard, batch by batch (see `MIGRATE_LAYOUT_1`). */
  private async migrateLayout1(): Promise<void> {
    const started = Date.now();
    const moved = await Promise.all(
      this.keys.allShards.map(async (shard) => {
        const keys = [this.keys.due(shard), ...SESSION_STATUSES.map((s) => this.keys.layout1Index(shard, s))];
        let total = 0;
        for (;;) {
          const n = integer(
            await evalScript(
              this.connection,
              lua.MIGRATE_LAYOUT_1,
              [this.keys.created(shard), ...keys],
              [String(MIGRATE_BATCH), this.keys.tag(shard)],
            ),
          );
          total += n;
          if (n < MIGRATE_BATCH) return total;
        }
      }),
    );
    this.logger.info('redis session store migrated to layout 2', {
      prefix: this.layoutKey.slice(0, -'layout'.length),
      records: moved.reduce((a, b) => a + b, 0),
      ms: Date.now() - started,
    });
  }

  /** Ids grouped by shard, input order kept within each group. */
  private byShard(ids: readonly string[]): Map<number, string[]> {
    const groups = new Map<number, string[]>();
    for (const id of ids) {
      const shard = this.keys.shardOf(id);
      const group = groups.get(shard);
      if (group) group.push(id);
      else groups.set(shard, [id]);
    }
    return groups;
  }
}

/** A URL the client can use: otherwise a typo fails later as a retryable-looking network error. */
function assertRedisUrl(option: string, value: unknown): void {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    // Not the value itself: it may hold a password.
    throw new InvalidArgumentError(option, 'is not a URL (redis://host:6379)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidArgumentError(
      option,
      `has scheme ${JSON.stringify(url.protocol)}; expected redis:// or rediss://`,
    );
  }
  // The client reads the path as the database number.
  if (!/^\/?\d*$/.test(url.pathname)) {
    throw new InvalidArgumentError(option, 'has a path that is not a database number (redis://host:6379/0)');
  }
}

function identityOf(record: SessionIdentity): SessionIdentity {
  return {
    id: record.id,
    principal: record.principal,
    createdAt: record.createdAt,
    workingDirectory: record.workingDirectory,
    metadata: record.metadata,
    initializeParams: record.initializeParams,
  };
}

/** The liveness fields' values in `LIVENESS_FIELDS` order, taken by name (a caller may pass more). */
function livenessArgs(l: SessionLiveness): string[] {
  if (!isSessionStatus(l.status))
    throw new InvalidArgumentError('status', `unknown status ${String(l.status)}`);
  return [
    l.status,
    String(finite('version', l.version)),
    l.ownerId === null ? 'null' : JSON.stringify(String(l.ownerId)),
    String(finite('lastHeartbeatAt', l.lastHeartbeatAt)),
    nullable('disconnectedAt', l.disconnectedAt),
    nullable('graceExpiresAt', l.graceExpiresAt),
    String(finite('recoveryAttempts', l.recoveryAttempts)),
    nullable('recoveredAt', l.recoveredAt),
    nullable('endedAt', l.endedAt),
    String(finite('dueAt', l.dueAt)),
  ];
}

/** A number that the scripts and a reader can take back (JSON's rule: finite). */
function finite(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidValueError(field, `${String(value)} is not a finite number`);
  }
  return value;
}

function nullable(field: string, value: number | null): string {
  return value === null ? '' : String(finite(field, value));
}

/** The record whose reply values (`j`, then `LIVENESS_FIELDS`) start at `at`, or undefined when absent. */
function parseRecord(fields: unknown[], at: number): SessionRecord | undefined {
  const json = optionalText(fields[at]);
  if (json === undefined) return undefined;
  const doc = decodeJson(json);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('record is not an object');
  const [status, version, owner, hb, dc, g, ra, rc, e, due] = lua.LIVENESS_FIELDS.map((_, i) =>
    text(fields[at + 1 + i]),
  ) as [string, string, string, string, string, string, string, string, string, string];
  if (!isSessionStatus(status)) throw corrupt(`unknown status ${status}`);
  const ownerId: unknown = decodeJson(owner);
  if (ownerId !== null && typeof ownerId !== 'string') throw corrupt('ownerId');
  return {
    id: str(doc, 'id'),
    principal: strOrNull(doc, 'principal'),
    createdAt: num(doc.createdAt),
    workingDirectory: strOrNull(doc, 'workingDirectory'),
    metadata: objOrNull(doc.metadata),
    initializeParams: objOrNull(doc.initializeParams),
    status,
    version: num(version),
    ownerId,
    lastHeartbeatAt: num(hb),
    disconnectedAt: numOrEmpty(dc),
    graceExpiresAt: numOrEmpty(g),
    recoveryAttempts: num(ra),
    recoveredAt: numOrEmpty(rc),
    endedAt: numOrEmpty(e),
    dueAt: num(due),
  };
}

function parseStateValue(sessionId: string, agentId: string, key: string, stored: string): AgentStateEntry {
  const first = stored.indexOf('|');
  const second = stored.indexOf('|', first + 1);
  if (first < 0 || second < 0) throw corrupt('state entry');
  const expires = stored.slice(first + 1, second);
  return {
    sessionId,
    agentId,
    key,
    value: decodeJson(stored.slice(second + 1)),
    updatedAt: num(stored.slice(0, first)),
    expiresAt: expires === '' ? null : num(expires),
  };
}

/** `seq:createdAt:base64url(streamId):json` */
function parseEvent(sessionId: string, member: string): EventEntry {
  const a = member.indexOf(':');
  const b = member.indexOf(':', a + 1);
  const c = member.indexOf(':', b + 1);
  if (a < 0 || b < 0 || c < 0) throw corrupt('event');
  return {
    sessionId,
    seq: num(member.slice(0, a)),
    createdAt: num(member.slice(a + 1, b)),
    streamId: decodeName(member.slice(b + 1, c)),
    message: decodeJson(member.slice(c + 1)),
  };
}

function isFresh(entry: AgentStateEntry, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}

// Replies are parsed at the boundary: a user's client may map strings to Buffers (typeMapping).

function array(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw corrupt('expected an array reply');
  return reply;
}

function optionalText(reply: unknown): string | undefined {
  if (reply === null || reply === undefined || reply === false) return undefined;
  return text(reply);
}

function text(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'number') return String(reply);
  throw corrupt('expected a string reply');
}

function integer(reply: unknown): number {
  return num(typeof reply === 'number' ? reply : text(reply));
}

function pairs(reply: unknown): Array<[string, string]> {
  const items = array(reply);
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push([text(items[i]), text(items[i + 1])]);
  return out;
}

function num(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw corrupt(`expected a number, got ${String(value)}`);
  return n;
}

function numOrEmpty(value: string): number | null {
  return value === '' ? null : num(value);
}

function str(doc: { [key: string]: unknown }, field: string): string {
  const value = doc[field];
  if (typeof value !== 'string') throw corrupt(`${field} is not a string`);
  return value;
}

function strOrNull(doc: { [key: string]: unknown }, field: string): string | null {
  return doc[field] === null || doc[field] === undefined ? null : str(doc, field);
}

function objOrNull(value: unknown): JsonObject | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw corrupt('expected an object');
  return value as JsonObject;
}

function corrupt(what: string): StoreError {
  return new StoreError(`unexpected data in redis: ${what}`);
}
