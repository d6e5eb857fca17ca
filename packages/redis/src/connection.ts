import { createHash } from 'node:crypto';
import {
  InvalidValueError,
  type JsonObject,
  type Logger,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { compareListOrder, isNetworkError, type ListAfter, toStoreError } from '@mcp-sessions/core/adapter';
import { createClient, createCluster } from '@redis/client';
import type { KeySpace } from './keys';

/** What the store needs of a standalone `@redis/client` client (`createClient()`). */
export interface RedisClientLike {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
}

/** What the store needs of a cluster client (`createCluster()`). */
export interface RedisClusterLike {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  getSlotMaster(slot: number): unknown;
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number },
  ): Promise<unknown>;
}

/** What the store needs of a sentinel client (`createSentinel()`). */
export interface RedisSentinelLike {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  getMasterNode(): unknown;
  sendCommand(
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number },
  ): Promise<unknown>;
}

export type AnyRedisClient = RedisClientLike | RedisClusterLike | RedisSentinelLike;

/** Where the data lives (store) or where the bus connects: exactly one of these. */
export type RedisTarget =
  /**
   * A `redis://` or `rediss://` URL: the store creates, connects and closes its own client; the
   * bus opens one connection to publish and one to subscribe.
   */
  | { url: string; clusterUrls?: never; client?: never }
  /**
   * Root nodes of a Redis Cluster: the store creates, connects and closes its own cluster client;
   * the bus uses sharded pub/sub (redis-server ≥ 7).
   */
  | { clusterUrls: readonly string[]; url?: never; client?: never }
  /**
   * Your `createClient()`, `createCluster()` or `createSentinel()` client. The store connects it
   * if it is not open, and `close()` leaves it connected. Give it an `'error'` listener: a client
   * without one crashes the process on a connection error (Node's EventEmitter rule).
   *
   * The bus publishes through it, and subscribes through `client.duplicate()` (a standalone
   * client) or through the cluster's own per-node pub/sub connections. `close()` leaves your
   * client open. Sentinel clients are not supported by the bus (no `duplicate()`): pass `{ url }`
   * of the master instead.
   */
  | { client: AnyRedisClient; url?: never; clusterUrls?: never };

export interface ConnectionOptions {
  url?: string;
  clusterUrls?: readonly string[];
  client?: AnyRedisClient;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  logger: Logger;
}

/** Longest pause between reconnect attempts of a client the store created. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * One way to send a command whatever the client kind: `key` routes it on a cluster. Every call
 * is bounded by the command timeout and every failure comes out as a core error.
 */
