import {
  InvalidArgumentError,
  type JsonValue,
  type Logger,
  type LoggerLike,
  McpSessionsError,
  type SessionBus,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  assertKnownOptions,
  assertListener,
  assertSessionId,
  type BusListener,
  BusListeners,
  type BusReach,
  type BusSubscription,
  busClosed,
  encodeJson,
  resolveLogger,
  timerDelay,
} from '@mcp-sessions/core/adapter';
import Database from 'better-sqlite3';

export interface SqliteSessionBusOptions {
  /** The database file the processes share (usually the store's file). Created if missing. */
  filename: string;
  /** Prepended to the mailbox table's name: letters, digits and `_`. Default `mcp_sessions_`. */
  prefix?: string;
  /** How often the file is checked for new messages while there are subscriptions. Default 15 ms. */
  pollIntervalMs?: number;
  /** Messages are deleted this long after they were published. Default 60 s. */
  retentionMs?: number;
  /** How long a publish waits for another process's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Receives listeners that throw and failed polls (error). Default: stderr; `false` silences. */
  logger?: LoggerLike | false;
}

export const DEFAULT_BUS_POLL_INTERVAL_MS = 15;
export const DEFAULT_BUS_RETENTION_MS = 60_000;

const OPTION_NAMES = ['filename', 'prefix', 'pollIntervalMs', 'retentionMs', 'busyTimeoutMs', 'logger'];
const DEFAULT_PREFIX = 'mcp_sessions_';
const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Rows read per query while catching up, so one poll never holds a huge result. */
const READ_BATCH = 500;

interface MailboxRow {
  id: number;
  session_id: string;
  payload: string;
}

/**
 * The SQLite live bus (reach `'backend'`: every process on this host that opens the same file).
 * Publishing inserts a row into a mailbox table (`<prefix>bus`, AUTOINCREMENT ids, so ids only
 * grow); while the bus has subscriptions it checks `PRAGMA data_version` every `pollIntervalMs`
 * (a few microseconds, no I/O when nothing changed) and reads the rows after the last id it saw.
 * With no subscriptions no timer runs. Rows older than `retentionMs` are deleted by publishers.
 *
 * @example
 * ```ts
 * const bus = new SqliteSessionBus({ filename: './sessions.db' });
 * await bus.subscribe(sessionId, (message) => route(message));
 * await bus.publish(sessionId, { jsonrpc: '2.0', id: 9, result: { action: 'accept' } });
 * ```
 */
export class SqliteSessionBus implements SessionBus {
  readonly name = 'sqlite';
  readonly reach: BusReach = 'backend';
  private readonly db: Database.Database;
  private readonly listeners: BusListeners;
  private readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly insert: Database.Statement<[string, string, number], unknown>;
  private readonly readAfter: Database.Statement<[number, number], MailboxRow>;
  private readonly lastId: Database.Statement<[], { id: number | null }>;
  private readonly prune: Database.Statement<[number], unknown>;
  private timer: NodeJS.Timeout | undefined;
  /** The last mailbox id handed to listeners (every row after it is news). */
  private cursor = 0;
  private dataVersion = -1;
  private lastPrune = 0;
  private readScheduled = false;
  private closed = false;

