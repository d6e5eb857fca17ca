import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSql, type StatementName, statements } from '../src/sql';
import { tempDir } from './helpers';

const PREFIX = 'mcp_sessions_';
/** A full scan of a table (by name or alias); scans of json_each and subquery results are fine. */
const TABLE_SCAN = /^SCAN (?!json_each\b|\(subquery)/;
/** `sessions` is WITHOUT ROWID: its primary key is the table. */
const SESSION = 'SEARCH (s|mcp_sessions_sessions) USING PRIMARY KEY \\(id=\\?\\)';
const DATA =
  'SEARCH (d|mcp_sessions_session_data) USING INDEX sqlite_autoindex_mcp_sessions_session_data_1 \\(id=\\?\\)';
const TASK =
  'SEARCH mcp_sessions_tasks USING (COVERING )?INDEX sqlite_autoindex_mcp_sessions_tasks_1 \\(id=\\?\\)';
/** Ordered walks of an index that stop at the limit: the only `SCAN` allowed, exactly this one. */
const ORDERED_WALKS: Partial<Record<StatementName, string>> = {
  listTasks: 'SCAN mcp_sessions_tasks USING INDEX mcp_sessions_tasks_by_created',
};

let tmp: ReturnType<typeof tempDir>;
let store: SqliteSessionStore;

beforeAll(() => {
  tmp = tempDir();
  store = new SqliteSessionStore({ filename: tmp.file() });
  // Enough rows, of every status, that a scan would be a real choice for the planner.
  const statuses = ['active', 'disconnected', 'expired', 'closed'];
  const insert = store.db.prepare(
    `INSERT INTO ${PREFIX}sessions (id, status, version, created_at, last_heartbeat_at, recovery_attempts, due_at)
     VALUES (?, ?, 1, 0, ?, 0, ?)`,
  );
  const data = store.db.prepare(`INSERT INTO ${PREFIX}session_data (id, metadata) VALUES (?, '{}')`);
  const state = store.db.prepare(
    `INSERT INTO ${PREFIX}agent_state (session_id, agent_id, key, value, updated_at, expires_at) VALUES (?, 'a', ?, '1', 0, ?)`,
  );
  const event = store.db.prepare(
    `INSERT INTO ${PREFIX}events (session_id, seq, stream_id, size, message, created_at) VALUES (?, ?, 's', 2, '{}', ?)`,
  );
  // Tasks with and without a lease (terminal ones hold none) and with and without a ttl.
  const task = store.db.prepare(
    `INSERT INTO ${PREFIX}tasks (id, created_at, rerunnable, request, status, version, updated_at, ttl_ms,
       expires_at, worker_id, lease_until, attempts) VALUES (?, ?, 0, '{}', 'working', 1, 0, ?, ?, ?, ?, 1)`,
  );
  store.db.transaction(() => {
    for (let i = 0; i < 5000; i++) {
      const id = `s${i}`;
      insert.run(id, statuses[i % 4], i % 977, (i * 31) % 5000);
      data.run(id);
      for (let k = 0; k < 3; k++) state.run(id, `k${k}`, k === 0 ? null : i + k);
      for (let seq = 1; seq <= 3; seq++) event.run(id, seq, i);
      const lease = i % 3 === 0 ? null : (i * 31) % 5000;
      const ttl = i % 4 === 0 ? null : 1000;
      task.run(`t${i}`, i % 977, ttl, ttl === null ? null : i + ttl, lease === null ? null : 'w', lease);
    }
  })();
});

afterAll(async () => {
  await store.close();
  tmp.cleanup();
});

function plan(sql: string): string[] {
  const params = Array.from(sql.matchAll(/\?/g), () => 1);
  return (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map(
    (r) => r.detail,
  );
}

/** What each statement must use; `null` for statements with no table lookup (plain inserts). */
const EXPECTED: Record<StatementName, RegExp | null> = {
  metaCreate: null,
  metaGetVersion: /SEARCH mcp_sessions_meta USING INDEX/,
  metaSetVersion: null,
  insert: null,
  insertData: null,
  get: new RegExp(`^(${SESSION} \\| ${DATA}|${DATA} \\| ${SESSION})$`),
  compareAndSet: new RegExp(SESSION),
  touchOne: new RegExp(SESSION),
  touchMany: new RegExp(SESSION),
  deleteRecord: new RegExp(SESSION),
  deleteData: new RegExp(DATA),
  selectDue: new RegExp(`SEARCH s USING INDEX mcp_sessions_sessions_by_due \\(due_at<\\?\\) \\| ${DATA}`),
  lease: new RegExp(SESSION),
  setState: /SEARCH mcp_sessions_sessions EXISTS USING PRIMARY KEY \(id=\?\)/,
  getState:
    /USING INDEX sqlite_autoindex_mcp_sessions_agent_state_1 \(session_id=\? AND agent_id=\? AND key=\?\)/,
  deleteState:
    /USING INDEX sqlite_autoindex_mcp_sessions_agent_state_1 \(session_id=\? AND agent_id=\? AND key=\?\)/,
  listState: /USING INDEX sqlite_autoindex_mcp_sessions_agent_state_1 \(session_id=\?\)/,
  listAgentState: /USING INDEX sqlite_autoindex_mcp_sessions_agent_state_1 \(session_id=\? AND agent_id=\?\)/,
  purgeExpiredState: /USING INDEX mcp_sessions_agent_state_by_expiry \(expires_at>\? AND expires_at<\?\)/,
  deleteSessionState: /USING INDEX sqlite_autoindex_mcp_sessions_agent_state_1 \(session_id=\?\)/,
  appendEvent: new RegExp(
    `^${SESSION} \\| CORRELATED SCALAR SUBQUERY 1 \\| SEARCH e USING COVERING INDEX sqlite_autoindex_mcp_sessions_events_1 \\(session_id=\\?\\)$`,
  ),
  keepEventSeq: new RegExp(
    `^${SESSION} \\| SCALAR SUBQUERY 1 \\| SEARCH mcp_sessions_events USING COVERING INDEX sqlite_autoindex_mcp_sessions_events_1 \\(session_id=\\?\\)$`,
  ),
  readEvents: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\? AND seq>\?\)/,
  readStreamEvents: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\? AND seq>\?\)/,
  getEventStream: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\? AND seq=\?\)/,
  trimByAge: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\?\)/,
  trimByCount: /USING COVERING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\? AND seq<\?\)/,
  trimByBytes: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\?\)/,
  deleteSessionEvents: /USING INDEX sqlite_autoindex_mcp_sessions_events_1 \(session_id=\?\)/,
  insertTask: null,
  getTask: new RegExp(`^${TASK}$`),
  compareAndSetTask: new RegExp(`^${TASK}$`),
  renewTaskLeases: new RegExp(`^${TASK} \\| LIST SUBQUERY 1 \\| SCAN json_each`),
  selectLapsedTasks:
    /^SEARCH mcp_sessions_tasks USING COVERING INDEX mcp_sessions_tasks_by_lease \(lease_until>\? AND lease_until<\?\)$/,
  claimTasks: new RegExp(`^${TASK} \\| LIST SUBQUERY 1 \\| SCAN json_each`),
  deleteExpiredTasks:
    /^SEARCH mcp_sessions_tasks USING INTEGER PRIMARY KEY \(rowid=\?\) \| LIST SUBQUERY 1 \| SEARCH mcp_sessions_tasks USING COVERING INDEX mcp_sessions_tasks_by_expiry \(expires_at>\? AND expires_at<\?\)$/,
  listTasks: null,
  listTasksAfter:
    /^SEARCH mcp_sessions_tasks USING INDEX mcp_sessions_tasks_by_created \(\(created_at,id\)<\(\?,\?\)\)$/,
};