export class Connection {
  private readonly send: (key: string | undefined, args: string[]) => Promise<unknown>;
  private readonly client: AnyRedisClient;
  private readonly owned: boolean;
  private readonly options: ConnectionOptions;
  private readonly deadlines: Deadlines;
  private readonly connectWatch = new ConnectWatch();
  private connecting: Promise<unknown> | undefined;
  private connected: boolean;
  private closed = false;
  private closeOwned: ((graceful: boolean) => Promise<void>) | undefined;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.deadlines = new Deadlines(options.commandTimeoutMs);
    const onError = (error: unknown) => {
      options.logger.warn('redis client error', { error });
      this.connectWatch.failed(error);
    };
    const onConnect = () => this.connectWatch.opened();
    // Clients the store creates never queue commands while disconnected: a call during an outage
    // fails at once, and a call given up on can never run later, after the reconnect.
    if (options.client) {
      this.client = options.client;
      this.owned = false;
    } else if (options.clusterUrls) {
      const cluster = createCluster({
        rootNodes: options.clusterUrls.map((url) => ({ url })),
        defaults: { socket: socketOptions(options), disableOfflineQueue: true },
      });
      cluster.on('error', onError);
      cluster.on('connect', onConnect);
      this.client = cluster;
      this.closeOwned = (graceful) => closeQuietly(cluster, graceful, options.commandTimeoutMs);
      this.owned = true;
    } else {
      const client = createClient({
        url: options.url,
        socket: socketOptions(options),
        disableOfflineQueue: true,
      });
      client.on('error', onError);
      client.on('connect', onConnect);
      this.client = client;
      this.closeOwned = (graceful) => closeQuietly(client, graceful, options.commandTimeoutMs);
      this.owned = true;
    }
    this.connected = !this.owned && this.client.isOpen;
    const c = this.client;
    // A client passed in may queue while offline: its own per-command timeout drops a command
    // not yet sent. (Ours need no such timer, which costs more than the rest of a call.)
    const options_ = this.owned ? undefined : { timeout: options.commandTimeoutMs };
    if (isCluster(c)) this.send = (key, args) => c.sendCommand(key, false, args, options_);
    else if (isSentinel(c)) this.send = (_key, args) => c.sendCommand(false, args, options_);
    else this.send = (_key, args) => c.sendCommand(args, options_);
  }

  /** Throws `StoreUnavailableError` once the store is closed: for calls that send nothing. */
  assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('redis store is closed');
  }

  /** Sends one command (routed by `key` on a cluster). Rejects with a core error. */
  async command(key: string | undefined, args: string[]): Promise<unknown> {
    this.assertOpen();
    try {
      if (!this.connected) await this.ready();
      // Bounds every call, also a cluster or sentinel call waiting for slots or a lease.
      return await this.deadlines.bound(this.send(key, args));
    } catch (error) {
      throw wrapError(error, String(args[0]));
    }
  }

  /** Closes the client if the store created it; a client passed in stays connected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deadlines.stop();
    if (this.owned && this.closeOwned) await this.closeOwned(this.connected);
  }

  // --- Internal helpers ---

  /** Connects on first use (also a user's client that is not open yet), bounded by connectTimeoutMs. */
  private async ready(): Promise<void> {
    if (!this.connecting) {
      const connecting = this.client.isOpen ? Promise.resolve() : this.client.connect();
      this.connecting = connecting;
      connecting.then(
        () => {
          this.connected = true;
        },
        () => {
          // A failed connect is retried by the next call instead of failing the store for ever.
          if (this.connecting === connecting) this.connecting = undefined;
        },
      );
    }
    await this.connectWatch.wait(this.connecting, this.options.connectTimeoutMs);
  }
}

export interface RedisContextOptions {
  connection: Connection;
  keys: KeySpace;
  /** Redis drops an expiring state entry natively this long after its `expiresAt`. */
  nativeExpiryMarginMs: number;
  /** The store's layout check (see `RedisSessionStore`), run once before the first call. */
  ready: () => Promise<void>;
}

/**
 * What the facets share: one connection, every key name, and the store's layout check, which each
 * script and each record read waits for. Each facet is constructed with the store's one context.
 */
export class RedisContext {
  readonly connection: Connection;
  readonly keys: KeySpace;
  readonly nativeExpiryMarginMs: number;
  private readonly ready: () => Promise<void>;

  constructor(options: RedisContextOptions) {
    this.connection = options.connection;
    this.keys = options.keys;
    this.nativeExpiryMarginMs = options.nativeExpiryMarginMs;
    this.ready = options.ready;
  }

  async run(script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    await this.ready();
    return evalScript(this.connection, script, keys, args);
  }

  /** A plain command on data whose layout matters (records). */
  async command(key: string, args: string[]): Promise<unknown> {
    await this.ready();
    return this.connection.command(key, args);
  }
}

// Replies are parsed at the boundary: a user's client may map strings to Buffers (typeMapping).

export function array(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw corrupt('expected an array reply');
  return reply;
}

export function optionalText(reply: unknown): string | undefined {
  if (reply === null || reply === undefined || reply === false) return undefined;
  return text(reply);
}

export function text(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'number') return String(reply);
  throw corrupt('expected a string reply');
}

export function integer(reply: unknown): number {
  return num(typeof reply === 'number' ? reply : text(reply));
}

export function pairs(reply: unknown): Array<[string, string]> {
  const items = array(reply);
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < items.length; i += 2) out.push([text(items[i]), text(items[i + 1])]);
  return out;
}

export function num(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw corrupt(`expected a number, got ${String(value)}`);
  return n;
}

/** A number that the scripts and a reader can take back (JSON's rule: finite). */
export function finite(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidValueError(field, `${String(value)} is not a finite number`);
  }
  return value;
}

