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
  MAX_TIMER_DELAY_MS,
  nonNegativeInteger,
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
import pg from 'pg';
import { PostgresAgentState } from './agent-state';
import { errorCode, type PgPoolConfig, type PgPoolLike, PostgresContext } from './connection';
import { PostgresEventLog } from './event-log';
import { PostgresRecords } from './records';
import { type SchemaOptions, tableNames } from './sql';
import { PostgresTasks } from './tasks';

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

/**
 * Sessions, agent state, events and tasks in four Postgres tables. Every operation is one statement
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
export class PostgresSessionStore implements SessionStore, TaskStore {
  readonly name = 'postgres';
  readonly capabilities: StoreCapabilities = {
    atomic: true,
    durable: true,
    crossProcess: true,
    tasks: true,
  };
  /** The pool the store queries (yours, or the one it created). */
  readonly pool: PgPoolLike;

  private readonly context: PostgresContext;
  private readonly records: PostgresRecords;
  private readonly agentState: PostgresAgentState;
  private readonly eventLog: PostgresEventLog;
  private readonly tasks: PostgresTasks;

  constructor(options: PostgresSessionStoreOptions) {
    assertKnownOptions(options, OPTION_KEYS, 'PostgresSessionStore');
    const tables = tableNames(options);
    const logger = resolveLogger(options.logger);
    let pool: PgPoolLike;
    let ownsPool: boolean;
    if (options.pool) {
      pool = options.pool;
      ownsPool = false;
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
      const created = new pg.Pool({
        ...(poolConfig as pg.PoolConfig),
        connectionString: options.connectionString,
        connectionTimeoutMillis: connectTimeout,
        query_timeout: queryTimeout,
        statement_timeout: statementTimeout,
      });
      pool = created;
      ownsPool = true;
      // An idle client losing its connection (server restart) must not crash the process.
      created.on('error', (error) => {
        logger.warn('postgres idle client error', { error, code: errorCode(error) });
      });
    } else {
      throw new InvalidArgumentError('options', 'pass either connectionString or pool');
    }
    this.pool = pool;
    this.context = new PostgresContext(pool, ownsPool, tables, logger, options.migrate === false);
    this.records = new PostgresRecords(this.context);
    this.agentState = new PostgresAgentState(this.context);
    this.eventLog = new PostgresEventLog(this.context);
    this.tasks = new PostgresTasks(this.context);
  }

  /**
   * Creates or upgrades the tables (what the first operation does anyway, unless `migrate: false`).
   * Stores starting at once serialise on an advisory lock; each version is applied exactly once.
   * A failure rejects this call (and the operation that triggered it) and is retried next time.
   */
  migrate(): Promise<void> {
    return this.context.migrate();
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

  /** Ends the pool if the store created it; a pool passed in stays open. Idempotent. */
  close(): Promise<void> {
    return this.context.close();
  }
}

// --- Internal helpers ---

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