function checkAll(): void {
  for (const [name, sql] of Object.entries(statements(PREFIX)) as Array<[StatementName, string]>) {
    const details = plan(sql);
    const walk = ORDERED_WALKS[name];
    if (walk !== undefined) {
      expect(details, name).toEqual([walk]);
      continue;
    }
    for (const d of details) expect(d, `${name}: ${details.join(' | ')}`).not.toMatch(TABLE_SCAN);
    const expected = EXPECTED[name];
    if (expected) expect(details.join(' | '), name).toMatch(expected);
  }
  // Claims, the task sweep and task listing must not sort every matching row to find the first few.
  const sql = statements(PREFIX);
  for (const name of [
    'selectDue',
    'selectLapsedTasks',
    'deleteExpiredTasks',
    'listTasks',
    'listTasksAfter',
  ] as const) {
    expect(plan(sql[name]).join(' | '), name).not.toMatch(/TEMP B-TREE/);
  }
  // list walks the creation index newest first and stops at the limit: the one ordered SCAN
  // allowed (no TEMP B-TREE, so no sort of every row); a keyset page starts with a SEARCH.
  const CREATED = 'mcp_sessions_sessions_by_created';
  for (const count of [1, 2, 4]) {
    for (const keyset of [false, true]) {
      const details = plan(listSql(PREFIX, count, keyset));
      const where = `list(${count}, ${keyset}): ${details.join(' | ')}`;
      expect(details, where).toHaveLength(2);
      expect(details[0], where).toBe(
        keyset ? `SEARCH s USING INDEX ${CREATED} ((created_at,id)<(?,?))` : `SCAN s USING INDEX ${CREATED}`,
      );
      expect(details[1], where).toMatch(new RegExp(DATA));
    }
  }
}

describe('EXPLAIN QUERY PLAN: every statement goes through an index, none scans a table', () => {
  it('would notice a scan', () => {
    expect(plan(`SELECT * FROM ${PREFIX}sessions WHERE principal = ?`)[0]).toMatch(TABLE_SCAN);
    expect(plan(`SELECT * FROM ${PREFIX}sessions AS s WHERE s.owner_id = ?`)[0]).toMatch(TABLE_SCAN);
  });

  it('without statistics', () => {
    checkAll();
  });

  it('after ANALYZE', () => {
    store.db.exec('ANALYZE');
    checkAll();
  });
});