/** A nullable number as a hash field: null is ''. */
export function nullable(field: string, value: number | null): string {
  return value === null ? '' : String(finite(field, value));
}

export function numOrEmpty(value: string): number | null {
  return value === '' ? null : num(value);
}

/** A string field of a parsed identity document. */
export function str(doc: { [key: string]: unknown }, field: string): string {
  const value = doc[field];
  if (typeof value !== 'string') throw corrupt(`${field} is not a string`);
  return value;
}

export function strOrNull(doc: { [key: string]: unknown }, field: string): string | null {
  return doc[field] === null || doc[field] === undefined ? null : str(doc, field);
}

export function objOrNull(value: unknown): JsonObject | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw corrupt('expected an object');
  return value as JsonObject;
}

/** The cursor a list script's reply ends at (`[exhausted, createdAt, id, ...rows]`), if it read any id. */
export function pageCursor(reply: unknown[]): ListAfter | undefined {
  const id = optionalText(reply[2]);
  return id === undefined ? undefined : { createdAt: num(text(reply[1])), id };
}

/** One shard's page of a list script: its rows, whether the shard has no more, and its new cursor. */
export interface ShardPage<T> {
  rows: T[];
  exhausted: boolean;
  cursor: ListAfter | undefined;
}

/**
 * The top `limit` rows in list order (`compareListOrder`) over every shard, each shard's created
 * index read as a stream from its own cursor by `readPage(shard, cursor, quota)`. Each stream
 * first gives a small quota; only a stream whose unread part could still reach the top `limit`
 * is asked again (distributed top-k: usually one round). `list` and `listTasks` both page so.
 */
export async function topAcrossShards<T extends ListAfter>(
  shards: readonly number[],
  limit: number,
  after: ListAfter | undefined,
  readPage: (shard: number, cursor: ListAfter | undefined, quota: number) => Promise<ShardPage<T>>,
): Promise<T[]> {
  const streams = shards.map((shard) => ({ shard, cursor: after, rows: [] as T[], exhausted: false }));
  const quota = Math.min(limit, Math.ceil((2 * limit) / streams.length) + 4);
  let wanted = streams;
  let top: T[] = [];
  while (wanted.length > 0) {
    await Promise.all(
      wanted.map(async (s) => {
        const page = await readPage(s.shard, s.cursor, quota);
        s.rows.push(...page.rows);
        s.exhausted = page.exhausted;
        s.cursor = page.cursor ?? s.cursor;
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

/** Ids grouped by shard, input order kept within each group: one script per shard. */
export function byShard(keys: KeySpace, ids: readonly string[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const id of ids) {
    const shard = keys.shardOf(id);
    const group = groups.get(shard);
    if (group) group.push(id);
    else groups.set(shard, [id]);
  }
  return groups;
}

export function corrupt(what: string): StoreError {
  return new StoreError(`unexpected data in redis: ${what}`);
}

/** Runs a Lua script by SHA, loading it with EVAL when the server does not know it (NOSCRIPT). */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = sha1(source);
  }
}

export async function evalScript(
  connection: Connection,
  script: Script,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await connection.command(keys[0], ['EVALSHA', script.sha, ...tail]);
  } catch (error) {
    if (!(error instanceof StoreError) || !/^NOSCRIPT/.test(causeMessage(error))) throw error;
    return connection.command(keys[0], ['EVAL', script.source, ...tail]);
  }
}

/**
 * Driver error → core error. Unreachable, lost, timed out, loading, failing over → `StoreUnavailableError`;
 * any other error reply → `StoreError`. The original is the `cause`.
 */
export function wrapError(error: unknown, what: string): Error {
  return toStoreError(error, `redis ${what}`, isUnavailable);
}

// --- Internal helpers ---

/**
 * Why a connect has not finished. A client we created retries for ever (`reconnectStrategy`), so
 * its connect promise alone only ever times out, and a refused port or a wrong password would both
 * read "timed out": a call waiting for the connect fails at the client's first error instead, with
 * that error, and a timeout says whether a socket opened (a server that accepts and never answers).
 */
class ConnectWatch {
  private readonly waiting = new Set<(error: Error) => void>();
  private socketOpened = false;

  /** The client's `connect` event: a socket is open; the handshake may still hang. */
  opened(): void {
    this.socketOpened = true;
  }

  /** The client's `error` event: fails every call waiting for the connect, with it as the cause. */
  failed(error: unknown): void {
    if (this.waiting.size === 0) return;
    const wrapped = wrapError(error, 'connect');
    for (const fail of [...this.waiting]) fail(wrapped);
  }

  /** Resolves when `connecting` does; rejects at the client's next error or after `ms`. */
  wait(connecting: Promise<unknown>, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.waiting.delete(settle);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => {
        const why = this.socketOpened ? ': the server accepted the connection but never answered' : '';
        settle(new StoreUnavailableError(`redis connect timed out after ${ms} ms${why}`));
      }, ms);
      this.waiting.add(settle);
      connecting.then(
        () => settle(),
        (error: unknown) => settle(wrapError(error, 'connect')),
      );
    });
  }
}

