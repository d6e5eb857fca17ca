/**
 * The adapter's SQL, all of it: the schema (one constant, versioned) and every statement the
 * store prepares. Table names carry the caller's prefix, validated to a plain identifier, so
 * several apps can share one file.
 */

/** Bump when the schema changes, and add the step from the previous version to `MIGRATIONS`. */
export const SCHEMA_VERSION = 4;

/** Default table-name prefix: tables are `mcp_sessions_sessions`, `mcp_sessions_agent_state`, ... */
export const DEFAULT_PREFIX = 'mcp_sessions_';

const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

export function isValidPrefix(prefix: string): boolean {
  return PREFIX.test(prefix);
}

/** Table names for a prefix. */
export function tables(prefix: string) {
  return {
    meta: `${prefix}meta`,
    sessions: `${prefix}sessions`,
    data: `${prefix}session_data`,
    state: `${prefix}agent_state`,
    events: `${prefix}events`,
    tasks: `${prefix}tasks`,
  };
}

/**
 * The current schema, created whole on a new file (older files get `MIGRATIONS`). Times are
 * epoch milliseconds. The per-session event counter is the larger of the session row's `event_seq`
 * and the session's newest event seq: an append writes only its event, and whatever deletes
 * events (trims, purges) first raises `event_seq` to the newest seq. So seqs only grow, trimmed
 * seqs are never reused, and an event costs no session row rewrite.
 *
 * A record is split in two rows: `sessions` holds the small columns that heartbeats and sweeps
 * rewrite, `session_data` the bulky JSON written once at insert (client capabilities, metadata).
 * SQLite rewrites a whole row on any UPDATE, so a heartbeat tick dirties a few pages per thousand
 * sessions instead of one page per few sessions: with 500-byte initialize params in the same
 * row, a 100k tick took 1.5x as long. Small rows also suit `WITHOUT ROWID`: a lookup by id is
 * one b-tree descent instead of two (with random ids, a 100k tick went from about 3 s to 0.7 s).
 *
 * `list` walks `(created_at, id)`, which only insert and delete change: no heartbeat or
 * compare-and-set writes that index.
 */
export function schema(prefix: string): string {
  const t = tables(prefix);
  return `
CREATE TABLE IF NOT EXISTS ${t.sessions} (
  id                 TEXT    NOT NULL PRIMARY KEY,
  status             TEXT    NOT NULL CHECK (status IN ('active', 'disconnected', 'expired', 'closed')),
  version            INTEGER NOT NULL,
  principal          TEXT,
  owner_id           TEXT,
  created_at         INTEGER NOT NULL,
  last_heartbeat_at  INTEGER NOT NULL,
  disconnected_at    INTEGER,
  grace_expires_at   INTEGER,
  recovery_attempts  INTEGER NOT NULL,
  recovered_at       INTEGER,
  ended_at           INTEGER,
  due_at             INTEGER NOT NULL,
  event_seq          INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ${t.data} (
  id                 TEXT    NOT NULL PRIMARY KEY,
  working_directory  TEXT,
  metadata           TEXT,
  initialize_params  TEXT
);
CREATE INDEX IF NOT EXISTS ${prefix}sessions_by_created ON ${t.sessions} (created_at, id);
CREATE INDEX IF NOT EXISTS ${prefix}sessions_by_due ON ${t.sessions} (due_at, id);

CREATE TABLE IF NOT EXISTS ${t.state} (
  session_id  TEXT    NOT NULL,
  agent_id    TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  value       TEXT    NOT NULL,
  updated_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  PRIMARY KEY (session_id, agent_id, key)
);
CREATE INDEX IF NOT EXISTS ${prefix}agent_state_by_expiry
  ON ${t.state} (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS ${t.events} (
  session_id  TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  stream_id   TEXT    NOT NULL,
  size        INTEGER NOT NULL,
  message     TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)
);
${tasksTable(prefix)}`;
}

/**
 * The tasks table and its indexes as version 4 created them: the fresh schema and migration 4
 * both run this. A later change to tasks is a new migration step, never an edit here.
 *
 * One row per task, identity then state, the JSON last so reading the small columns never walks
 * a large request's or result's overflow pages. A rowid table, not `WITHOUT ROWID` like
 * `sessions`: a row holds a request and a result of any size. `status` has no CHECK: the
 * lifecycle in core decides statuses, the store only keeps them. Claims walk `(lease_until, id)`,
 * the sweep `expires_at`, both partial (terminal tasks hold no lease; many have no ttl); listing
 * walks `(created_at, id)`, which no state write changes.
 */
