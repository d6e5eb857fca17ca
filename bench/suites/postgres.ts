/**
 * Postgres: the store through SessionManager against raw `pg` running the same statement
 * (prepared, like the store's), a 100k-session heartbeat tick, and a sweep of 1k due sessions
 * in a table of 1M against one of 10k. Uses MCP_SESSIONS_TEST_POSTGRES_URL, else starts a server.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { SessionManager } from '@mcp-sessions/core';
import { PostgresSessionStore } from '@mcp-sessions/postgres';
import { pgBinDir, startPostgres } from '../../test/services';
import type { BenchGroup, BenchSuite } from '../harness';

const SCHEMA = `bench_${randomBytes(4).toString('hex')}`;
const GRACE_MS = 24 * 3600 * 1000;
const RECOVERIES = 2000;
const TICK_SESSIONS = 100_000;
const SWEEP_BATCH = 1000;
const INIT_PARAMS = JSON.stringify({
  protocolVersion: '2025-06-18',
  capabilities: { sampling: {} },
  clientInfo: { name: 'bench', version: '1.0.0' },
});

let url = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
const cleanup: Array<() => Promise<void>> = [];

const suite: BenchSuite = {
  name: 'postgres',
  unavailable: () =>
    url || pgBinDir() ? undefined : 'no MCP_SESSIONS_TEST_POSTGRES_URL and no Postgres binaries',

  async groups(): Promise<BenchGroup[]> {
    if (!url) {
      server = await startPostgres();
      url = server.url;
    }
    // A plain pg.Pool for the raw baselines (made by a store, whose methods are never called,
    // only because bench/ has no @types/pg of its own).
    // No query timeout on the raw pool: it bulk-loads a million rows in one statement.
    const raw = new PostgresSessionStore({
      connectionString: url,
      schema: SCHEMA,
      migrate: false,
      queryTimeoutMs: 0,
    }).pool;
    cleanup.push(async () => {
      await raw.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
      await raw.end();
    });
    const open = async (tablePrefix: string) => {
      // The 1M-session sweep and tick are measured, not bounded.
      const store = new PostgresSessionStore({
        connectionString: url!,
        schema: SCHEMA,
        tablePrefix,
        queryTimeoutMs: 0,
      });
      cleanup.push(() => store.close());
      await store.migrate();
      return store;
    };
    const main = await open('main_');
    const table = (prefix: string, name: string) => `"${SCHEMA}"."${prefix}${name}"`;
    const sessions = table('main_', 'sessions');
    const state = table('main_', 'state');
    const touchSql = `UPDATE ${sessions} SET last_heartbeat_at = $2, due_at = $3, version = version + 1
      WHERE id = ANY($1::text[]) AND status = 'active' RETURNING id`;
    const now = Date.now();

    /** n sessions `${tag}1..n`, bulk-loaded in one statement. */
    const bulk = async (prefix: string, tag: string, n: number, status: string, due: string) => {
      await raw.query(
        `INSERT INTO ${table(prefix, 'sessions')} (id, status, version, owner_id, created_at, last_heartbeat_at,
           disconnected_at, grace_expires_at, recovery_attempts, due_at, initialize_params)
         SELECT $1 || g, $2, 1, 'bench', $3::bigint, $3::bigint,
           CASE WHEN $2 = 'disconnected' THEN $3::bigint END,
           CASE WHEN $2 = 'disconnected' THEN ${due} END, 0, ${due}, $4::json
         FROM generate_series(1, $5::int) AS g`,
        [tag, status, now, INIT_PARAMS, n],
      );
      // Vacuumed now (hint bits set, all-visible), so autovacuum does not run during the measurements.
      await raw.query(`VACUUM ANALYZE ${table(prefix, 'sessions')}`);
    };

    const manager = (store: PostgresSessionStore, clock: { now(): number } = { now: () => Date.now() }) =>
      new SessionManager({
        store,
        timers: false,
        clock,
        gracePeriodMs: GRACE_MS,
        maxRecoveryAttempts: 1_000_000,
        tombstoneMs: GRACE_MS,
      });
    const m = manager(main);
    const hot = 'hot-session';
    await m.initialize(hot, { initializeParams: JSON.parse(INIT_PARAMS) });
    const value = { plan: ['search', 'summarise', 'answer'], step: 2, notes: 'x'.repeat(200) };
    await m.saveAgentState('planner', hot, 'plan', value);

    // Recover: each call needs a disconnected session of its own. Three sets, one per case.
    for (const tag of ['rm', 'rr', 'rc']) {
      await bulk('main_', tag, RECOVERIES + 50, 'disconnected', `$3::bigint + ${GRACE_MS}`);
    }
    const counters = { rm: 0, rr: 0, rc: 0 };
    const next = (tag: keyof typeof counters) => {
      if (++counters[tag] > RECOVERIES + 50) throw new Error(`ran out of ${tag} sessions`);
      return `${tag}${counters[tag]}`;
    };
    const recoverSet = `status = 'active', owner_id = $2, last_heartbeat_at = $3, disconnected_at = NULL,
      grace_expires_at = NULL, recovery_attempts = recovery_attempts + 1, recovered_at = $3, due_at = $4,
      version = version + 1`;

    // 100k sessions held by one manager (resumed: attached, as after a restart behind a balancer).
    await bulk('main_', 'tick', TICK_SESSIONS, 'active', `$3::bigint + ${GRACE_MS}`);
    const ticker = manager(main);
    const tickIds = Array.from({ length: TICK_SESSIONS }, (_, i) => `tick${i + 1}`);
    for (let i = 0; i < tickIds.length; i += 1000) {
      await Promise.all(tickIds.slice(i, i + 1000).map((id) => ticker.resume(id)));
    }
    // The first passes over freshly loaded rows grow the indexes; measure the steady state instead.
    for (let i = 0; i < 3; i++) await ticker.tick();

    // Sweep: disconnected sessions whose grace ends 1 ms apart; each run moves the clock 1k further.
    const sweepGroup = async (prefix: string, size: number) => {
      const store = await open(prefix);
      await bulk(prefix, 'd', size, 'disconnected', `$3::bigint + g`);
      let k = 0;
      const clock = { now: () => now + k * SWEEP_BATCH };
      const sweeper = manager(store, clock);
      return async () => {
        k++;
        if (k * SWEEP_BATCH > size) throw new Error('sweep ran out of due sessions');
        const result = await sweeper.cleanupExpired();
        if (result.expired !== SWEEP_BATCH)
          throw new Error(`swept ${result.expired}, expected ${SWEEP_BATCH}`);
      };
    };
    const sweepSmall = await sweepGroup('s10k_', 10_000);
    const sweepLarge = await sweepGroup('s1m_', 1_000_000);

    return [
      {
        name: 'heartbeat',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw pg UPDATE ... = ANY($1)',
          fn: () => {
            const t = Date.now();
            return raw.query({ name: 'raw_touch', text: touchSql, values: [[hot], t, t + GRACE_MS] });
          },
        },
        subjects: [{ name: 'manager.heartbeat', fn: () => m.heartbeat(hot) }],
      },
      {
        name: 'recover',
        goal: 'ratio <= 1.5',
        iterations: RECOVERIES,
        baseline: {
          name: 'raw pg one conditional UPDATE',
          fn: async () => {
            const t = Date.now();
            const { rowCount } = await raw.query({
              name: 'raw_recover',
              text: `UPDATE ${sessions} SET ${recoverSet} WHERE id = $1 AND status = 'disconnected'
                AND grace_expires_at > $3 AND recovery_attempts < $5 RETURNING *`,
              values: [next('rr'), 'bench', t, t + GRACE_MS, 1_000_000],
            });
            if (rowCount !== 1) throw new Error('raw recover failed');
          },
        },
        subjects: [
          { name: 'manager.recover (get + CAS)', fn: () => m.recover(next('rm')) },
          {
            name: 'raw pg SELECT + CAS UPDATE',
            fn: async () => {
              const id = next('rc');
              const t = Date.now();
              const { rows } = await raw.query({
                name: 'raw_get',
                text: `SELECT * FROM ${sessions} WHERE id = $1`,
                values: [id],
              });
              const { rowCount } = await raw.query({
                name: 'raw_cas',
                text: `UPDATE ${sessions} SET ${recoverSet} WHERE id = $1 AND version = $5`,
                values: [id, 'bench', t, t + GRACE_MS, rows[0]!.version],
              });
              if (rowCount !== 1) throw new Error('raw CAS failed');
            },
          },
        ],
      },
      {
        name: 'saveAgentState',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw pg INSERT ... SELECT FOR SHARE ON CONFLICT',
          fn: () =>
            raw.query({
              name: 'raw_set_state',
              text: `INSERT INTO ${state} (session_id, agent_id, key, value, updated_at, expires_at)
                SELECT id, $2::text, $3::text, $4::json, $5::bigint, $6::bigint FROM ${sessions}
                WHERE id = $1 AND status IN ('active', 'disconnected') FOR SHARE
                ON CONFLICT (session_id, agent_id, key) DO UPDATE
                SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at`,
              values: [hot, 'planner', 'raw', JSON.stringify(value), Date.now(), null],
            }),
        },
        subjects: [
          { name: 'manager.saveAgentState', fn: () => m.saveAgentState('planner', hot, 'plan', value) },
        ],
      },
      {
        name: 'loadAgentState',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw pg SELECT by primary key',
          fn: async () => {
            const { rows } = await raw.query({
              name: 'raw_get_state',
              text: `SELECT value::text AS value, updated_at, expires_at FROM ${state}
                WHERE session_id = $1 AND agent_id = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > $4)`,
              values: [hot, 'planner', 'plan', Date.now()],
            });
            return JSON.parse(String(rows[0]!.value));
          },
        },
        subjects: [{ name: 'manager.loadAgentState', fn: () => m.loadAgentState('planner', hot, 'plan') }],
      },
      {
        name: `heartbeat tick, ${TICK_SESSIONS / 1000}k sessions`,
        goal: 'median < 1 s',
        iterations: 5,
        baseline: {
          name: 'raw pg, 100 UPDATEs of 1000 ids',
          fn: async () => {
            const t = Date.now();
            for (let i = 0; i < tickIds.length; i += 1000) {
              await raw.query({
                name: 'raw_touch',
                text: touchSql,
                values: [tickIds.slice(i, i + 1000), t, t + GRACE_MS],
              });
            }
          },
        },
        subjects: [
          {
            name: 'manager.tick()',
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
        iterations: 5,
        baseline: { name: 'table of 10k', fn: sweepSmall },
        subjects: [{ name: 'table of 1M', fn: sweepLarge }],
      },
    ];
  },

  async teardown() {
    for (const close of cleanup.reverse()) await close();
    if (server) {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  },
};

export default suite;
