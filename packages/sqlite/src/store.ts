import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  type AgentStateEntry,
  InvalidArgumentError,
  type JsonObject,
  type Logger,
  type LoggerLike,
  McpSessionsError,
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
  jsonByteLength,
  type ListQuery,
  livenessValues,
  type ReadEventsQuery,
  resolveLogger,
  SESSION_STATUSES,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import Database from 'better-sqlite3';
import {
  DEFAULT_PREFIX,
  isValidPrefix,
  listSql,
  MIGRATIONS,
  SCHEMA_VERSION,
  type StatementName,
  schema,
  statements,
} from './sql';

/** How long a statement waits for another process's write lock before `StoreUnavailableError`. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Page cache per connection, in MiB. SQLite's 2 MiB default makes a 100k-session heartbeat tick
 * read pages back from the OS over and over; the cache only grows as pages are used.
 */
export const DEFAULT_CACHE_SIZE_MIB = 64;

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

interface CommonOptions {
  /**
   * Prepended to every table name, so several apps can share one file. Letters, digits and
   * `_`, not starting with a digit. Default `mcp_sessions_`.
   */
  prefix?: string;
  /**
   * `NORMAL` (default): in WAL mode a committed write survives a crash of the process; the last
   * commits may be lost if the machine loses power. `FULL`: also survives power loss, slower.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** How long to wait for another connection's lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Upper bound of the connection's page cache, in MiB. Default 64. */
  cacheSizeMiB?: number;
  /**
   * Told about schema creation and migrations. Default: warnings and errors on stderr
   * (`resolveLogger`); `false` silences it.
   */
  logger?: LoggerLike | false;
}

/** Every key `SqliteSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'filename',
  'database',
  'prefix',
  'synchronous',
  'busyTimeoutMs',
  'cacheSizeMiB',
  'logger',
];

export type SqliteSessionStoreOptions =
  | (CommonOptions & {
      /** Path of the database file (created if missing, with its tables), or `:memory:`. */
      filename: string;
      database?: never;
    })
  | (CommonOptions & {
      /**
       * An open better-sqlite3 connection. The store creates its tables in it, applies only the
       * pragmas given here explicitly (`synchronous`, `busyTimeoutMs`, `cacheSizeMiB`), and leaves
       * it open on `close()`.
       */
      database: SqliteDatabaseLike;
      filename?: never;
    });

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

type Row = Record<string, unknown>;
/** Statements returning records: prepared in raw mode, read by `toRecord`. */
const RECORD_STATEMENTS: ReadonlySet<string> = new Set<StatementName>(['get', 'selectDue']);
/** A record's columns in the order of sql.ts `recordSelect`, read in raw mode. */
type RecordRow = unknown[];
type Statements = { [K in StatementName]: SqliteStatementLike };

/**
 * The embedded default store: one SQLite file (WAL mode) that every process on the machine may
 * share. Each operation is one prepared statement or one `BEGIN IMMEDIATE` transaction, so it
 * is atomic across processes; due records, expired state and listing go through indexes.
 *
 * @example
 * ```ts
 * import { SessionManager } from '@mcp-sessions/core';
 * import { SqliteSessionStore } from '@mcp-sessions/sqlite';
 *
 * const store = new SqliteSessionStore({ filename: './sessions.db' });
 * const manager = new SessionManager({ store });
 * ```
 */