function tasksTable(prefix: string): string {
  const t = tables(prefix);
  return `
CREATE TABLE IF NOT EXISTS ${t.tasks} (
  id                TEXT    NOT NULL PRIMARY KEY,
  principal         TEXT,
  created_at        INTEGER NOT NULL,
  rerunnable        INTEGER NOT NULL,
  status            TEXT    NOT NULL,
  version           INTEGER NOT NULL,
  status_message    TEXT,
  updated_at        INTEGER NOT NULL,
  ttl_ms            INTEGER,
  expires_at        INTEGER,
  poll_interval_ms  INTEGER,
  worker_id         TEXT,
  lease_until       INTEGER,
  attempts          INTEGER NOT NULL,
  request           TEXT    NOT NULL,
  input_requests    TEXT,
  result            TEXT,
  error             TEXT
);
CREATE INDEX IF NOT EXISTS ${prefix}tasks_by_lease
  ON ${t.tasks} (lease_until, id) WHERE lease_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${prefix}tasks_by_expiry
  ON ${t.tasks} (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${prefix}tasks_by_created ON ${t.tasks} (created_at, id);
`;
}

/** Steps from version N-1 to N, keyed by N. Each runs inside the schema transaction. */
export const MIGRATIONS: Readonly<Record<number, (prefix: string) => string>> = {
  // Version 2: each event's byte size, for the byte budget of trimEvents. A fresh schema puts
  // the column before `message`, so reading it never walks a big message's overflow pages.
  2: (prefix) => {
    const t = tables(prefix);
    return `ALTER TABLE ${t.events} ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE ${t.events} SET size = length(CAST(message AS BLOB));`;
  },
  // Version 3 (contract v2): `list` is ordered by creation, so its index no longer holds what
  // heartbeats and lifecycle changes write.
  3: (prefix) => `DROP INDEX IF EXISTS ${prefix}sessions_by_status_heartbeat;
CREATE INDEX IF NOT EXISTS ${prefix}sessions_by_created ON ${tables(prefix).sessions} (created_at, id);`,
  // Version 4: MCP's Tasks extension. Sessions, state and events are untouched.
  4: (prefix) => tasksTable(prefix),
};

const HOT_COLUMNS = `id, status, version, principal, owner_id, created_at, last_heartbeat_at,
  disconnected_at, grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at`;

/**
 * A whole record: `s` is the sessions row, `d` its data row. Every statement returning records
 * (`get`, `selectDue`, `listSql`) yields the `sessions` columns in `HOT_COLUMNS` order, then
 * working_directory, metadata, initialize_params: the store reads them by position.
 */
function recordSelect(prefix: string): string {
  const t = tables(prefix);
  return `SELECT s.id, s.status, s.version, s.principal, s.owner_id, s.created_at, s.last_heartbeat_at,
    s.disconnected_at, s.grace_expires_at, s.recovery_attempts, s.recovered_at, s.ended_at, s.due_at,
    d.working_directory, d.metadata, d.initialize_params
    FROM ${t.sessions} AS s JOIN ${t.data} AS d ON d.id = s.id`;
}

/** A task's state columns, in the order of `compareAndSetTask`. */
const TASK_STATE_COLUMNS = `status, version, status_message, updated_at, ttl_ms, expires_at,
  poll_interval_ms, worker_id, lease_until, attempts, input_requests, result, error`;
/** Every task column: the identity, then the state. Rows are read by name. */
const TASK_COLUMNS = `id, principal, created_at, rerunnable, request, ${TASK_STATE_COLUMNS}`;

/** Live means not ended (contract v2): the lifecycle sets `ended_at`, no status name is spelled here. */
const LIVE = 'ended_at IS NULL';

