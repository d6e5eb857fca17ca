import { createHash } from 'node:crypto';
import {
  InvalidArgumentError,
  type JsonValue,
  type Logger,
  type LoggerLike,
  type SessionBus,
  StoreUnavailableError,
  sessionTag,
} from '@mcp-sessions/core';
import {
  assertKnownOptions,
  assertListener,
  assertSessionId,
  type BackendSubscriptions,
  type BusListener,
  BusListeners,
  type BusReach,
  type BusSubscription,
  busClosed,
  encodeJson,
  positiveNumber,
  resolveLogger,
  timerDelay,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import pg from 'pg';
import { errorCode, isUnavailable, type PgPoolConfig, type PgPoolLike } from './connection';
import { type SchemaOptions, tableNames } from './sql';

export type PostgresBusTarget =
  | {
      /** `postgresql://...`: the bus opens one dedicated connection. */
      connectionString: string;
      /** Extra settings for that connection (`ssl`, ...). */
      clientConfig?: PgPoolConfig;
      pool?: never;
    }
  | {
      /**
       * Your pool: the bus opens one dedicated `pg.Client` with the pool's connection options
       * (and never ends your pool). Not a pooled client held for good: LISTEN lives on one
       * session for the bus's whole life, which would shrink your pool by one and be cut by
       * its `maxLifetimeSeconds`/`maxUses` recycling.
       */
      pool: PgPoolLike;
      connectionString?: never;
      clientConfig?: never;
    };

export interface PostgresBusOptions extends SchemaOptions {
  /** Start of every channel name: up to 20 lowercase letters, digits or `_`. Default `mcps_bus_`. */
  channelPrefix?: string;
  /** A payload row (message over NOTIFY's limit) is deleted this long after it was written. Default 60 s. */
  payloadRetentionMs?: number;
  /** Bound on connecting; then `StoreUnavailableError`. Default 5 s. */
  connectTimeoutMs?: number;
  /** Bound on every publish, LISTEN and payload read. Default 5 s. */
  commandTimeoutMs?: number;
  /** Receives connection losses (warn) and listeners that throw (error). Default: stderr; `false` silences. */
  logger?: LoggerLike | false;
}

export type PostgresSessionBusOptions = PostgresBusTarget & PostgresBusOptions;

export const DEFAULT_CHANNEL_PREFIX = 'mcps_bus_';
export const DEFAULT_PAYLOAD_RETENTION_MS = 60_000;
/**
 * NOTIFY refuses payloads of 8000 bytes or more; a message (with its session id) at or over this
 * goes by reference to a row instead.
 */
export const MAX_INLINE_PAYLOAD_BYTES = 7_900;

const OPTION_NAMES = [
  'connectionString',
  'clientConfig',
  'pool',
  'schema',
  'tablePrefix',
  'channelPrefix',
  'payloadRetentionMs',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'logger',
];
const DEFAULT_TIMEOUT_MS = 5_000;
const CHANNEL_PREFIX = /^[a-z0-9_]{0,20}$/;
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The Postgres live bus (reach `'backend'`): `LISTEN`/`NOTIFY` on ONE dedicated connection per
 * bus, which also publishes, one statement at a time (one connection keeps one publisher's
 * messages in order). Each session has a channel named by a hash of its id (any id fits
 * Postgres' 63-byte limit).
 * Messages over NOTIFY's 8000-byte limit are written to a small table (`<tablePrefix>bus_payloads`,
 * created on first use) and sent by reference; rows are deleted after `payloadRetentionMs`.
 * When the connection drops the bus reconnects by itself and listens again.
 *
 * @example
 * ```ts
 * const bus = new PostgresSessionBus({ connectionString: process.env.DATABASE_URL! });
 * await bus.subscribe(sessionId, (message) => route(message));
 * await bus.publish(sessionId, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4 } });
 * ```
 */
export class PostgresSessionBus implements SessionBus {
  readonly name = 'postgres';
  readonly reach: BusReach = 'backend';
  private readonly config: pg.ClientConfig;
  private readonly listeners: BusListeners;
  private readonly logger: Logger;
  private readonly channelPrefix: string;
  private readonly table: string;
  private readonly schema: string;
  private readonly retentionMs: number;
  private readonly connectTimeoutMs: number;
  /** Per session, the LISTEN/UNLISTEN in flight, so they reach the server in call order. */
  private readonly backend: BackendSubscriptions = {
    open: (sessionId) => this.listen(sessionId),
    close: (sessionId) => this.unlisten(sessionId),
    fail: (error) => wrapError(error, 'LISTEN'),
  };
  /** Per session, deliveries waiting for a payload row, so later messages wait their turn. */
  private readonly deliveries = new Map<string, Promise<void>>();
  private client: OrderedClient | undefined;
  private connecting: Promise<OrderedClient> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private tableReady: Promise<void> | undefined;
  private lastCleanup = 0;
  private closed = false;

  constructor(options: PostgresSessionBusOptions) {
    assertKnownOptions(options, OPTION_NAMES, 'PostgresSessionBus');
    const tables = tableNames(options);
    this.schema = tables.schema;
    this.table = `${tables.schema}."${tables.prefix}bus_payloads"`;
    this.channelPrefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
    if (!CHANNEL_PREFIX.test(this.channelPrefix)) {
      throw new InvalidArgumentError('channelPrefix', 'must be up to 20 lowercase letters, digits or _');
    }
    this.retentionMs = timerDelay(
      'payloadRetentionMs',
      options.payloadRetentionMs,
      DEFAULT_PAYLOAD_RETENTION_MS,
    );
    this.connectTimeoutMs = positiveNumber('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_TIMEOUT_MS);
    const commandTimeoutMs = positiveNumber('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_TIMEOUT_MS);
    const base: pg.ClientConfig = options.pool
      ? poolOptions(options.pool)
      : typeof options.connectionString === 'string'
        ? { ...options.clientConfig, connectionString: options.connectionString }
        : invalidTarget();
    this.config = {
      ...base,
      connectionTimeoutMillis: Math.ceil(this.connectTimeoutMs),
      query_timeout: Math.ceil(commandTimeoutMs),
      // A LISTEN connection is idle most of the time: keepalive notices a dead peer.
      keepAlive: true,
    };
    this.logger = resolveLogger(options.logger);
    this.listeners = new BusListeners(this.name, this.logger);
  }

  async publish(sessionId: string, message: JsonValue): Promise<void> {
    assertSessionId(sessionId);
    const text = encodeJson(message);
    if (this.closed) throw busClosed(this.name);
    const channel = this.channel(sessionId);
    const inline = `m${sessionId} ${text}`;
    try {
      const client = await this.connection();
      if (Buffer.byteLength(inline, 'utf8') < MAX_INLINE_PAYLOAD_BYTES) {
        await client.query('SELECT pg_notify($1, $2)', [channel, inline]);
        return;
      }
      await this.ensureTable(client);
      // One statement: the row and the notification commit together.
      await client.query(
        `WITH row AS (INSERT INTO ${this.table} (payload) VALUES ($3) RETURNING id)
         SELECT pg_notify($1, 'r' || $2 || ' ' || id) FROM row`,
        [channel, sessionId, text],
      );
      this.cleanup(client);
    } catch (error) {
      throw wrapError(error, 'publish');
    }
  }

  async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    assertSessionId(sessionId);
    assertListener(listener);
    if (this.closed) throw busClosed(this.name);
    return this.listeners.subscribe(sessionId, listener, this.backend);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    clearTimeout(this.reconnectTimer);
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.client.end().catch(() => undefined);
  }

  // --- Internal helpers ---

  /** `<channelPrefix><160 bits of sha256(id), hex>`: within 63 bytes, lowercase (no quoting surprises). */
  private channel(sessionId: string): string {
    return this.channelPrefix + createHash('sha256').update(sessionId).digest('hex').slice(0, 40);
  }

  private async listen(sessionId: string): Promise<void> {
    const client = await this.connection();
    await client.query(`LISTEN "${this.channel(sessionId)}"`);
  }

  /** The session lost its last listener (and got no new one meanwhile). */
  private async unlisten(sessionId: string): Promise<void> {
    const client = this.client;
    if (this.closed || !client) return;
    try {
      await client.query(`UNLISTEN "${this.channel(sessionId)}"`);
    } catch (error) {
      // Nothing reaches a listener any more; the LISTEN goes with the next reconnect or close.
      this.logger.warn('postgres bus: UNLISTEN failed', { session: sessionTag(sessionId), error });
    }
  }

  /** The live connection, or one attempt to open it (which fails fast while the server is down). */
  private connection(): Promise<OrderedClient> {
    if (this.closed) return Promise.reject(busClosed(this.name));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<OrderedClient> {
    const client = new pg.Client(this.config);
    client.on('notification', (n) => this.receive(n));
    // Without an 'error' listener a lost connection would crash the process.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    try {
      await client.connect();
      // Listen again to every session that has listeners (after a reconnect), in one round trip.
      const channels = [...this.listeners.sessionIds()].map((id) => `LISTEN "${this.channel(id)}";`);
      if (channels.length > 0) await client.query(channels.join(' '));
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw busClosed(this.name);
    }
    this.client = new OrderedClient(client);
    this.reconnectAttempts = 0;
    return this.client;
  }

  /** The connection dropped: forget it and, while sessions are listened to, reconnect in the background. */
  private lost(client: pg.Client, error: unknown): void {
    if (this.client?.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    this.logger.warn('postgres bus connection lost; reconnecting', { error });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.listeners.sessionCount === 0) return;
    const delay = Math.min(50 * 2 ** Math.min(this.reconnectAttempts++, 10), MAX_RECONNECT_DELAY_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.client || this.closed) return;
      this.connection().catch(() => this.scheduleReconnect());
    }, delay);
    this.reconnectTimer.unref();
  }

  private receive(notification: pg.Notification): void {
    const payload = notification.payload ?? '';
    const space = payload.indexOf(' ');
    const kind = payload[0];
    if (space < 2 || (kind !== 'm' && kind !== 'r')) return;
    const sessionId = payload.slice(1, space);
    // The channel is a hash: check the id itself, so a collision can never cross sessions.
    if (!this.listeners.has(sessionId) || notification.channel !== this.channel(sessionId)) return;
    const body = payload.slice(space + 1);
    const queued = this.deliveries.get(sessionId);
    if (kind === 'm' && !queued) {
      this.listeners.deliver(sessionId, body);
      return;
    }
    const next = (queued ?? Promise.resolve()).then(async () => {
      const text = kind === 'r' ? await this.readPayload(sessionId, body) : body;
      if (text !== undefined) this.listeners.deliver(sessionId, text);
    });
    this.deliveries.set(sessionId, next);
    next.then(() => {
      if (this.deliveries.get(sessionId) === next) this.deliveries.delete(sessionId);
    });
  }

  /** A message sent by reference; undefined (logged) when its row is gone or unreadable. */
  private async readPayload(sessionId: string, id: string): Promise<string | undefined> {
    try {
      const client = await this.connection();
      const result = await client.query<{ payload: string }>(
        `SELECT payload FROM ${this.table} WHERE id = $1`,
        [id],
      );
      const row = result.rows[0];
      if (row) return row.payload;
      this.logger.error('postgres bus: payload row already deleted; message dropped', {
        session: sessionTag(sessionId),
        id,
      });
    } catch (error) {
      this.logger.error('postgres bus: payload row unreadable; message dropped', {
        session: sessionTag(sessionId),
        id,
        error,
      });
    }
    return undefined;
  }

  private ensureTable(client: OrderedClient): Promise<void> {
    this.tableReady ??= (async () => {
      try {
        await createTable(client, this.schema, this.table);
      } catch (error) {
        // Two processes creating it at once: one of them loses on the catalog's unique index.
        if (!isDuplicate(error)) throw error;
        await createTable(client, this.schema, this.table);
      }
    })().catch((error: unknown) => {
      this.tableReady = undefined;
      throw error;
    });
    return this.tableReady;
  }

  /** Deletes payload rows past retention, at most twice per retention period, after a publish. */
  private cleanup(client: OrderedClient): void {
    const now = Date.now();
    if (now - this.lastCleanup < this.retentionMs / 2) return;
    this.lastCleanup = now;
    client
      .query(`DELETE FROM ${this.table} WHERE created_at < now() - make_interval(secs => $1)`, [
        this.retentionMs / 1000,
      ])
      .catch((error: unknown) => this.logger.warn('postgres bus: payload cleanup failed', { error }));
  }
}

