/**
 * SQLite: the store through SessionManager against a raw better-sqlite3 prepared statement doing
 * the same single write or read (on the store's own connection, so pragmas and cache match); a
 * 100k-session heartbeat tick against the seed's one-UPDATE-per-session loop; and a sweep of 1k
 * due sessions in a table of 1M against one of 10k. Files live in a temp directory, removed at
 * teardown. See bench/results/sqlite.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, generateSessionId, SessionManager } from '@mcp-sessions/core';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import type { BenchGroup, BenchSuite } from '../harness';

const GRACE_MS = 24 * 3600 * 1000;
const RECOVERIES = 5000;
const TICK_SESSIONS = 100_000;
const SWEEP_BATCH = 1000;
const INIT_PARAMS = JSON.stringify({
  protocolVersion: '2025-06-18',
  capabilities: { sampling: {} },
  clientInfo: { name: 'bench', version: '1.0.0' },
});

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-sqlite-'));
const stores: SqliteSessionStore[] = [];
const managers: SessionManager[] = [];

function open(name: string): SqliteSessionStore {
  const store = new SqliteSessionStore({ filename: join(dir, `${name}.db`) });
  stores.push(store);
  return store;
}

function manager(store: SqliteSessionStore, clock: Clock = { now: () => Date.now() }): SessionManager {
  const m = new SessionManager({
    store,
    timers: false,
    clock,
    gracePeriodMs: GRACE_MS,
    maxRecoveryAttempts: 1_000_000,
    tombstoneMs: GRACE_MS,
    instanceId: 'bench',
  });
  managers.push(m);
  return m;
}

/**
 * `count` sessions with fresh random ids (as `generateSessionId` makes them: sequential ids
 * would flatter every b-tree), in one transaction. `dueExpr` may use `n` (1..count) and `:now`.
 */
function bulk(
  store: SqliteSessionStore,
  count: number,
  status: string,
  dueExpr: string,
  now = Date.now(),
): string[] {
  const ids = Array.from({ length: count }, generateSessionId);
  const series = 'WITH g(n, id) AS (SELECT key + 1, value FROM json_each(:ids))';
  store.db.transaction(() => {
    store.db
      .prepare(
        `${series} INSERT INTO mcp_sessions_sessions (id, status, version, owner_id, created_at,
           last_heartbeat_at, disconnected_at, grace_expires_at, recovery_attempts, due_at)
         SELECT id, :status, 1, 'bench', :now, :now,
           CASE WHEN :status = 'disconnected' THEN :now END,
           CASE WHEN :status = 'disconnected' THEN ${dueExpr} END, 0, ${dueExpr}
         FROM g`,
      )
      .run({ ids: JSON.stringify(ids), status, now });
    store.db
      .prepare(
        `${series} INSERT INTO mcp_sessions_session_data (id, initialize_params) SELECT id, :params FROM g`,
      )
      .run({ ids: JSON.stringify(ids), params: INIT_PARAMS });
  })();
  store.db.exec('ANALYZE');
  return ids;
}

