/**
 * The connection the facets share: opening a file as the store wants it, the schema migration,
 * the statements prepared once, and `run`, which turns every driver error into a core error.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  InvalidArgumentError,
  type Logger,
  McpSessionsError,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION, type StatementName, schema, statements } from './sql';

/**
 * What the store uses of a better-sqlite3 statement. Structural, so this package's type
 * declarations need no `@types/better-sqlite3`; a `Database.Statement` fits.
 */
export interface SqliteStatementLike {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Rows as arrays of column values instead of objects. */
  raw(toggle?: boolean): SqliteStatementLike;
}

/**
 * What the store uses of a better-sqlite3 connection (`new Database(file)` fits). Cast `store.db`
 * back to better-sqlite3's `Database` for anything else it offers.
 */
export interface SqliteDatabaseLike {
  readonly name: string;
  readonly open: boolean;
  prepare(source: string): SqliteStatementLike;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
  ): {
    (...args: A): R;
    immediate(...args: A): R;
  };
  close(): unknown;
}

/** The database file could not be opened as a session store; nothing was created or changed. */
export class SqliteOpenError extends StoreError {
  constructor(
    readonly filename: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open SQLite session store ${JSON.stringify(filename)}: ${reason}`, options);
  }
}

export type Row = Record<string, unknown>;
/** Statements returning records: prepared in raw mode, read by `toRecord`. */
const RECORD_STATEMENTS: ReadonlySet<string> = new Set<StatementName>(['get', 'selectDue']);
export type Statements = { [K in StatementName]: SqliteStatementLike };

/**
 * What every facet is constructed with: one connection, one set of prepared statements, and the
 * store's closed flag, which `run` checks before each step.
 */
export class SqliteContext {
  readonly stmt: Statements;
  /** One `BEGIN IMMEDIATE` wrapper, built once: better-sqlite3 builds a new one per `transaction()` call. */
  private readonly transaction: { immediate(step: () => unknown): unknown };
  private closed = false;

  constructor(
    readonly db: SqliteDatabaseLike,
    readonly prefix: string,
    /** The file name (or the connection's name), for error messages. */
    private readonly label: string,
    /** Whether the store opened `db` itself, and so closes it. */
    private readonly owned: boolean,
  ) {
    const sql = statements(prefix);
    this.stmt = Object.fromEntries(
      Object.entries(sql).map(([name, text]) => {
        const stmt = db.prepare(text);
        return [name, RECORD_STATEMENTS.has(name) ? stmt.raw(true) : stmt];
      }),
    ) as Statements;
    this.transaction = db.transaction((step: () => unknown) => step());
  }

  /** Runs one synchronous database step, turning driver errors into the core's typed errors. */
  run<T>(operation: string, step: () => T): T {
    if (this.closed) throw new StoreUnavailableError(`sqlite ${operation}: the store is closed`);
    try {
      return step();
    } catch (error) {
      if (!this.db.open)
        throw new StoreUnavailableError(`sqlite ${operation}: the connection is closed`, { cause: error });
      throw wrap(error, `${operation} on ${JSON.stringify(this.label)}`);
    }
  }

  /** Runs `step` inside `BEGIN IMMEDIATE`: it takes the write lock first, so no lock upgrade can deadlock. */
  immediate<T>(step: () => T): T {
    return this.transaction.immediate(step) as T;
  }

  /** Closes the file if the store opened it; a `database` passed in stays open. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.db.close();
  }
}

/**
 * Takes a connection passed in: applies only the pragmas given explicitly, then creates or
 * upgrades the schema.
 */
export function acceptDatabase(
  db: SqliteDatabaseLike,
  options: {
    busyTimeoutMs: number | undefined;
    synchronous: 'NORMAL' | 'FULL' | undefined;
    cacheSizeMiB: number | undefined;
    prefix: string;
    logger: Logger;
  },
): void {
  if (!db.open) throw new InvalidArgumentError('database', 'is closed');
  try {
    if (options.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    if (options.synchronous) db.pragma(`synchronous = ${options.synchronous}`);
    if (options.cacheSizeMiB !== undefined) db.pragma(`cache_size = ${cacheSizeKiB(options.cacheSizeMiB)}`);
    migrate(db, options.prefix, options.logger);
  } catch (error) {
    throw wrap(error, `open ${JSON.stringify(db.name)}`);
  }
}

/**
 * Opens a file as the store wants it, or throws `SqliteOpenError` having created and changed
 * nothing: the directory must exist, an existing file must be writable and a database.
 */
export function openFile(
  filename: string,
  options: {
    busyTimeoutMs: number;
    synchronous: 'NORMAL' | 'FULL';
    cacheSizeMiB: number;
    prefix: string;
    logger: Logger;
  },
): Database.Database {
  if (typeof filename !== 'string' || filename.length === 0) {
    throw new InvalidArgumentError('filename', 'must be a path or ":memory:"');
  }
  const memory = filename === ':memory:';
  if (!memory) checkPath(filename);
  let db: Database.Database;
  try {
    db = new Database(filename, { timeout: options.busyTimeoutMs });
  } catch (error) {
    throw new SqliteOpenError(filename, describe(error), { cause: error });
  }
  try {
    // A read first: a file that is not a database fails here, before any pragma writes to it.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!memory) enableWal(db, options.busyTimeoutMs);
    db.pragma(`synchronous = ${options.synchronous}`);
    db.pragma(`cache_size = ${cacheSizeKiB(options.cacheSizeMiB)}`);
    migrate(db, options.prefix, options.logger);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof McpSessionsError) throw error;
    if (isBusy(error)) throw wrap(error, `open ${JSON.stringify(filename)}`);
    throw new SqliteOpenError(filename, describe(error), { cause: error });
  }
}

export function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
}

// --- Internal helpers ---

/**
 * Switches to WAL. SQLite answers SQLITE_BUSY at once, without its busy handler, when two
 * connections convert a new file at the same moment, so this waits and retries itself.
 */
function enableWal(db: Database.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}: WAL refused`);
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}