// --- Internal helpers ---

/**
 * The bus's one `pg.Client`, sent one statement at a time in call order. Overlapping
 * `client.query()` calls are deprecated in pg (a DeprecationWarning now, an error in pg 9), and
 * call order on this one connection is what keeps one publisher's messages in order.
 */
class OrderedClient {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly client: pg.Client) {}

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const result = this.tail.then(() => this.client.query<R>(text, values));
    // The next statement waits for this one to finish, whether it succeeded or not.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

async function createTable(client: OrderedClient, schema: string, table: string): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${table} (
       id bigserial PRIMARY KEY,
       payload text NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
}

/** A `pg.Pool` keeps the options it was made with (host, user, ssl...): the bus's connection uses them. */
function poolOptions(pool: PgPoolLike): pg.ClientConfig {
  const options: unknown = Reflect.get(pool, 'options');
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'pool',
      "must be a pg.Pool (the bus opens its connection with the pool's options)",
    );
  }
  return options as pg.ClientConfig;
}

function invalidTarget(): never {
  throw new InvalidArgumentError('options', 'pass either connectionString or pool');
}

/** unique_violation / duplicate_table / duplicate_schema: a concurrent CREATE ... IF NOT EXISTS. */
function isDuplicate(error: unknown): boolean {
  const code = errorCode(error);
  return code === '23505' || code === '42P07' || code === '42P06';
}

function wrapError(error: unknown, operation: string): Error {
  if (error instanceof StoreUnavailableError) return error;
  return toStoreError(error, `postgres bus ${operation}`, isUnavailable);
}
