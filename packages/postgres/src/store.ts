import {
  type AgentStateEntry,
  InvalidArgumentError,
  type JsonObject,
  type Logger,
  type LoggerLike,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  assertKnownOptions,
  type ClaimDueQuery,
  decodeJson,
  type EventEntry,
  encodeJson,
  isSessionStatus,
  jsonByteLength,
  type ListQuery,
  livenessValues,
  MAX_TIMER_DELAY_MS,
  nonNegativeInteger,
  type ReadEventsQuery,
  resolveLogger,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import pg from 'pg';
import { errorCode, isUnavailable } from './errors';
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  type SchemaOptions,
  type TableNames,
  tableNames,
  versionTableSql,
} from './schema';

/** A query result as the store reads it (pg's `QueryResult` fits). */
export interface PgResultLike {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** A client checked out of a pool (pg's `PoolClient` fits); used for migrations. */
export interface PgPoolClientLike {
  query(text: string, values?: unknown[]): Promise<PgResultLike>;
  release(error?: Error | boolean): void;
}

/**
 * What the store uses of a pool: structural, so this package's type declarations need no
 * `@types/pg`; a `pg.Pool` fits. Cast `store.pool` back to `pg.Pool` for anything else it offers.
 */
export interface PgPoolLike {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<PgResultLike>;
  query(text: string, values?: unknown[]): Promise<PgResultLike>;
  connect(): Promise<PgPoolClientLike>;
  end(): Promise<void>;
}

/** Settings for the pool the store creates: any field of pg's `PoolConfig` but `connectionString`. */
export interface PgPoolConfig {
  max?: number;
  min?: number;
  idleTimeoutMillis?: number;
  ssl?: boolean | Record<string, unknown>;
  application_name?: string;
  [option: string]: unknown;
}

export interface PostgresStoreBaseOptions extends SchemaOptions {
  /** Create or upgrade the tables before the first operation. Default true. */
  migrate?: boolean;
  /**
   * Receives idle-connection errors of a pool the store created, and migration notes. Default:
   * warnings and errors on stderr (`resolveLogger`); `false` silences it.
   */
  logger?: LoggerLike | false;
}

/** Every key `PostgresSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'connectionString',
  'pool',
  'poolConfig',
  'connectTimeoutMs',
  'queryTimeoutMs',
  'statementTimeoutMs',
  'schema',
  'tablePrefix',
  'migrate',
  'logger',
];

export type PostgresSessionStoreOptions = PostgresStoreBaseOptions &
  (
    | {
        /** `postgresql://user@host:port/db`: the store creates (and on `close()` ends) its own pool. */
        connectionString: string;
        /** Extra settings for the pool the store creates (`max`, `ssl`, ...). */
        poolConfig?: PgPoolConfig;
        /**
         * Bound on opening a connection (TCP, TLS, startup) before a call fails with
         * `StoreUnavailableError`. Default 5 s (`DEFAULT_CONNECT_TIMEOUT_MS`); 0 waits forever.
         */
        connectTimeoutMs?: number;
        /**
         * Client-side bound on every statement, also against a server that stopped answering
         * (frozen, partitioned): the call fails with `StoreUnavailableError` and the connection is
         * discarded. Default 5 s (`DEFAULT_QUERY_TIMEOUT_MS`); 0 waits forever.
         */
        queryTimeoutMs?: number;
        /**
         * Server-side `statement_timeout`, so the server also stops work the client gave up on; a
         * timeout throws `StoreUnavailableError`. Default: `queryTimeoutMs`.
         */
        statementTimeoutMs?: number;
        pool?: never;
      }
    | {
        /**
         * Your pool. The store never ends it, nor changes its settings: give it
         * `connectionTimeoutMillis` and `query_timeout` (as the store does for its own pool), or a
         * frozen server stalls calls for as long as it is frozen.
         */
        pool: PgPoolLike;
        connectionString?: never;
        poolConfig?: never;
        connectTimeoutMs?: never;
        queryTimeoutMs?: never;
        statementTimeoutMs?: never;
      }
  );

/** Bound on opening a connection of a pool the store creates. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Client-side bound on every statement of a pool the store creates (and its `statement_timeout`). */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

const SESSION_COLUMNS = `id, status, version, principal, owner_id, created_at, last_heartbeat_at,
  disconnected_at, grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at,
  working_directory, metadata::text AS metadata, initialize_params::text AS initialize_params`;