export class SqliteSessionStore implements SessionStore {
  readonly name = 'sqlite';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: true, crossProcess: true };
  /** The connection, for inspection (`EXPLAIN`, backups). Do not write to the store's tables. */
  readonly db: SqliteDatabaseLike;
  readonly prefix: string;

  private readonly owned: boolean;
  private readonly label: string;
  private readonly stmt: Statements;
  private readonly listStatements = new Map<string, SqliteStatementLike>();
  /** One `BEGIN IMMEDIATE` wrapper, built once: better-sqlite3 builds a new one per `transaction()` call. */
  private readonly transaction: { immediate(step: () => unknown): unknown };
  private closed = false;

  constructor(options: SqliteSessionStoreOptions) {
    assertKnownOptions(options, OPTION_KEYS, 'SqliteSessionStore');
    if (options.database === undefined && options.filename === undefined) {
      throw new InvalidArgumentError('filename', 'give filename (a path or ":memory:") or database');
    }
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!isValidPrefix(this.prefix)) {
      throw new InvalidArgumentError('prefix', 'must be letters, digits and _, not starting with a digit');
    }
    const busyTimeoutMs = options.busyTimeoutMs;
    if (busyTimeoutMs !== undefined && !(Number.isInteger(busyTimeoutMs) && busyTimeoutMs >= 0)) {
      throw new InvalidArgumentError('busyTimeoutMs', 'must be a whole number of milliseconds, 0 or more');
    }
    if (
      options.synchronous !== undefined &&
      options.synchronous !== 'NORMAL' &&
      options.synchronous !== 'FULL'
    ) {
      throw new InvalidArgumentError('synchronous', "must be 'NORMAL' or 'FULL'");
    }
    const cacheSizeMiB = options.cacheSizeMiB;
    if (cacheSizeMiB !== undefined && !(Number.isFinite(cacheSizeMiB) && cacheSizeMiB > 0)) {
      throw new InvalidArgumentError('cacheSizeMiB', 'must be a positive number');
    }
    const logger = resolveLogger(options.logger);

    if (options.database) {
      this.db = options.database;
      this.owned = false;
      this.label = this.db.name;
      if (!this.db.open) throw new InvalidArgumentError('database', 'is closed');
      try {
        if (busyTimeoutMs !== undefined) this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
        if (options.synchronous) this.db.pragma(`synchronous = ${options.synchronous}`);
        if (cacheSizeMiB !== undefined) this.db.pragma(`cache_size = ${cacheSizeKiB(cacheSizeMiB)}`);
        migrate(this.db, this.prefix, logger);
      } catch (error) {
        throw wrap(error, `open ${JSON.stringify(this.label)}`);
      }
    } else {
      this.db = openFile(options.filename, {
        busyTimeoutMs: busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: options.synchronous ?? 'NORMAL',
        cacheSizeMiB: cacheSizeMiB ?? DEFAULT_CACHE_SIZE_MIB,
        prefix: this.prefix,
        logger,
      });
      this.owned = true;
      this.label = options.filename;
    }

    const sql = statements(this.prefix);
    this.stmt = Object.fromEntries(
      Object.entries(sql).map(([name, text]) => {
        const stmt = this.db.prepare(text);
        return [name, RECORD_STATEMENTS.has(name) ? stmt.raw(true) : stmt];
      }),
    ) as Statements;
    this.transaction = this.db.transaction((step: () => unknown) => step());
  }

  // --- Session records ---

  async insert(record: SessionRecord): Promise<void> {
    const hot = hotParams(record);
    const data = dataParams(record);
    this.run('insert', () =>
      this.immediate(() => {
        try {
          this.stmt.insert.run(record.id, ...hot);
        } catch (error) {
          if (sqliteCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new SessionExistsError(record.id);
          throw error;
        }
        this.stmt.insertData.run(record.id, ...data);
      }),
    );
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.run('get', () => this.stmt.get.get(id) as RecordRow | undefined);
    return row && toRecord(row);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const params = livenessValues(next);
    return this.run(
      'compareAndSet',
      () => this.stmt.compareAndSet.run(...params, id, expectedVersion).changes === 1,
    );
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.run('touch', () => {
      if (ids.length === 1) {
        const id = ids[0]!;
        return this.stmt.touchOne.run(patch.now, patch.dueAt, id).changes === 1 ? [id] : [];
      }
      const rows = this.stmt.touchMany.all(patch.now, patch.dueAt, JSON.stringify(ids)) as Row[];
      const touched = new Set(rows.map((r) => r.id as string));
      return ids.filter((id) => touched.has(id));
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.run('delete', () =>
      this.immediate(() => {
        this.stmt.deleteSessionState.run(id);
        this.stmt.deleteSessionEvents.run(id);
        this.stmt.deleteData.run(id);
        return this.stmt.deleteRecord.run(id).changes === 1;
      }),
    );
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = [...new Set(query.statuses)].filter((s) => SESSION_STATUSES.includes(s));
    if (statuses.length === 0 || query.limit <= 0) return [];
    const after = query.after;
    const params: unknown[] = [...statuses];
    if (after) params.push(after.createdAt, after.id);
    params.push(query.limit);
    const rows = this.run(
      'list',
      () => this.listStatement(statuses.length, after !== undefined).all(...params) as RecordRow[],
    );
    return rows.map(toRecord);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    if (query.limit <= 0) return [];
    const dueAt = query.now + query.leaseMs;
    const records = this.run('claimDue', () =>
      this.immediate(() => {
        const due = (this.stmt.selectDue.all(query.now, query.limit) as RecordRow[]).map(toRecord);
        for (const record of due) this.stmt.lease.run(dueAt, record.id);
        return due;
      }),
    );
    return records.map((record) => ({ ...record, dueAt, version: record.version + 1 }));
  }

  async purgeSessionData(id: string): Promise<void> {
    this.run('purgeSessionData', () =>
      this.immediate(() => {
        this.stmt.deleteSessionState.run(id);
        this.stmt.keepEventSeq.run(id, id);
        this.stmt.deleteSessionEvents.run(id);
      }),
    );
  }

  // --- Agent state ---

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    const { sessionId, agentId, key, updatedAt, expiresAt } = entry;
    const changes = this.run(
      'setState',
      () => this.stmt.setState.run(sessionId, agentId, key, json, updatedAt, expiresAt, sessionId).changes,
    );
    if (changes === 0) throw new SessionNotFoundError(sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const row = this.run(
      'getState',
      () => this.stmt.getState.get(key.sessionId, key.agentId, key.key, now) as Row | undefined,
    );
    return row && toStateEntry(key.sessionId, row);
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    return this.run(
      'deleteState',
      () => this.stmt.deleteState.run(key.sessionId, key.agentId, key.key).changes === 1,
    );
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    const rows = this.run('listState', () =>
      agentId === undefined
        ? (this.stmt.listState.all(sessionId, now) as Row[])
        : (this.stmt.listAgentState.all(sessionId, agentId, now) as Row[]),
    );
    // BINARY collation compares UTF-8 bytes: code point order, as the contract asks.
    return rows.map((row) => toStateEntry(sessionId, row));
  }

  async purgeExpiredState(now: number): Promise<number> {
    return this.run('purgeExpiredState', () => this.stmt.purgeExpiredState.run(now).changes);
  }

  // --- Event log ---

  async appendEvent(event: AppendEvent): Promise<number> {
    const json = encodeJson(event.message);
    const row = this.run(
      'appendEvent',
      () =>
        this.stmt.appendEvent.get(
          event.streamId,
          jsonByteLength(json),
          json,
          event.createdAt,
          event.sessionId,
        ) as Row | undefined,
    );
    if (!row) throw new SessionNotFoundError(event.sessionId);
    return row.seq as number;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const limit = query.limit ?? -1;
    const rows = this.run('readEvents', () =>
      query.streamId === undefined
        ? (this.stmt.readEvents.all(query.sessionId, query.afterSeq, limit) as Row[])
        : (this.stmt.readStreamEvents.all(query.sessionId, query.afterSeq, query.streamId, limit) as Row[]),
    );
    return rows.map((row) => ({
      sessionId: query.sessionId,
      streamId: row.stream_id as string,
      seq: row.seq as number,
      message: decodeJson(row.message as string),
      createdAt: row.created_at as number,
    }));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    const row = this.run(
      'getEventStream',
      () => this.stmt.getEventStream.get(sessionId, seq) as Row | undefined,
    );
    return row?.stream_id as string | undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    return this.run('trimEvents', () =>
      this.immediate(() => {
        this.stmt.keepEventSeq.run(query.sessionId, query.sessionId);
        let deleted = 0;
        if (query.createdBefore !== undefined) {
          deleted += this.stmt.trimByAge.run(query.sessionId, query.createdBefore).changes;
        }
        if (query.maxEvents !== undefined) {
          const keep = Math.max(0, Math.floor(query.maxEvents));
          deleted += this.stmt.trimByCount.run(query.sessionId, query.sessionId, keep).changes;
        }
        if (query.maxBytes !== undefined) {
          deleted += this.stmt.trimByBytes.run(query.sessionId, query.sessionId, query.maxBytes).changes;
        }
        return deleted;
      }),
    );
  }

  /** Closes the file if the store opened it; a `database` passed in stays open. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.db.close();
  }

  // --- Internal helpers ---

  /** Runs one synchronous database step, turning driver errors into the core's typed errors. */
  private run<T>(operation: string, step: () => T): T {
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
  private immediate<T>(step: () => T): T {
    return this.transaction.immediate(step) as T;
  }

  private listStatement(count: number, keyset: boolean): SqliteStatementLike {
    const cacheKey = `${count}:${keyset}`;
    let stmt = this.listStatements.get(cacheKey);
    if (!stmt) {
      stmt = this.db.prepare(listSql(this.prefix, count, keyset)).raw(true);
      this.listStatements.set(cacheKey, stmt);
    }
    return stmt;
  }
}

/**
 * Opens a file as the store wants it, or throws `SqliteOpenError` having created and changed
 * nothing: the directory must exist, an existing file must be writable and a database.
 */
function openFile(
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

/** The `sessions` columns after `id`, in the order of `insert`. */
function hotParams(r: SessionRecord): unknown[] {
  return [
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
  ];
}

/** The `session_data` columns after `id` (encoded first: a bad value throws before any write). */
function dataParams(r: SessionRecord): unknown[] {
  return [
    r.workingDirectory,
    r.metadata === null ? null : encodeJson(r.metadata),
    r.initializeParams === null ? null : encodeJson(r.initializeParams),
  ];
}

/** A row in the order of sql.ts `recordSelect`, read in raw mode (arrays cost less to build than objects). */
function toRecord(row: RecordRow): SessionRecord {
  const metadata = row[14] as string | null;
  const initializeParams = row[15] as string | null;
  return {
    id: row[0] as string,
    status: row[1] as SessionStatus,
    version: row[2] as number,
    principal: row[3] as string | null,
    ownerId: row[4] as string | null,
    createdAt: row[5] as number,
    lastHeartbeatAt: row[6] as number,
    disconnectedAt: row[7] as number | null,
    graceExpiresAt: row[8] as number | null,
    recoveryAttempts: row[9] as number,
    recoveredAt: row[10] as number | null,
    endedAt: row[11] as number | null,
    dueAt: row[12] as number,
    workingDirectory: row[13] as string | null,
    metadata: metadata === null ? null : (decodeJson(metadata) as JsonObject),
    initializeParams: initializeParams === null ? null : (decodeJson(initializeParams) as JsonObject),
  };
}

function toStateEntry(sessionId: string, row: Row): AgentStateEntry {
  return {
    sessionId,
    agentId: row.agent_id as string,
    key: row.key as string,
    value: decodeJson(row.value as string),
    updatedAt: row.updated_at as number,
    expiresAt: row.expires_at as number | null,
  };
}

function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
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
