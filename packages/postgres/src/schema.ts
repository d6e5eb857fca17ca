/**
 * The tables, as versioned migrations. Identifiers are validated and quoted here, once; every
 * statement the store runs is built from `tableNames`.
 */
import { InvalidArgumentError } from '@mcp-sessions/core';

/** The schema version this package writes and reads. Stored in the `<prefix>schema_version` table. */
export const SCHEMA_VERSION = 3;

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

/** A quoted identifier (the patterns above already exclude quotes; this doubles any anyway). */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