/** Live means not ended (contract v2): the lifecycle sets `ended_at`; no status name is spelled here. */
const LIVE = 'ended_at IS NULL';

/**
 * Sessions, agent state and events in three Postgres tables. Every operation is one statement
 * (atomic on its own, safe for any number of instances); due records are claimed with
 * `FOR UPDATE SKIP LOCKED`, so concurrent sweepers never take the same record.
 *
 * @example
 * ```ts
 * const store = new PostgresSessionStore({ connectionString: process.env.DATABASE_URL! });
 * const manager = new SessionManager({ store });
 * // or, sharing your pool (the store will not end it):
 * const shared = new PostgresSessionStore({ pool, schema: 'mcp', migrate: false });
 * ```
 */
export class PostgresSessionStore implements SessionStore {
  readonly name = 'postgres';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: true, crossProcess: true };
  /** The pool the store queries (yours, or the one it created). */
  readonly pool: PgPoolLike;

  private readonly ownsPool: boolean;
  private readonly tables: TableNames;
  private readonly sql: ReturnType<typeof statements>;
  private readonly logger: Logger;
  private migrated: boolean;
  private migrating: Promise<void> | undefined;
  private closed = false;

  constructor(options: PostgresSessionStoreOptions) {
    assertKnownOptions(options, OPTION_KEYS, 'PostgresSessionStore');
    this.tables = tableNames(options);
    this.sql = statements(this.tables);
    this.logger = resolveLogger(options.logger);
    this.migrated = options.migrate === false;
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else if (typeof options.connectionString === 'string') {
      assertConnectionString(options.connectionString);
      const poolConfig = options.poolConfig ?? {};
      const connectTimeout = timeoutOption(
        'connectTimeoutMs',
        options.connectTimeoutMs ?? numberOrUndefined(poolConfig.connectionTimeoutMillis),
        DEFAULT_CONNECT_TIMEOUT_MS,
      );
      const queryTimeout = timeoutOption(
        'queryTimeoutMs',
        options.queryTimeoutMs ?? numberOrUndefined(poolConfig.query_timeout),
        DEFAULT_QUERY_TIMEOUT_MS,
      );
      const statementTimeout = timeoutOption(
        'statementTimeoutMs',
        options.statementTimeoutMs ?? numberOrUndefined(poolConfig.statement_timeout),
        queryTimeout,
      );
      // pg reads 0 (or false) as "no timeout".
      const pool = new pg.Pool({
        ...(poolConfig as pg.PoolConfig),
        connectionString: options.connectionString,
        connectionTimeoutMillis: connectTimeout,
        query_timeout: queryTimeout,
        statement_timeout: statementTimeout,
      });
      this.pool = pool;
      this.ownsPool = true;
      // An idle client losing its connection (server restart) must not crash the process.
      pool.on('error', (error) => {
        this.logger.warn('postgres idle client error', { error, code: errorCode(error) });
      });
    } else {
      throw new InvalidArgumentError('options', 'pass either connectionString or pool');
    }
  }

  /**
   * Creates or upgrades the tables (what the first operation does anyway, unless `migrate: false`).
   * Stores starting at once serialise on an advisory lock; each version is applied exactly once.
   * A failure rejects this call (and the operation that triggered it) and is retried next time.
   */
  migrate(): Promise<void> {
    this.migrating ??= this.runMigrations().then(
      () => {
        this.migrated = true;
      },
      (error: unknown) => {
        this.migrating = undefined;
        throw wrapError(error, 'migrate');
      },
    );
    return this.migrating;
  }

  async insert(record: SessionRecord): Promise<void> {
    const values = recordValues(record);
    const result = await this.query('insert', this.sql.insert, values);
    if (result.rowCount === 0) throw new SessionExistsError(record.id);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (hasNul(id)) return undefined;
    const { rows } = await this.query('get', this.sql.get, [id]);
    return rows[0] && toRecord(rows[0]);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    if (hasNul(id)) return false;
    const values = livenessParams(next);
    values.push(id, expectedVersion);
    const result = await this.query('compareAndSet', this.sql.compareAndSet, values);
    return result.rowCount === 1;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const wanted = ids.filter((id) => !hasNul(id));
    if (wanted.length === 0) return [];
    const { rows } = await this.query('touch', this.sql.touch, [wanted, patch.now, patch.dueAt]);
    const touched = new Set(rows.map((row) => text(row.id)));
    return ids.filter((id) => touched.has(id));
  }

  async delete(id: string): Promise<boolean> {
    if (hasNul(id)) return false;
    const result = await this.query('delete', this.sql.delete, [id]);
    return result.rowCount === 1;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = [...new Set<SessionStatus>(query.statuses)];
    if (statuses.length === 0 || query.limit <= 0) return [];
    const { rows } = query.after
      ? await this.query('list', this.sql.listAfter, [
          statuses,
          query.limit,
          query.after.createdAt,
          query.after.id,
        ])
      : await this.query('list', this.sql.list, [statuses, query.limit]);
    return rows.map(toRecord);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    if (query.limit <= 0) return [];
    const { rows } = await this.query('claimDue', this.sql.claimDue, [
      query.now,
      query.limit,
      query.now + query.leaseMs,
    ]);
    return rows.map(toRecord);
  }

  async purgeSessionData(id: string): Promise<void> {
    if (hasNul(id)) return;
    await this.query('purgeSessionData', this.sql.purgeSessionData, [id]);
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    assertNoNul('agentId', entry.agentId);
    assertNoNul('key', entry.key);
    if (hasNul(entry.sessionId)) throw new SessionNotFoundError(entry.sessionId);
    const result = await this.query('setState', this.sql.setState, [
      entry.sessionId,
      entry.agentId,
      entry.key,
      json,
      entry.updatedAt,
      entry.expiresAt,
    ]);
    if (result.rowCount === 0) throw new SessionNotFoundError(entry.sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    if (hasNul(key.sessionId) || hasNul(key.agentId) || hasNul(key.key)) return undefined;
    const { rows } = await this.query('getState', this.sql.getState, [
      key.sessionId,
      key.agentId,
      key.key,
      now,
    ]);
    const row = rows[0];
    return (
      row && {
        sessionId: key.sessionId,
        agentId: key.agentId,
        key: key.key,
        value: decodeJson(text(row.value)),
        updatedAt: int(row.updated_at),
        expiresAt: intOrNull(row.expires_at),
      }
    );
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    if (hasNul(key.sessionId) || hasNul(key.agentId) || hasNul(key.key)) return false;
    const result = await this.query('deleteState', this.sql.deleteState, [
      key.sessionId,
      key.agentId,
      key.key,
    ]);
    return result.rowCount === 1;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    if (hasNul(sessionId) || (agentId !== undefined && hasNul(agentId))) return [];
    const { rows } =
      agentId === undefined
        ? await this.query('listState', this.sql.listState, [sessionId, now])
        : await this.query('listState', this.sql.listAgentState, [sessionId, now, agentId]);
    return rows.map((row) => ({
      sessionId,
      agentId: text(row.agent_id),
      key: text(row.key),
      value: decodeJson(text(row.value)),
      updatedAt: int(row.updated_at),
      expiresAt: intOrNull(row.expires_at),
    }));
  }

  async purgeExpiredState(now: number): Promise<number> {
    const result = await this.query('purgeExpiredState', this.sql.purgeExpiredState, [now]);
    return result.rowCount ?? 0;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const json = encodeJson(event.message);
    assertNoNul('streamId', event.streamId);
    if (hasNul(event.sessionId)) throw new SessionNotFoundError(event.sessionId);
    const { rows } = await this.query('appendEvent', this.sql.appendEvent, [
      event.sessionId,
      event.streamId,
      json,
      event.createdAt,
      jsonByteLength(json),
    ]);
    if (!rows[0]) throw new SessionNotFoundError(event.sessionId);
    return int(rows[0].seq);
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    if (hasNul(query.sessionId) || (query.streamId !== undefined && hasNul(query.streamId))) return [];
    // LIMIT NULL is no limit.
    const limit = query.limit ?? null;
    const { rows } =
      query.streamId === undefined
        ? await this.query('readEvents', this.sql.readEvents, [query.sessionId, query.afterSeq, limit])
        : await this.query('readEvents', this.sql.readStreamEvents, [
            query.sessionId,
            query.afterSeq,
            limit,
            query.streamId,
          ]);
    return rows.map((row) => ({
      sessionId: query.sessionId,
      streamId: text(row.stream_id),
      seq: int(row.seq),
      message: decodeJson(text(row.message)),
      createdAt: int(row.created_at),
    }));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    if (hasNul(sessionId) || !Number.isSafeInteger(seq)) return undefined;
    const { rows } = await this.query('getEventStream', this.sql.getEventStream, [sessionId, seq]);
    return rows[0] && text(rows[0].stream_id);
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    if (hasNul(query.sessionId)) return 0;
    const { maxEvents, createdBefore, maxBytes } = query;
    let deleted = 0;
    if (maxEvents !== undefined || createdBefore !== undefined) {
      const result =
        maxEvents === undefined
          ? await this.query('trimEvents', this.sql.trimBefore, [query.sessionId, createdBefore])
          : createdBefore === undefined
            ? await this.query('trimEvents', this.sql.trimCount, [query.sessionId, maxEvents])
            : await this.query('trimEvents', this.sql.trimBoth, [query.sessionId, maxEvents, createdBefore]);
      deleted += result.rowCount ?? 0;
    }
    if (maxBytes !== undefined) {
      const result = await this.query('trimEvents', this.sql.trimBytes, [query.sessionId, maxBytes]);
      deleted += result.rowCount ?? 0;
    }
    return deleted;
  }

  /** Ends the pool if the store created it; a pool passed in stays open. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  // --- Internal helpers ---

  /** One statement, prepared once per connection (named by a hash of its text). */
  private async query(operation: string, statement: Statement, values: unknown[]): Promise<PgResultLike> {
    // Also over a pool passed in, which stays usable: a closed store is closed.
    if (this.closed) throw new StoreUnavailableError(`postgres ${operation}: the store is closed`);
    if (!this.migrated) await this.migrate();
    try {
      return await this.pool.query({
        name: statement.name,
        text: statement.text,
        values,
      });
    } catch (error) {
      throw wrapError(error, operation);
    }
  }

  private async runMigrations(): Promise<void> {
    const t = this.tables;
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      // Transaction-scoped: released by COMMIT/ROLLBACK, even if this process dies mid-way.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [t.lockName]);
      const schemaName = t.schema.slice(1, -1).replaceAll('""', '"');
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaName]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${t.schema}`);
      await client.query(versionTableSql(t));
      const current = await client.query(`SELECT max(version) AS v FROM ${t.versions}`);
      const from = Number(current.rows[0]?.v ?? 0);
      if (from > SCHEMA_VERSION) {
        throw new StoreError(
          `tables ${t.sessions} are at schema version ${from}, newer than this package's ${SCHEMA_VERSION}`,
        );
      }
      for (const migration of MIGRATIONS) {
        if (migration.version <= from) continue;
        for (const sql of migration.statements(t)) await client.query(sql);
        await client.query(`INSERT INTO ${t.versions} (version) VALUES ($1)`, [migration.version]);
        this.logger.info('postgres schema migrated', { tables: t.sessions, version: migration.version });
      }
      await client.query('COMMIT');
    } catch (error) {
      broken = error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      // A client whose connection failed is discarded instead of going back to the pool.
      client.release(broken !== undefined && isUnavailable(broken) ? toError(broken) : undefined);
    }
  }
}

