import {
  type AgentStateEntry,
  InvalidArgumentError,
  type LoggerLike,
  type SessionRecord,
  type SessionStore,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  assertKnownOptions,
  type ClaimDueQuery,
  type ClaimLapsedQuery,
  type EventEntry,
  type ListQuery,
  type ReadEventsQuery,
  resolveLogger,
  type SessionLiveness,
  type StoreCapabilities,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  type TaskStore,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { SqliteAgentState } from './agent-state';
import { acceptDatabase, openFile, SqliteContext, type SqliteDatabaseLike } from './connection';
import { SqliteEventLog } from './event-log';
import { SqliteRecords } from './records';
import { DEFAULT_PREFIX, isValidPrefix } from './sql';
import { SqliteTasks } from './tasks';

/** How long a statement waits for another process's write lock before `StoreUnavailableError`. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Page cache per connection, in MiB. SQLite's 2 MiB default makes a 100k-session heartbeat tick
 * read pages back from the OS over and over; the cache only grows as pages are used.
 */
export const DEFAULT_CACHE_SIZE_MIB = 64;

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

/**
 * The embedded default store: one SQLite file (WAL mode) that every process on the machine may
 * share. Each operation is one prepared statement or one `BEGIN IMMEDIATE` transaction, so it
 * is atomic across processes; due records, lapsed task leases, expired state and tasks, and
 * listing go through indexes.
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
export class SqliteSessionStore implements SessionStore, TaskStore {
  readonly name = 'sqlite';
  readonly capabilities: StoreCapabilities = {
    atomic: true,
    durable: true,
    crossProcess: true,
    tasks: true,
  };
  /** The connection, for inspection (`EXPLAIN`, backups). Do not write to the store's tables. */
  readonly db: SqliteDatabaseLike;
  readonly prefix: string;

  private readonly context: SqliteContext;
  private readonly records: SqliteRecords;
  private readonly agentState: SqliteAgentState;
  private readonly eventLog: SqliteEventLog;
  private readonly tasks: SqliteTasks;

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
      acceptDatabase(this.db, {
        busyTimeoutMs,
        synchronous: options.synchronous,
        cacheSizeMiB,
        prefix: this.prefix,
        logger,
      });
      this.context = new SqliteContext(this.db, this.prefix, this.db.name, false);
    } else {
      this.db = openFile(options.filename, {
        busyTimeoutMs: busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: options.synchronous ?? 'NORMAL',
        cacheSizeMiB: cacheSizeMiB ?? DEFAULT_CACHE_SIZE_MIB,
        prefix: this.prefix,
        logger,
      });
      this.context = new SqliteContext(this.db, this.prefix, options.filename, true);
    }
    this.records = new SqliteRecords(this.context);
    this.agentState = new SqliteAgentState(this.context);
    this.eventLog = new SqliteEventLog(this.context);
    this.tasks = new SqliteTasks(this.context);
  }

  // --- Session records ---

  insert(record: SessionRecord): Promise<void> {
    return this.records.insert(record);
  }

  get(id: string): Promise<SessionRecord | undefined> {
    return this.records.get(id);
  }

  compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    return this.records.compareAndSet(id, next, expectedVersion);
  }

  touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    return this.records.touch(ids, patch);
  }

  delete(id: string): Promise<boolean> {
    return this.records.delete(id);
  }

  list(query: ListQuery): Promise<SessionRecord[]> {
    return this.records.list(query);
  }

  claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return this.records.claimDue(query);
  }

  purgeSessionData(id: string): Promise<void> {
    return this.records.purgeSessionData(id);
  }

  // --- Agent state ---

  setState(entry: AgentStateEntry): Promise<void> {
    return this.agentState.setState(entry);
  }

  getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    return this.agentState.getState(key, now);
  }

  deleteState(key: AgentStateKey): Promise<boolean> {
    return this.agentState.deleteState(key);
  }

  listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    return this.agentState.listState(sessionId, agentId, now);
  }

  purgeExpiredState(now: number): Promise<number> {
    return this.agentState.purgeExpiredState(now);
  }

  // --- Event log ---

  appendEvent(event: AppendEvent): Promise<number> {
    return this.eventLog.appendEvent(event);
  }

  readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    return this.eventLog.readEvents(query);
  }

  getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    return this.eventLog.getEventStream(sessionId, seq);
  }

  trimEvents(query: TrimEventsQuery): Promise<number> {
    return this.eventLog.trimEvents(query);
  }

  // --- Tasks ---

  insertTask(task: TaskRecord): Promise<boolean> {
    return this.tasks.insertTask(task);
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.getTask(id);
  }

  compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    return this.tasks.compareAndSetTask(id, next, expectedVersion);
  }

  renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    return this.tasks.renewTaskLeases(ids, workerId, leaseUntil);
  }

  claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    return this.tasks.claimLapsedTasks(query);
  }

  deleteExpiredTasks(now: number, limit: number): Promise<number> {
    return this.tasks.deleteExpiredTasks(now, limit);
  }

  listTasks(query: { limit: number; after?: TaskListAfter }): Promise<TaskRecord[]> {
    return this.tasks.listTasks(query);
  }

  /** Closes the file if the store opened it; a `database` passed in stays open. Idempotent. */
  async close(): Promise<void> {
    this.context.close();
  }
}