  constructor(options: SqliteSessionBusOptions) {
    assertKnownOptions(options, OPTION_NAMES, 'SqliteSessionBus');
    if (typeof options.filename !== 'string' || options.filename === '') {
      throw new InvalidArgumentError('filename', 'must be a path');
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (!PREFIX.test(prefix)) {
      throw new InvalidArgumentError('prefix', 'must be letters, digits and _, not starting with a digit');
    }
    this.pollIntervalMs = timerDelay('pollIntervalMs', options.pollIntervalMs, DEFAULT_BUS_POLL_INTERVAL_MS);
    this.retentionMs = timerDelay('retentionMs', options.retentionMs, DEFAULT_BUS_RETENTION_MS);
    const busyTimeoutMs = timerDelay('busyTimeoutMs', options.busyTimeoutMs, DEFAULT_BUSY_TIMEOUT_MS);
    this.logger = resolveLogger(options.logger);
    this.listeners = new BusListeners(this.name, this.logger);
    const table = `"${prefix}bus"`;
    let db: Database.Database | undefined;
    try {
      db = new Database(options.filename);
      this.db = db;
      this.db.pragma(`busy_timeout = ${Math.ceil(busyTimeoutMs)}`);
      // Usually the store made the file WAL already; switching needs a moment alone with it.
      if (this.db.pragma('journal_mode', { simple: true }) !== 'wal') this.db.pragma('journal_mode = WAL');
      // Losing the last messages on power loss is fine: the bus is not the record.
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           session_id TEXT NOT NULL,
           payload TEXT NOT NULL,
           created_at INTEGER NOT NULL
         )`,
      );
      this.insert = this.db.prepare(
        `INSERT INTO ${table} (session_id, payload, created_at) VALUES (?, ?, ?)`,
      );
      this.readAfter = this.db.prepare(
        `SELECT id, session_id, payload FROM ${table} WHERE id > ? ORDER BY id LIMIT ?`,
      );
      this.lastId = this.db.prepare(`SELECT max(id) AS id FROM ${table}`);
      this.prune = this.db.prepare(`DELETE FROM ${table} WHERE created_at < ?`);
    } catch (error) {
      db?.close();
      throw wrap(error, `open ${JSON.stringify(options.filename)}`);
    }
  }

  async publish(sessionId: string, message: JsonValue): Promise<void> {
    assertSessionId(sessionId);
    const text = encodeJson(message);
    if (this.closed) throw busClosed(this.name);
    const now = Date.now();
    try {
      this.insert.run(sessionId, text, now);
      if (now - this.lastPrune >= this.retentionMs / 2) {
        this.lastPrune = now;
        this.prune.run(now - this.retentionMs);
      }
    } catch (error) {
      throw wrap(error, 'publish');
    }
    // Our own commits do not change our connection's data_version: read at once instead.
    if (this.listeners.sessionCount > 0) this.scheduleRead();
  }

  async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    assertSessionId(sessionId);
    assertListener(listener);
    if (this.closed) throw busClosed(this.name);
    let last: number;
    try {
      last = this.lastId.get()?.id ?? 0;
    } catch (error) {
      throw wrap(error, 'subscribe');
    }
    if (this.listeners.sessionCount === 0) {
      // Nothing was listened to: start after what exists now.
      this.cursor = last;
      this.dataVersion = this.readDataVersion();
    }
    // Rows up to `last` were published before this subscription: never deliver them to it.
    const { entry } = this.listeners.add(sessionId, listener, last);
    this.startPolling();
    return {
      unsubscribe: async () => {
        this.listeners.remove(sessionId, entry);
        if (this.listeners.sessionCount === 0) this.stopPolling();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.stopPolling();
    this.db.close();
  }

  // --- Internal helpers ---

  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The cheap check: another connection committed since the last look? */
  private poll(): void {
    if (this.closed) return;
    try {
      const version = this.readDataVersion();
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      this.read();
    } catch (error) {
      this.logger.error('sqlite bus poll failed', { error: wrap(error, 'poll') });
    }
  }

  private scheduleRead(): void {
    if (this.readScheduled) return;
    this.readScheduled = true;
    setImmediate(() => {
      this.readScheduled = false;
      if (this.closed) return;
      try {
        this.read();
      } catch (error) {
        this.logger.error('sqlite bus read failed', { error: wrap(error, 'read') });
      }
    });
  }

  /** Hands every row after the cursor to its session's listeners, in id order. */
  private read(): void {
    for (;;) {
      const rows = this.readAfter.all(this.cursor, READ_BATCH);
      for (const row of rows) {
        this.cursor = row.id;
        if (this.listeners.has(row.session_id)) this.listeners.deliver(row.session_id, row.payload, row.id);
      }
      if (rows.length < READ_BATCH || this.closed) return;
    }
  }

  private readDataVersion(): number {
    return Number(this.db.pragma('data_version', { simple: true }));
  }
}

// --- Internal helpers ---

function isBusy(error: unknown): boolean {
  const code = error instanceof Database.SqliteError ? error.code : undefined;
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Locked → `StoreUnavailableError` (worth retrying); anything else → `StoreError`; the cause kept. */
function wrap(error: unknown, what: string): Error {
  if (error instanceof McpSessionsError) return error;
  const message = `sqlite bus ${what}: ${error instanceof Error ? error.message : String(error)}`;
  return isBusy(error)
    ? new StoreUnavailableError(message, { cause: error })
    : new StoreError(message, { cause: error });
}
