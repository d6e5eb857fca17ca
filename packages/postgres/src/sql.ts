/**
 * The adapter's SQL, all of it: the tables as versioned migrations, and every statement the store
 * runs. Identifiers are validated and quoted here, once; every statement is built from `tableNames`.
 */
import { InvalidArgumentError } from '@mcp-sessions/core';

/** The schema version this package writes and reads. Stored in the `<prefix>schema_version` table. */
export const SCHEMA_VERSION = 4;

export const DEFAULT_SCHEMA = 'public';
export const DEFAULT_TABLE_PREFIX = 'mcp_sessions_';

export interface SchemaOptions {
  /** Postgres schema holding the tables. Default `public`. Created if missing. */
  schema?: string;
  /** Prepended to every table and index name. Default `mcp_sessions_`. */
  tablePrefix?: string;
}

export interface TableNames {
  schema: string;
  sessions: string;
  state: string;
  events: string;
  tasks: string;
  versions: string;
  /** Names the advisory lock that serialises migrations of these tables. */
  lockName: string;
  /** Unquoted prefix, for index names. */
  prefix: string;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Leaves room for the longest suffix (`sessions_created_idx`) within 63 bytes. */
const TABLE_PREFIX = /^[A-Za-z0-9_]{0,40}$/;

export function tableNames(options: SchemaOptions = {}): TableNames {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  if (!SCHEMA_NAME.test(schema) || /^pg_/i.test(schema)) {
    throw new InvalidArgumentError(
      'schema',
      'must be a letter or _ then up to 62 letters, digits or _, not starting with pg_',
    );
  }
  if (!TABLE_PREFIX.test(prefix)) {
    throw new InvalidArgumentError('tablePrefix', 'must be up to 40 letters, digits or _');
  }
  const table = (name: string) => `${ident(schema)}.${ident(prefix + name)}`;
  return {
    schema: ident(schema),
    sessions: table('sessions'),
    state: table('state'),
    events: table('events'),
    tasks: table('tasks'),
    versions: table('schema_version'),
    lockName: `mcp-sessions:${schema}.${prefix}`,
    prefix,
  };
}

interface Migration {
  version: number;
  statements(t: TableNames): string[];
}

/**
 * Times are bigint epoch milliseconds (exact, cheap to compare). Ids, agent ids and keys are
 * `COLLATE "C"`: the contract's orders are binary. Values are `json`, not `jsonb`: `json` keeps
 * the exact text, so `\u0000` in a string and object key order survive (jsonb rejects the
 * first and reorders the second); nothing here queries inside values.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    statements: (t) => [
      `CREATE TABLE ${t.sessions} (
  id text COLLATE "C" PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('active', 'disconnected', 'expired', 'closed')),
  version bigint NOT NULL,
  principal text,
  owner_id text,
  created_at bigint NOT NULL,
  last_heartbeat_at bigint NOT NULL,
  disconnected_at bigint,
  grace_expires_at bigint,
  recovery_attempts integer NOT NULL,
  recovered_at bigint,
  ended_at bigint,
  due_at bigint NOT NULL,
  working_directory text,
  metadata json,
  initialize_params json,
  -- the last event seq handed out; kept when events are trimmed or purged, so seqs are never reused
  last_event_seq bigint NOT NULL DEFAULT 0
)`,
      `CREATE INDEX ${ident(`${t.prefix}sessions_due_idx`)} ON ${t.sessions} (due_at)`,
      `CREATE INDEX ${ident(`${t.prefix}sessions_list_idx`)} ON ${t.sessions} (status, last_heartbeat_at, id)`,
      `CREATE TABLE ${t.state} (
  session_id text COLLATE "C" NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
  agent_id text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  value json NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint,
  PRIMARY KEY (session_id, agent_id, key)
)`,
      `CREATE INDEX ${ident(`${t.prefix}state_expires_idx`)} ON ${t.state} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE ${t.events} (
  session_id text COLLATE "C" NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  stream_id text NOT NULL,
  message json NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (session_id, seq)
)`,
    ],
  },
  {
    // Each event's byte size (UTF-8 of its JSON text), for the byte budget of trimEvents: summed
    // without reading (or detoasting) the messages. `json` keeps the text as written, so the
    // sizes of events written before are exact too.
    version: 2,
    statements: (t) => [
      `ALTER TABLE ${t.events} ADD COLUMN size integer`,
      `UPDATE ${t.events} SET size = octet_length(message::text)`,
      `ALTER TABLE ${t.events} ALTER COLUMN size SET NOT NULL`,
    ],
  },
  {
    // Contract v2: `list` is ordered by creation, then id. That index holds nothing a heartbeat
    // or a lifecycle change writes; the (status, last_heartbeat_at, id) one it replaces did.
    version: 3,
    statements: (t) => [
      `DROP INDEX IF EXISTS ${t.schema}.${ident(`${t.prefix}sessions_list_idx`)}`,
      `CREATE INDEX IF NOT EXISTS ${ident(`${t.prefix}sessions_created_idx`)} ON ${t.sessions} (created_at, id)`,
    ],
  },
  {
    // The tasks facet: a table of its own, no foreign key to sessions (a task outlives its
    // session; deleting a session leaves its tasks). The status is not checked here: core owns
    // the list, the read parses it. Partial indexes hold only the tasks a claim or a sweep can
    // find: terminal tasks have no lease, and tasks without a ttl never expire.
    version: 4,
    statements: (t) => [
      `CREATE TABLE ${t.tasks} (
  id text COLLATE "C" PRIMARY KEY,
  principal text,
  created_at bigint NOT NULL,
  request json NOT NULL,
  rerunnable boolean NOT NULL,
  status text NOT NULL,
  version bigint NOT NULL,
  status_message text,
  updated_at bigint NOT NULL,
  ttl_ms bigint,
  expires_at bigint,
  poll_interval_ms bigint,
  worker_id text,
  lease_until bigint,
  attempts integer NOT NULL,
  input_requests json,
  result json,
  error json
)`,
      `CREATE INDEX ${ident(`${t.prefix}tasks_lease_idx`)} ON ${t.tasks} (lease_until) WHERE lease_until IS NOT NULL`,
      `CREATE INDEX ${ident(`${t.prefix}tasks_expires_idx`)} ON ${t.tasks} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE INDEX ${ident(`${t.prefix}tasks_created_idx`)} ON ${t.tasks} (created_at, id)`,
    ],
  },
];

/** Creates the version table; safe to run again. */
export function versionTableSql(t: TableNames): string {
  return `CREATE TABLE IF NOT EXISTS ${t.versions} (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
}

/**
 * The whole schema as one SQL script, for teams that migrate with their own tools (then pass
 * `migrate: false`). Records the version, so the store's own migration is a no-op afterwards.
 *
 * @example
 * ```ts
 * writeFileSync('migrations/001_mcp_sessions.sql', migrationSql({ schema: 'app' }));
 * ```
 */
export function migrationSql(options: SchemaOptions = {}): string {
  const t = tableNames(options);
  const parts = [
    `CREATE SCHEMA IF NOT EXISTS ${t.schema}`,
    versionTableSql(t),
    ...MIGRATIONS.flatMap((m) => [
      ...m.statements(t),
      `INSERT INTO ${t.versions} (version) VALUES (${m.version})`,
    ]),
  ];
  return `-- @mcp-sessions/postgres schema version ${SCHEMA_VERSION}\nBEGIN;\n${parts.map((p) => `${p};\n`).join('')}COMMIT;\n`;
}

const SESSION_COLUMNS = `id, status, version, principal, owner_id, created_at, last_heartbeat_at,
  disconnected_at, grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at,
  working_directory, metadata::text AS metadata, initialize_params::text AS initialize_params`;
const TASK_COLUMNS = `id, principal, created_at, request::text AS request, rerunnable, status, version,
  status_message, updated_at, ttl_ms, expires_at, poll_interval_ms, worker_id, lease_until, attempts,
  input_requests::text AS input_requests, result::text AS result, error::text AS error`;
/** Live means not ended (contract v2): the lifecycle sets `ended_at`; no status name is spelled here. */
const LIVE = 'ended_at IS NULL';

export interface Statement {
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
  const listTasks = (after: boolean) => `SELECT ${TASK_COLUMNS} FROM ${t.tasks}
    ${after ? 'WHERE (created_at, id) < ($2::bigint, $3::text COLLATE "C")' : ''}
    ORDER BY created_at DESC, id DESC LIMIT $1`;
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
    // ON CONFLICT leaves an existing task alone: a taken id is refused, the first task kept.
    insertTask: `INSERT INTO ${t.tasks} (id, principal, created_at, request, rerunnable, status, version,
      status_message, updated_at, ttl_ms, expires_at, poll_interval_ms, worker_id, lease_until, attempts,
      input_requests, result, error)
      VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::json, $17::json, $18::json)
      ON CONFLICT (id) DO NOTHING`,
    getTask: `SELECT ${TASK_COLUMNS} FROM ${t.tasks} WHERE id = $1`,
    // The state columns only: the identity (principal, created_at, request, rerunnable) is written once.
    compareAndSetTask: `UPDATE ${t.tasks} SET (status, version, status_message, updated_at, ttl_ms,
      expires_at, poll_interval_ms, worker_id, lease_until, attempts, input_requests, result, error) =
      ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::json, $12::json, $13::json)
      WHERE id = $14 AND version = $15`,
    // The lease and its holder decide, never the status: a terminal task has no lease.
    renewTaskLeases: `UPDATE ${t.tasks} SET lease_until = $3, version = version + 1
      WHERE id = ANY($1::text[]) AND lease_until IS NOT NULL AND worker_id = $2 RETURNING id`,
    // As claimDue: SKIP LOCKED gives each lapsed task to one claimer, `= ANY(ARRAY(...))` keeps
    // the update on the primary key in a generic plan.
    claimLapsedTasks: `WITH lapsed AS MATERIALIZED (
        SELECT id, lease_until FROM ${t.tasks} WHERE lease_until IS NOT NULL AND lease_until <= $1
        ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE ${t.tasks} SET worker_id = $3, lease_until = $4, version = version + 1
        WHERE id = ANY(ARRAY(SELECT id FROM lapsed))
        RETURNING ${TASK_COLUMNS}
      )
      SELECT claimed.* FROM claimed JOIN lapsed USING (id) ORDER BY lapsed.lease_until, claimed.id`,
    // SKIP LOCKED: a concurrent sweep deletes other tasks instead of waiting on these.
    deleteExpiredTasks: `DELETE FROM ${t.tasks} WHERE id = ANY(ARRAY(
        SELECT id FROM ${t.tasks} WHERE expires_at IS NOT NULL AND expires_at <= $1
        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))`,
    listTasks: listTasks(false),
    listTasksAfter: listTasks(true),
  };
  return Object.fromEntries(
    Object.entries(texts).map(([key, text]) => [key, { name: `mcp_sessions_${hash(text)}`, text }]),
  ) as Record<keyof typeof texts, Statement>;
}

export type Statements = ReturnType<typeof statements>;

// --- Internal helpers ---

/** A quoted identifier (the patterns above already exclude quotes; this doubles any anyway). */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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