/** The statements the store prepares once, by name. Positional parameters, documented inline. */
export function statements(prefix: string) {
  const t = tables(prefix);
  return {
    metaCreate: `CREATE TABLE IF NOT EXISTS ${t.meta} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)`,
    metaGetVersion: `SELECT value FROM ${t.meta} WHERE key = 'schema_version'`,
    metaSetVersion: `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`,

    // --- Session records ---
    insert: `INSERT INTO ${t.sessions} (${HOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    /** (id, workingDirectory, metadata, initializeParams) */
    insertData: `INSERT INTO ${t.data} (id, working_directory, metadata, initialize_params) VALUES (?, ?, ?, ?)`,
    /**
     * (id). `+?` keeps the id out of the planner's sqlite_stat4 probe: once ANALYZE (or `PRAGMA
     * optimize`) has written stat4, SQLite re-plans a join each time a probed parameter changes,
     * which tripled the cost of this lookup. Both tables are still searched by key.
     */
    get: `${recordSelect(prefix)} WHERE s.id = +?`,
    /**
     * (status, version, ownerId, lastHeartbeatAt, disconnectedAt, graceExpiresAt, recoveryAttempts,
     * recoveredAt, endedAt, dueAt, id, expectedVersion): the liveness columns only.
     */
    compareAndSet: `UPDATE ${t.sessions} SET status = ?, version = ?, owner_id = ?, last_heartbeat_at = ?,
      disconnected_at = ?, grace_expires_at = ?, recovery_attempts = ?, recovered_at = ?, ended_at = ?,
      due_at = ?
      WHERE id = ? AND version = ?`,
    /** (now, dueAt, id) */
    touchOne: `UPDATE ${t.sessions} SET last_heartbeat_at = ?, due_at = ?, version = version + 1
      WHERE id = ? AND status = 'active'`,
    /**
     * (now, dueAt, JSON array of ids): a whole heartbeat batch in one statement. `+status` keeps
     * the planner on the primary key (one lookup per id) instead of walking every active row.
     */
    touchMany: `UPDATE ${t.sessions} SET last_heartbeat_at = ?, due_at = ?, version = version + 1
      WHERE id IN (SELECT value FROM json_each(?)) AND +status = 'active'
      RETURNING id`,
    deleteRecord: `DELETE FROM ${t.sessions} WHERE id = ?`,
    deleteData: `DELETE FROM ${t.data} WHERE id = ?`,
    /** (now, limit): earliest due first; id breaks ties so the order is total. */
    selectDue: `${recordSelect(prefix)} WHERE s.due_at <= ? ORDER BY s.due_at, s.id LIMIT ?`,
    /** (dueAt, id) */
    lease: `UPDATE ${t.sessions} SET due_at = ?, version = version + 1 WHERE id = ?`,

    // --- Agent state ---
    /**
     * (sessionId, agentId, key, value, updatedAt, expiresAt, sessionId): writes only while the
     * session is live, in the same statement that checks it.
     */
    setState: `INSERT INTO ${t.state} (session_id, agent_id, key, value, updated_at, expires_at)
      SELECT ?, ?, ?, ?, ?, ?
      WHERE EXISTS (SELECT 1 FROM ${t.sessions} WHERE id = ? AND ${LIVE})
      ON CONFLICT (session_id, agent_id, key) DO UPDATE SET
        value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
    /** (sessionId, agentId, key, now) */
    getState: `SELECT agent_id, key, value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = ? AND agent_id = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
    /** (sessionId, agentId, key) */
    deleteState: `DELETE FROM ${t.state} WHERE session_id = ? AND agent_id = ? AND key = ?`,
    /** (sessionId, now) */
    listState: `SELECT agent_id, key, value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY agent_id, key`,
    /** (sessionId, agentId, now) */
    listAgentState: `SELECT agent_id, key, value, updated_at, expires_at FROM ${t.state}
      WHERE session_id = ? AND agent_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key`,
    /** (now) */
    purgeExpiredState: `DELETE FROM ${t.state} WHERE expires_at IS NOT NULL AND expires_at <= ?`,
    deleteSessionState: `DELETE FROM ${t.state} WHERE session_id = ?`,

    // --- Event log ---
    /**
     * (streamId, size, message, createdAt, sessionId): the next seq after the session's counter
     * (see `schema`), only while the session is live; returns it. One statement: it takes the
     * write lock before it reads, and writes no session row.
     */
    appendEvent: `INSERT INTO ${t.events} (session_id, seq, stream_id, size, message, created_at)
      SELECT s.id, max(s.event_seq, coalesce((SELECT max(e.seq) FROM ${t.events} AS e
        WHERE e.session_id = s.id), 0)) + 1, ?, ?, ?, ?
      FROM ${t.sessions} AS s WHERE s.id = ? AND s.${LIVE}
      RETURNING seq`,
    /** (sessionId, sessionId): before events are deleted, the counter keeps the newest seq. */
    keepEventSeq: `UPDATE ${t.sessions} SET event_seq = max(event_seq,
      coalesce((SELECT max(seq) FROM ${t.events} WHERE session_id = ?), 0)) WHERE id = ?`,
    /** (sessionId, afterSeq, limit; -1 = none) */
    readEvents: `SELECT stream_id, seq, message, created_at FROM ${t.events}
      WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    /** (sessionId, afterSeq, streamId, limit) */
    readStreamEvents: `SELECT stream_id, seq, message, created_at FROM ${t.events}
      WHERE session_id = ? AND seq > ? AND stream_id = ? ORDER BY seq LIMIT ?`,
    /** (sessionId, seq) */
    getEventStream: `SELECT stream_id FROM ${t.events} WHERE session_id = ? AND seq = ?`,
    /** (sessionId, createdBefore) */
    trimByAge: `DELETE FROM ${t.events} WHERE session_id = ? AND created_at < ?`,
    /** (sessionId, sessionId, maxEvents): everything at or below the (maxEvents+1)-th newest seq. */
    trimByCount: `DELETE FROM ${t.events} WHERE session_id = ? AND seq <= (
      SELECT seq FROM ${t.events} WHERE session_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
    /**
     * (sessionId, sessionId, maxBytes): everything at or below the newest seq whose running size
     * total, summed from the newest event down, passes the budget.
     */
    trimByBytes: `DELETE FROM ${t.events} WHERE session_id = ? AND seq <= (
      SELECT seq FROM (
        SELECT seq, SUM(size) OVER (ORDER BY seq DESC) AS newer FROM ${t.events} WHERE session_id = ?
      ) WHERE newer > ? ORDER BY seq DESC LIMIT 1)`,
    deleteSessionEvents: `DELETE FROM ${t.events} WHERE session_id = ?`,

    // --- Tasks ---
    /**
     * (id, principal, createdAt, rerunnable, request, then the state as in `compareAndSetTask`):
     * nothing written when the id is taken.
     */
    insertTask: `INSERT INTO ${t.tasks} (${TASK_COLUMNS})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO NOTHING`,
    /** (id) */
    getTask: `SELECT ${TASK_COLUMNS} FROM ${t.tasks} WHERE id = ?`,
    /**
     * (status, version, statusMessage, updatedAt, ttlMs, expiresAt, pollIntervalMs, workerId,
     * leaseUntil, attempts, inputRequests, result, error, id, expectedVersion): the state only.
     */
    compareAndSetTask: `UPDATE ${t.tasks} SET status = ?, version = ?, status_message = ?, updated_at = ?,
      ttl_ms = ?, expires_at = ?, poll_interval_ms = ?, worker_id = ?, lease_until = ?, attempts = ?,
      input_requests = ?, result = ?, error = ?
      WHERE id = ? AND version = ?`,
    /**
     * (leaseUntil, JSON array of ids, workerId): a worker's whole renewal in one statement, one
     * primary-key lookup per id; a lease is held while `lease_until` is set, whatever the status.
     */
    renewTaskLeases: `UPDATE ${t.tasks} SET lease_until = ?, version = version + 1
      WHERE id IN (SELECT value FROM json_each(?)) AND lease_until IS NOT NULL AND worker_id = ?
      RETURNING id`,
    /** (now, limit): the lapsed leases, earliest first, from the lease index alone. */
    selectLapsedTasks: `SELECT id FROM ${t.tasks}
      WHERE lease_until IS NOT NULL AND lease_until <= ? ORDER BY lease_until, id LIMIT ?`,
    /** (workerId, leaseUntil, JSON array of ids): hands what `selectLapsedTasks` found to the claimer. */
    claimTasks: `UPDATE ${t.tasks} SET worker_id = ?, lease_until = ?, version = version + 1
      WHERE id IN (SELECT value FROM json_each(?))
      RETURNING ${TASK_COLUMNS}`,
    /** (now, limit) */
    deleteExpiredTasks: `DELETE FROM ${t.tasks} WHERE rowid IN (SELECT rowid FROM ${t.tasks}
      WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    /** (limit): newest first down the `(created_at, id)` index, stopping at the limit. */
    listTasks: `SELECT ${TASK_COLUMNS} FROM ${t.tasks} ORDER BY created_at DESC, id DESC LIMIT ?`,
    /** (afterCreatedAt, afterId, limit): the next keyset page. Never `OFFSET`. */
    listTasksAfter: `SELECT ${TASK_COLUMNS} FROM ${t.tasks} WHERE (created_at, id) < (?, ?)
      ORDER BY created_at DESC, id DESC LIMIT ?`,
  };
}

export type StatementName = keyof ReturnType<typeof statements>;

/**
 * `list`: newest first down the (created_at, id) index, keeping the rows whose status is one of
 * `count` given. Parameters: the statuses, [afterCreatedAt, afterId,] limit.
 */
export function listSql(prefix: string, count: number, keyset: boolean): string {
  const statuses = Array.from({ length: count }, () => '?').join(', ');
  const after = keyset ? ' AND (s.created_at, s.id) < (?, ?)' : '';
  return `${recordSelect(prefix)} WHERE s.status IN (${statuses})${after}
    ORDER BY s.created_at DESC, s.id DESC LIMIT ?`;
}