interface Statement {
  name: string;
  text: string;
}

/** Every statement the store runs, built once per store from its table names. Exported for the plan test. */
export function statements(t: TableNames) {
  const s = t.sessions;
  const recordColumns = `status, version, principal, owner_id, created_at, last_heartbeat_at,
    disconnected_at, grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at,
    working_directory, metadata, initialize_params`;
  // Newest first down (created_at, id), an index only insert and delete write; the status filter
  // drops rows on the way.
  const list = (after: boolean) => `SELECT ${SESSION_COLUMNS} FROM ${s}
    WHERE status = ANY($1::text[])${after ? ' AND (created_at, id) < ($3::bigint, $4::text COLLATE "C")' : ''}
    ORDER BY created_at DESC, id DESC LIMIT $2`;
  const trim = (where: string) => `DELETE FROM ${t.events} WHERE session_id = $1 AND (${where})`;
  // Every seq up to the newest one that falls outside the newest $2 events.
  const beyondCount = `seq <= (SELECT seq FROM ${t.events} WHERE session_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`;
  const texts = {
    // One statement per insert: ON CONFLICT leaves an existing record (tombstones too) alone.
    insert: `INSERT INTO ${s} (id, ${recordColumns})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::json, $16::json)
      ON CONFLICT (id) DO NOTHING`,
    get: `SELECT ${SESSION_COLUMNS} FROM ${s} WHERE id = $1`,
    // The liveness columns only: identity and the JSON columns are written once, by insert.
    compareAndSet: `UPDATE ${s} SET (status, version, owner_id, last_heartbeat_at, disconnected_at,
      grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at) =
      ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
      WHERE id = $11 AND version = $12`,
    touch: `UPDATE ${s} SET last_heartbeat_at = $2, due_at = $3, version = version + 1
      WHERE id = ANY($1::text[]) AND status = 'active' RETURNING id`,
    delete: `DELETE FROM ${s} WHERE id = $1`,
    list: list(false),
    listAfter: list(true),
    // SKIP LOCKED: a concurrent sweeper takes other rows instead of waiting for (or re-taking) these.
    // `= ANY(ARRAY(...))` keeps the update on the primary key even in a generic plan (a join
    // with the CTE would plan a hash join over the whole table when LIMIT is a parameter).
    claimDue: `WITH due AS MATERIALIZED (
        SELECT id, due_at FROM ${s} WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE ${s} SET due_at = $3, version = version + 1 WHERE id = ANY(ARRAY(SELECT id FROM due))
        RETURNING ${SESSION_COLUMNS}
      )
      SELECT claimed.* FROM claimed JOIN due USING (id) ORDER BY due.due_at, claimed.id`,
    purgeSessionData: `WITH gone AS (DELETE FROM ${t.state} WHERE session_id = $1)
      DELETE FROM ${t.events} WHERE session_id = $1`,
    // FOR SHARE holds the session row until commit: an expire or close (an UPDATE of that row)
    // waits for this write, then purges it; one that came first makes this find no live row.
    setState: `INSERT INTO ${t.state} (session_id, agent_id, key, value, updated_at, expires_at)
      SELECT id, $2::text, $3::text, $4::json, $5::bigint, $6::bigint FROM ${s}
      WHERE id = $1 AND ${LIVE} FOR SHARE
      ON CONFLICT (session_id, agent_id, key) DO UPDATE
      SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at`,
    getState: `SELECT value::text AS value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = $1 AND agent_id = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > $4)`,
    deleteState: `DELETE FROM ${t.state} WHERE session_id = $1 AND agent_id = $2 AND key = $3`,
    listState: `SELECT agent_id, key, value::text AS value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY agent_id, key`,
    listAgentState: `SELECT agent_id, key, value::text AS value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = $1 AND (expires_at IS NULL OR expires_at > $2) AND agent_id = $3 ORDER BY key`,
    purgeExpiredState: `DELETE FROM ${t.state} WHERE expires_at <= $1`,
    // The counter lives on the session row: bumping it locks the row (appends of one session are
    // serialised) and checks liveness in the same statement.
    appendEvent: `WITH s AS (
        UPDATE ${s} SET last_event_seq = last_event_seq + 1 WHERE id = $1 AND ${LIVE}
        RETURNING last_event_seq
      )
      INSERT INTO ${t.events} (session_id, seq, stream_id, message, created_at, size)
      SELECT $1, last_event_seq, $2, $3::json, $4, $5 FROM s RETURNING seq`,
    readEvents: `SELECT stream_id, seq, message::text AS message, created_at FROM ${t.events}
      WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    readStreamEvents: `SELECT stream_id, seq, message::text AS message, created_at FROM ${t.events}
      WHERE session_id = $1 AND seq > $2 AND stream_id = $4 ORDER BY seq LIMIT $3`,
    getEventStream: `SELECT stream_id FROM ${t.events} WHERE session_id = $1 AND seq = $2`,
    trimBefore: trim('created_at < $2'),
    trimCount: trim(beyondCount),
    trimBoth: trim(`${beyondCount} OR created_at < $3`),
    // Every seq up to the newest one whose running size total, summed from the newest down,
    // passes the budget $2.
    trimBytes: trim(`seq <= (SELECT seq FROM (
        SELECT seq, sum(size) OVER (ORDER BY seq DESC) AS newer FROM ${t.events} WHERE session_id = $1
      ) AS w WHERE newer > $2::bigint ORDER BY seq DESC LIMIT 1)`),
  };
  return Object.fromEntries(
    Object.entries(texts).map(([key, text]) => [key, { name: `mcp_sessions_${hash(text)}`, text }]),
  ) as Record<keyof typeof texts, Statement>;
}

function recordValues(r: SessionRecord): unknown[] {
  for (const [argument, value] of [
    ['id', r.id],
    ['principal', r.principal],
    ['ownerId', r.ownerId],
    ['workingDirectory', r.workingDirectory],
  ] as const) {
    if (value !== null) assertNoNul(argument, value);
  }
  return [
    r.id,
    r.status,
    r.version,
    r.principal,
    r.ownerId,
    r.createdAt,
    r.lastHeartbeatAt,
    r.disconnectedAt,
    r.graceExpiresAt,
    r.recoveryAttempts,
    r.recoveredAt,
    r.endedAt,
    r.dueAt,
    r.workingDirectory,
    r.metadata === null ? null : encodeJson(r.metadata),
    r.initializeParams === null ? null : encodeJson(r.initializeParams),
  ];
}

/** The ten liveness values (core's order); `ownerId` checked like every text column. */
function livenessParams(r: SessionLiveness): unknown[] {
  if (r.ownerId !== null) assertNoNul('ownerId', r.ownerId);
  return livenessValues(r);
}

/** The boundary parse of a row: every column checked, bigints made numbers. */
function toRecord(row: Record<string, unknown>): SessionRecord {
  const status = text(row.status);
  if (!isSessionStatus(status))
    throw new StoreError(`stored session has unknown status ${JSON.stringify(status)}`);
  return {
    id: text(row.id),
    status: status as SessionStatus,
    version: int(row.version),
    principal: textOrNull(row.principal),
    ownerId: textOrNull(row.owner_id),
    createdAt: int(row.created_at),
    lastHeartbeatAt: int(row.last_heartbeat_at),
    disconnectedAt: intOrNull(row.disconnected_at),
    graceExpiresAt: intOrNull(row.grace_expires_at),
    recoveryAttempts: int(row.recovery_attempts),
    recoveredAt: intOrNull(row.recovered_at),
    endedAt: intOrNull(row.ended_at),
    dueAt: int(row.due_at),
    workingDirectory: textOrNull(row.working_directory),
    metadata: jsonObjectOrNull(row.metadata),
    initializeParams: jsonObjectOrNull(row.initialize_params),
  };
}

/**
 * A connection string pg can use: a `postgres://` / `postgresql://` URL (or pg's `socket:` form,
 * or a socket directory path). Anything else would fail later as a retryable-looking network error.
 */
function assertConnectionString(value: string): void {
  if (value.startsWith('/')) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('connectionString', 'is not a URL (postgresql://user@host:5432/db)');
  }
  if (!['postgres:', 'postgresql:', 'socket:'].includes(url.protocol)) {
    throw new InvalidArgumentError(
      'connectionString',
      `has scheme ${JSON.stringify(url.protocol)}; expected postgresql:// (or postgres://)`,
    );
  }
}

