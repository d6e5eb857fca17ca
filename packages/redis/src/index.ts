export {
  type RedisBusOptions,
  type RedisBusTarget,
  RedisSessionBus,
  type RedisSessionBusOptions,
} from './bus';

import {
  type AgentStateEntry,
  InvalidArgumentError,
  type JsonObject,
  type LoggerLike,
  resolveLogger,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  StoreError,
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
  jsonByteLength,
  type ListAfter,
  type ListQuery,
  nonNegativeNumber,
  positiveNumber,
  type ReadEventsQuery,
  SESSION_STATUSES,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { type AnyRedisClient, Connection, evalScript, type Script } from './connection';
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
      logger: resolveLogger(options.logger),
    });
  }

  // --- Session records ---

  async insert(record: SessionRecord): Promise<void> {
    const fields = recordFields(record);
    const inserted = await this.run(lua.INSERT, this.recordKeys(record.id), [record.id, ...fields]);
    if (inserted !== 1) throw new SessionExistsError(record.id);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const shard = this.keys.shardOf(id);
    const reply = await this.run(lua.GET_RECORDS, [...this.shardIndexes(shard), this.keys.record(id)], [id]);
    return parseRecord(array(reply), 0);
  }

  async compareAndSet(next: SessionRecord, expectedVersion: number): Promise<boolean> {
    const fields = recordFields(next);
    const written = await this.run(lua.COMPARE_AND_SET, this.recordKeys(next.id), [
      next.id,
      ...fields,
      String(expectedVersion),
    ]);
    return written === 1;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const replies = await Promise.all(
      [...this.byShard(ids)].map(([shard, group]) =>
        this.run(
          lua.TOUCH,
          [
            this.keys.due(shard),
            this.keys.byHeartbeat(shard, 'active'),
            ...group.map((id) => this.keys.record(id)),
          ],
          [String(patch.now), String(patch.dueAt), ...group],
        ),
      ),
    );
    const missed = new Set(replies.flatMap((r) => array(r).map(text)));
    return missed.size === 0 ? [...ids] : ids.filter((id) => !missed.has(id));
  }

  async delete(id: string): Promise<boolean> {
    const k = this.keys;
    const existed = await this.run(
      lua.DELETE,
      [
        ...this.recordKeys(id),
        k.stateIndex(id),
        k.stateExpiry(k.shardOf(id)),
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
    // One stream per (shard, status) index, each read in (hb desc, id desc) order from its own
    // cursor. Each stream first gives a small quota; a stream whose whole share made the top
    // `limit` may hold more, so only those are asked again (distributed top-k, usually 1 round).
    const streams = this.keys.allShards.flatMap((shard) =>
      statuses.map((status) => ({
        shard,
        key: this.keys.byHeartbeat(shard, status),
        cursor: query.after as ListAfter | undefined,
        rows: [] as ListRow[],
        exhausted: false,
      })),
    );
    const quota = Math.min(limit, Math.ceil((2 * limit) / streams.length) + 4);
    let wanted = streams;
    let top: ListRow[] = [];
    while (wanted.length > 0) {
      const byShard = new Map<number, typeof streams>();
      for (const s of wanted) byShard.set(s.shard, [...(byShard.get(s.shard) ?? []), s]);
      await Promise.all(
        [...byShard.values()].map(async (group) => {
          const args = [String(quota)];
          for (const s of group)
            args.push(s.cursor ? String(s.cursor.lastHeartbeatAt) : '', s.cursor?.id ?? '');
          const reply = array(
            await this.run(
              lua.LIST_PAGE,
              group.map((s) => s.key),
              args,
            ),
          );
          let at = 0;
          for (const s of group) {
            const count = integer(reply[at++]);
            for (let i = 0; i < count; i++, at += 2) {
              const row = { id: text(reply[at]), lastHeartbeatAt: Number(text(reply[at + 1])), stream: s };
              s.rows.push(row);
              s.cursor = row;
            }
            if (count < quota) s.exhausted = true;
          }
        }),
      );
      top = streams
        .flatMap((s) => s.rows)
        .sort(byHeartbeatDesc)
        .slice(0, limit);
      const inTop = new Map<object, number>();
      for (const row of top) inTop.set(row.stream, (inTop.get(row.stream) ?? 0) + 1);
      wanted = streams.filter((s) => !s.exhausted && (top.length < limit || inTop.get(s) === s.rows.length));
    }
    const records = await this.getMany(top.map((r) => r.id));
    const { after } = query;
    // A record written between the two round trips is re-checked against the query.
    return records
      .filter(
        (r): r is SessionRecord =>
          r !== undefined && statuses.includes(r.status) && (!after || byHeartbeatDesc(after, r) < 0),
      )
      .sort(byHeartbeatDesc);
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
            [...this.shardIndexes(shard), ...group.map((id) => this.keys.record(id))],
            [String(query.now), leasedDue, ...group],
          ),
        ),
      );
      let won = 0;
      for (const reply of replies) {
        const fields = array(reply);
        for (let i = 0; i < fields.length; i += RECORD_WIDTH) {
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
    if (!this.layoutChecked) {
      this.layoutChecked = this.checkLayout();
      // A failed check (server down) is tried again by the next call.
      this.layoutChecked.catch(() => {
        this.layoutChecked = undefined;
      });
    }
    await this.layoutChecked;
    return evalScript(this.connection, script, keys, args);
  }

  /**
   * Records where the prefix's data lives (`shards`), or checks it: a store opened with another
   * `shards` would look for every session in the wrong shard and find nothing, silently.
   */
  private async checkLayout(): Promise<void> {
    const layout = `shards=${this.shards}`;
    const found = await this.connection.command(this.layoutKey, ['SET', this.layoutKey, layout, 'NX', 'GET']);
    if (found !== null && found !== undefined && String(found) !== layout) {
      throw new StoreError(
        `data under ${JSON.stringify(this.layoutKey.slice(0, -'layout'.length))} was written with ${String(found)}, ` +
          `but this store is configured with ${layout}: give it the same shards option`,
      );
    }
  }

  /** Records by id, one script call per shard, all shards at once. */
  private async getMany(ids: readonly string[]): Promise<Array<SessionRecord | undefined>> {
    const replies = await Promise.all(
      [...this.byShard(ids)].map(([shard, group]) =>
        this.run(
          lua.GET_RECORDS,
          [...this.shardIndexes(shard), ...group.map((id) => this.keys.record(id))],
          group,
        ),
      ),
    );
    const out: Array<SessionRecord | undefined> = [];
    for (const reply of replies) {
      const fields = array(reply);
      for (let i = 0; i < fields.length; i += RECORD_WIDTH) out.push(parseRecord(fields, i));
    }
    return out;
  }

  /** KEYS of the record scripts: rec, due, and the four status indexes of the record's shard. */
  private recordKeys(id: string): string[] {
    return [this.keys.record(id), ...this.shardIndexes(this.keys.shardOf(id))];
  }

  /** A shard's due index and its four status indexes, in the order the scripts expect. */
  private shardIndexes(shard: number): readonly string[] {
    return this.keys.indexes[shard]!;
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

/** Values per record in script replies: j, v, s, hb, due. */
const RECORD_WIDTH = 5;

interface ListRow {
  id: string;
  lastHeartbeatAt: number;
  stream: object;
}

/**
 * Every key name, in one place. Shard n's keys all carry the hash tag `{<prefix>s<n>}` (one
 * cluster slot); a session's keys use its shard's tag. Ids, agent ids and state keys appear in
 * key names only base64url-encoded, so `{`, `}`, `*`, `?`, `[` in them can neither move a key to
 * another slot nor match another session's keys in a pattern.
 */
function keySpace(prefix: string, shards: number) {
  const tags = Array.from({ length: shards }, (_, n) => `{${prefix}s${n}}:`);
  const shardOf = (id: string) => fnv1a(id) % shards;
  const session = (kind: string, id: string) => `${tags[shardOf(id)]}${kind}:${encodeName(id)}`;
  const stateMember = (k: { agentId: string; key: string }) =>
    `${encodeName(k.agentId)}:${encodeName(k.key)}`;
  return {
    allShards: tags.map((_, n) => n),
    /** Per shard: its due index, then its four status indexes (the order the scripts expect). */
    indexes: tags.map((tag) => [`${tag}due`, ...SESSION_STATUSES.map((s) => `${tag}hb:${s}`)]),
    shardOf,
    /** `{<prefix>s<n>}:`, the start of every key of shard n. */
    tag: (shard: number) => tags[shard]!,
    /** Hash: the record (fields j, v, s, seq); hb and due are index scores. */
    record: (id: string) => session('r', id),
    /** Sorted set: ids of shard n with this status, scored by lastHeartbeatAt. */
    byHeartbeat: (shard: number, status: SessionStatus) => `${tags[shard]}hb:${status}`,
    /** Sorted set: ids of shard n scored by dueAt. */
    due: (shard: number) => `${tags[shard]}due`,
    /** Set: the session's state members (`<agent>:<key>`, encoded). */
    stateIndex: (id: string) => session('sk', id),
    /** String: one state entry, `updatedAt|expiresAt|json`. */
    stateEntry: (k: AgentStateKey) => `${session('st', k.sessionId)}:${stateMember(k)}`,
    stateEntryPrefix: (id: string) => `${session('st', id)}:`,
    /** Sorted set: `<session>:<agent>:<key>` (encoded) of shard n scored by expiresAt. */
    stateExpiry: (shard: number) => `${tags[shard]}sx`,
    stateExpiryPrefix: (id: string) => `${encodeName(id)}:`,
    stateMember,
    parseStateMember: (member: string): [agentId: string, key: string] => {
      const sep = member.indexOf(':');
      return [decodeName(member.slice(0, sep)), decodeName(member.slice(sep + 1))];
    },
    /** Sorted set: the session's events scored by seq, members `seq:createdAt:stream:json`. */
    events: (id: string) => session('ev', id),
    /** String: the byte total of the session's event messages (for `trimEvents` `maxBytes`). */
    eventBytes: (id: string) => session('eb', id),
  };
}

type KeySpace = ReturnType<typeof keySpace>;

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

function encodeName(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

function decodeName(encoded: string): string {
  return Buffer.from(encoded, 'base64url').toString('utf8');
}

/** FNV-1a over UTF-16 code units: a stable, fast shard choice. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function recordFields(record: SessionRecord): string[] {
  if (!SESSION_STATUSES.includes(record.status))
    throw new InvalidArgumentError('status', `unknown status ${record.status}`);
  return [
    encodeJson(record, 1),
    String(record.version),
    record.status,
    String(record.lastHeartbeatAt),
    String(record.dueAt),
  ];
}

/** The record whose reply values (j, v, s, hb, due) start at `at`, or undefined when absent. */
function parseRecord(fields: unknown[], at: number): SessionRecord | undefined {
  const json = optionalText(fields[at]);
  if (json === undefined) return undefined;
  const doc = decodeJson(json);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('record is not an object');
  const status = text(fields[at + 2]);
  if (!SESSION_STATUSES.includes(status as SessionStatus)) throw corrupt(`unknown status ${status}`);
  return {
    id: str(doc, 'id'),
    status: status as SessionStatus,
    version: num(text(fields[at + 1])),
    principal: strOrNull(doc, 'principal'),
    ownerId: strOrNull(doc, 'ownerId'),
    createdAt: num(doc.createdAt),
    lastHeartbeatAt: num(text(fields[at + 3])),
    disconnectedAt: numOrNull(doc.disconnectedAt),
    graceExpiresAt: numOrNull(doc.graceExpiresAt),
    recoveryAttempts: num(doc.recoveryAttempts),
    recoveredAt: numOrNull(doc.recoveredAt),
    endedAt: numOrNull(doc.endedAt),
    dueAt: num(text(fields[at + 4])),
    workingDirectory: strOrNull(doc, 'workingDirectory'),
    metadata: objOrNull(doc.metadata),
    initializeParams: objOrNull(doc.initializeParams),
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

function byHeartbeatDesc(
  a: { lastHeartbeatAt: number; id: string },
  b: { lastHeartbeatAt: number; id: string },
) {
  return b.lastHeartbeatAt - a.lastHeartbeatAt || compareNames(b.id, a.id);
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

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
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