/** `PRAGMA cache_size` takes a negative number for KiB. */
function cacheSizeKiB(mib: number): number {
  return -Math.ceil(mib * 1024);
}

function checkPath(filename: string): void {
  const path = resolve(filename);
  const dir = dirname(path);
  if (!existsSync(dir))
    throw new SqliteOpenError(filename, `directory ${JSON.stringify(dir)} does not exist`);
  if (existsSync(path)) {
    if (!statSync(path).isFile()) throw new SqliteOpenError(filename, 'not a regular file');
    if (!accessible(path, constants.R_OK | constants.W_OK)) {
      throw new SqliteOpenError(filename, 'file is not readable and writable (read-only?)');
    }
  }
  // WAL mode creates `-wal` and `-shm` files beside the database.
  if (!accessible(dir, constants.W_OK)) {
    throw new SqliteOpenError(filename, `directory ${JSON.stringify(dir)} is not writable`);
  }
}

function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates or upgrades the schema inside one `BEGIN IMMEDIATE`, so processes opening a new file
 * at the same moment take turns instead of racing on `CREATE TABLE`.
 */
function migrate(db: SqliteDatabaseLike, prefix: string, logger: Logger): void {
  const sql = statements(prefix);
  db.transaction(() => {
    db.exec(sql.metaCreate);
    const row = db.prepare(sql.metaGetVersion).get() as Row | undefined;
    const current = row === undefined ? 0 : Number(row.value);
    if (!Number.isInteger(current) || current < 0) {
      throw new StoreError(`table ${prefix}meta holds a bad schema_version ${JSON.stringify(row?.value)}`);
    }
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        `schema version ${current} is newer than this @mcp-sessions/sqlite supports (${SCHEMA_VERSION}); upgrade the package`,
      );
    }
    if (current === SCHEMA_VERSION) return;
    if (current === 0) {
      db.exec(schema(prefix));
    } else {
      for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
        const step = MIGRATIONS[v];
        if (!step) throw new StoreError(`no migration from schema version ${v - 1} to ${v}`);
        db.exec(step(prefix));
      }
    }
    db.prepare(sql.metaSetVersion).run(String(SCHEMA_VERSION));
    logger.info('sqlite session store schema ready', { prefix, from: current, to: SCHEMA_VERSION });
  }).immediate();
}

function isBusy(error: unknown): boolean {
  const code = sqliteCode(error);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Driver errors into the core hierarchy; the SDK's own errors pass through untouched. */
function wrap(error: unknown, what: string): Error {
  if (error instanceof McpSessionsError) return error;
  if (isBusy(error)) {
    return new StoreUnavailableError(`sqlite ${what}: database is locked (${describe(error)})`, {
      cause: error,
    });
  }
  return new StoreError(`sqlite ${what}: ${describe(error)}`, { cause: error });
}

function describe(error: unknown): string {
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${message} [${code}]` : message;
}