/**
 * Command deadlines on one shared, unref'd timer instead of a timer per command: a call is
 * rejected with `StoreUnavailableError` between `ms` and `ms × 1.25` after it started.
 */
class Deadlines {
  private readonly pending = new Set<{ at: number; fail: (error: Error) => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  bound<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = { at: Date.now() + this.ms, fail: reject };
      this.pending.add(entry);
      if (!this.timer) {
        this.timer = setInterval(() => this.expire(), Math.max(10, this.ms / 4));
        this.timer.unref();
      }
      work.then(
        (value) => {
          this.pending.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(entry);
          reject(error);
        },
      );
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    const now = Date.now();
    for (const entry of this.pending) {
      if (entry.at > now) continue;
      this.pending.delete(entry);
      entry.fail(new StoreUnavailableError(`redis command timed out after ${this.ms} ms`));
    }
    if (this.pending.size === 0) this.stop();
  }
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

function isCluster(c: AnyRedisClient): c is RedisClusterLike {
  return typeof (c as Partial<RedisClusterLike>).getSlotMaster === 'function';
}

function isSentinel(c: AnyRedisClient): c is RedisSentinelLike {
  return typeof (c as Partial<RedisSentinelLike>).getMasterNode === 'function';
}

function socketOptions(options: ConnectionOptions) {
  return {
    connectTimeout: options.connectTimeoutMs,
    // Keep trying for ever (the manager must resume once Redis is back) but never wait long.
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS),
  };
}

/** Graceful close (pending replies delivered) when connected; otherwise, or when that stalls, drop the sockets. */
async function closeQuietly(
  client: { isOpen: boolean; close(): Promise<void>; destroy(): unknown },
  graceful: boolean,
  timeoutMs: number,
) {
  try {
    if (!graceful) throw new Error('not connected');
    await withDeadline(client.close(), timeoutMs, 'redis close');
  } catch {
    if (!client.isOpen) return;
    // The server is gone or slow: drop the sockets instead of waiting for it.
    await Promise.resolve(client.destroy()).catch(() => undefined);
  }
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Errors of the client that mean "cannot reach the server now" (matched by name: a user's client may come from another copy of the package). */
const UNAVAILABLE_ERROR_NAMES = new Set([
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'ClientClosedError',
  'ClientOfflineError',
  'DisconnectsClientError',
  'SocketClosedUnexpectedlyError',
  'RootNodesUnavailableError',
  'ReconnectStrategyError',
  'TimeoutError',
  'AbortError',
  'CommandTimeoutDuringMaintenanceError',
  'SocketTimeoutDuringMaintenanceError',
]);

/** Error replies that mean "the server cannot serve now, try later". */
const UNAVAILABLE_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY)\b/;

function isUnavailable(error: unknown): boolean {
  if (isNetworkError(error)) return true;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (UNAVAILABLE_ERROR_NAMES.has(e.constructor.name) || UNAVAILABLE_ERROR_NAMES.has(e.name)) return true;
    if (UNAVAILABLE_REPLY.test(e.message)) return true;
  }
  return false;
}

function causeMessage(error: Error): string {
  return error.cause instanceof Error ? error.cause.message : error.message;
}