/** `value ?? fallback`: an integer number of ms, 0 (no bound) up to what timers honour. */
function timeoutOption(name: string, value: number | undefined, fallback: number): number {
  const ms = nonNegativeInteger(name, value, fallback);
  if (ms > MAX_TIMER_DELAY_MS)
    throw new InvalidArgumentError(name, `must be at most ${MAX_TIMER_DELAY_MS} ms`);
  return ms;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw new StoreError(`expected a text column, got ${typeof value}`);
  return value;
}

function textOrNull(value: unknown): string | null {
  return value === null ? null : text(value);
}

/** pg returns int8 as a string (it may exceed 2^53); ours are epoch ms and counters, well below. */
function int(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new StoreError(`expected an integer column, got ${String(value)}`);
  }
  return n;
}

function intOrNull(value: unknown): number | null {
  return value === null ? null : int(value);
}

function jsonObjectOrNull(value: unknown): JsonObject | null {
  if (value === null) return null;
  const parsed = decodeJson(text(value));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StoreError('expected a JSON object column');
  }
  return parsed;
}

/** Postgres text cannot hold U+0000, so no stored id, agent id, key or stream id contains one. */
function hasNul(value: string): boolean {
  return value.includes('\u0000');
}

function assertNoNul(argument: string, value: string): void {
  if (hasNul(value)) throw new InvalidArgumentError(argument, 'Postgres text cannot contain U+0000');
}

/** FNV-1a, 32 bits: a short, stable prepared-statement name per statement text. */
function hash(value: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function wrapError(error: unknown, operation: string): Error {
  return toStoreError(error, `postgres ${operation}`, isUnavailable);
}
