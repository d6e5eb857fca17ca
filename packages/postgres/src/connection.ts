/**
 * Talking to Postgres, for the facets (and, for the error rule, the bus): the pool's shape, what a
 * pg error means, the shared context every facet queries through (migrating first, wrapping
 * errors), and the boundary parse of column values.
 */
import {
  InvalidArgumentError,
  type JsonObject,
  type Logger,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { decodeJson, isNetworkError, toStoreError } from '@mcp-sessions/core/adapter';
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  type Statement,
  type Statements,
  statements,
  type TableNames,
  versionTableSql,
} from './sql';

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

// --- What a pg error means: one rule for "the server is not reachable right now" ---

/** SQLSTATEs that mean "the server is not reachable right now" (class 08 too, see below). */
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, in recovery)
  '57014', // query_canceled: statement_timeout
  '53300', // too_many_connections
]);
const UNAVAILABLE_MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|not queryable|query read timeout|connection ended|the database system is (starting|shutting)/i;

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Unreachable, shutting down, timed out: the errors that become `StoreUnavailableError`. */
export function isUnavailable(error: unknown): boolean {
  if (isNetworkError(error)) return true;
  const code = errorCode(error);
  if (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message);
}

/**
 * What every facet is constructed with: the pool, the statements built once from the table
 * names, and the store's migration and closed state, which `query` checks before each statement.
 */
export class PostgresContext {
  readonly sql: Statements;
  private migrated: boolean;
  private migrating: Promise<void> | undefined;
  private closed = false;

  constructor(
    readonly pool: PgPoolLike,
    /** Whether the store created `pool`, and so ends it. */
    private readonly ownsPool: boolean,
    private readonly tables: TableNames,
    private readonly logger: Logger,
    /** False until the tables are known to be at `SCHEMA_VERSION` (true with `migrate: false`). */
    migrated: boolean,
  ) {
    this.sql = statements(tables);
    this.migrated = migrated;
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

  /** Throws once closed: also over a pool passed in, which stays usable; a closed store is closed. */
  assertOpen(operation: string): void {
    if (this.closed) throw new StoreUnavailableError(`postgres ${operation}: the store is closed`);
  }

  /** One statement, prepared once per connection (named by a hash of its text). */
  async query(operation: string, statement: Statement, values: unknown[]): Promise<PgResultLike> {
    this.assertOpen(operation);
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

  /** Ends the pool if the store created it; a pool passed in stays open. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  // --- Internal helpers ---

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

// --- Column values: the boundary parse of a row ---

export function text(value: unknown): string {
  if (typeof value !== 'string') throw new StoreError(`expected a text column, got ${typeof value}`);
  return value;
}

export function textOrNull(value: unknown): string | null {
  return value === null ? null : text(value);
}

/** pg returns int8 as a string (it may exceed 2^53); ours are epoch ms and counters, well below. */
export function int(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new StoreError(`expected an integer column, got ${String(value)}`);
  }
  return n;
}

export function intOrNull(value: unknown): number | null {
  return value === null ? null : int(value);
}

export function jsonObjectOrNull(value: unknown): JsonObject | null {
  if (value === null) return null;
  const parsed = decodeJson(text(value));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new StoreError('expected a JSON object column');
  }
  return parsed;
}

/** Postgres text cannot hold U+0000, so no stored id, agent id, key or stream id contains one. */
export function hasNul(value: string): boolean {
  return value.includes('\u0000');
}

export function assertNoNul(argument: string, value: string): void {
  if (hasNul(value)) throw new InvalidArgumentError(argument, 'Postgres text cannot contain U+0000');
}

// --- Internal helpers ---

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function wrapError(error: unknown, operation: string): Error {
  return toStoreError(error, `postgres ${operation}`, isUnavailable);
}