const suite: BenchSuite = {
  name: 'sqlite',

  async groups(): Promise<BenchGroup[]> {
    const main = open('main');
    const db = main.db;
    const m = manager(main);
    const hot = generateSessionId();
    await m.initialize(hot, { initializeParams: JSON.parse(INIT_PARAMS) });
    const value = { plan: ['search', 'summarise', 'answer'], step: 2, notes: 'x'.repeat(200) };
    await m.saveAgentState('planner', hot, 'plan', value);

    // Recover: each call needs a disconnected session of its own. One set per case.
    const sets = {
      rm: bulk(main, RECOVERIES + 50, 'disconnected', `:now + ${GRACE_MS}`),
      rr: bulk(main, RECOVERIES + 50, 'disconnected', `:now + ${GRACE_MS}`),
      rc: bulk(main, RECOVERIES + 50, 'disconnected', `:now + ${GRACE_MS}`),
      rj: bulk(main, RECOVERIES + 50, 'disconnected', `:now + ${GRACE_MS}`),
    };
    const next = (tag: keyof typeof sets) => {
      const id = sets[tag].pop();
      if (id === undefined) throw new Error(`ran out of ${tag} sessions`);
      return id;
    };
    const recoverSet = `status = 'active', owner_id = ?, last_heartbeat_at = ?, disconnected_at = NULL,
      grace_expires_at = NULL, recovery_attempts = recovery_attempts + 1, recovered_at = ?, due_at = ?,
      version = version + 1`;
    const rawRecover = db.prepare(
      `UPDATE mcp_sessions_sessions SET ${recoverSet} WHERE id = ? AND status = 'disconnected'
        AND grace_expires_at > ? AND recovery_attempts < ?`,
    );
    const rawGet = db.prepare('SELECT * FROM mcp_sessions_sessions WHERE id = ?');
    // What recover must read: the record and its identity (initialize params), as the store's get
    // (`+?` keeps the primary key plan once the tables are analyzed).
    const rawGetRecord = db.prepare(
      `SELECT * FROM mcp_sessions_sessions AS s JOIN mcp_sessions_session_data AS d ON d.id = s.id
        WHERE s.id = +?`,
    );
    const rawCas = db.prepare(`UPDATE mcp_sessions_sessions SET ${recoverSet} WHERE id = ? AND version = ?`);

    const rawTouch = db.prepare(
      `UPDATE mcp_sessions_sessions SET last_heartbeat_at = ?, due_at = ?, version = version + 1
        WHERE id = ? AND status = 'active'`,
    );
    const rawSetState = db.prepare(
      `INSERT INTO mcp_sessions_agent_state (session_id, agent_id, key, value, updated_at, expires_at)
        SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM mcp_sessions_sessions
          WHERE id = ? AND status IN ('active', 'disconnected'))
        ON CONFLICT (session_id, agent_id, key) DO UPDATE SET
          value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
    );
    const rawGetState = db.prepare(
      `SELECT value, updated_at, expires_at FROM mcp_sessions_agent_state
        WHERE session_id = ? AND agent_id = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
    );

    // 100k sessions held by one manager (attached, as after a restart behind a balancer).
    const tickStore = open('tick');
    const tickIds = bulk(tickStore, TICK_SESSIONS, 'active', `:now + ${GRACE_MS}`);
    const ticker = manager(tickStore);
    for (const id of tickIds) await ticker.resume(id);
    const seedTouch = tickStore.db.prepare(
      `UPDATE mcp_sessions_sessions SET last_heartbeat_at = ?, status = 'active' WHERE id = ?`,
    );

    // Sweep: disconnected sessions whose grace ends 1 ms apart; each run moves the clock 1k further.
    const sweepGroup = async (name: string, size: number) => {
      const store = open(name);
      const start = Date.now();
      bulk(store, size, 'disconnected', ':now + n', start);
      let k = 0;
      const sweeper = manager(store, { now: () => start + k * SWEEP_BATCH });
      return async () => {
        k++;
        if (k * SWEEP_BATCH > size) throw new Error('sweep ran out of due sessions');
        const result = await sweeper.cleanupExpired();
        if (result.expired !== SWEEP_BATCH)
          throw new Error(`swept ${result.expired}, expected ${SWEEP_BATCH}`);
      };
    };
    const sweepSmall = await sweepGroup('s10k', 10_000);
    const populate = Date.now();
    const sweepLarge = await sweepGroup('s1m', 1_000_000);
    process.stderr.write(
      `sqlite: 1M sessions bulk-loaded in ${((Date.now() - populate) / 1000).toFixed(1)} s\n`,
    );

    return [
      {
        name: 'heartbeat',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw UPDATE by id (prepared)',
          fn: () => {
            const t = Date.now();
            rawTouch.run(t, t + GRACE_MS, hot);
          },
        },
        subjects: [{ name: 'manager.heartbeat', fn: () => m.heartbeat(hot) }],
      },
      {
        name: 'recover',
        goal: 'ratio <= 1.5',
        iterations: RECOVERIES,
        baseline: {
          name: 'raw one conditional UPDATE',
          fn: () => {
            const t = Date.now();
            if (rawRecover.run('bench', t, t, t + GRACE_MS, next('rr'), t, 1_000_000).changes !== 1) {
              throw new Error('raw recover failed');
            }
          },
        },
        subjects: [
          { name: 'manager.recover (get + CAS)', fn: () => m.recover(next('rm')) },
          {
            name: 'raw SELECT of the whole record + CAS UPDATE',
            fn: () => {
              const id = next('rj');
              const t = Date.now();
              const row = rawGetRecord.get(id) as { version: number; initialize_params: string };
              JSON.parse(row.initialize_params);
              if (rawCas.run('bench', t, t, t + GRACE_MS, id, row.version).changes !== 1) {
                throw new Error('raw CAS failed');
              }
            },
          },
          {
            name: 'raw SELECT of the sessions row only + CAS UPDATE',
            fn: () => {
              const id = next('rc');
              const t = Date.now();
              const row = rawGet.get(id) as { version: number };
              if (rawCas.run('bench', t, t, t + GRACE_MS, id, row.version).changes !== 1) {
                throw new Error('raw CAS failed');
              }
            },
          },
        ],
      },
      {
        name: 'saveAgentState',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw INSERT ... WHERE EXISTS ON CONFLICT',
          fn: () => {
            rawSetState.run(hot, 'planner', 'raw', JSON.stringify(value), Date.now(), null, hot);
          },
        },
        subjects: [
          { name: 'manager.saveAgentState', fn: () => m.saveAgentState('planner', hot, 'plan', value) },
        ],
      },
      {
        name: 'loadAgentState',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw SELECT by primary key + JSON.parse',
          fn: () => {
            const row = rawGetState.get(hot, 'planner', 'plan', Date.now()) as { value: string };
            return JSON.parse(row.value);
          },
        },
        subjects: [{ name: 'manager.loadAgentState', fn: () => m.loadAgentState('planner', hot, 'plan') }],
      },
      {
        name: `heartbeat tick, ${TICK_SESSIONS / 1000}k sessions`,
        goal: 'median < 1 s',
        iterations: 5,
        baseline: {
          name: "seed's loop: one UPDATE per session",
          fn: () => {
            const t = Date.now();
            for (const id of tickIds) seedTouch.run(t, id);
          },
        },
        subjects: [
          {
            name: 'manager.tick() (100 batched UPDATEs)',
            fn: async () => {
              const touched = await ticker.tick();
              if (touched !== TICK_SESSIONS) throw new Error(`touched ${touched}`);
            },
          },
        ],
      },
      {
        name: 'sweep 1k due sessions (expire + purge)',
        goal: 'ratio <= 2',
        // 1 warm-up + 8 runs = 9k of the small table's 10k due sessions.
        iterations: 8,
        baseline: { name: 'table of 10k', fn: sweepSmall },
        subjects: [{ name: 'table of 1M', fn: sweepLarge }],
      },
    ];
  },

  async teardown() {
    await Promise.all(managers.splice(0).map((m) => m.dispose()));
    for (const store of stores.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;
