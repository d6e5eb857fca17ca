/**
 * The statements that must not scan whole tables use their indexes: checked with EXPLAIN on
 * the store's own statement texts over 20k sessions (and 20k tasks), not on copies of the SQL.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { PgPoolClientLike } from '../src/index';
import { statements, tableNames } from '../src/sql';
import { fileSchema, url, warnIfNoServer } from './support';

warnIfNoServer('query-plan.test.ts');

describe.skipIf(!url)('query plans', () => {
  const db = fileSchema('plan_test');
  afterAll(() => db.drop());

  it('claimDue, list, touch, compareAndSet and purgeExpiredState go through their indexes', async () => {
    const store = db.store({ tablePrefix: 'plan_' });
    try {
      await store.migrate();
      const t = tableNames({ schema: db.schema, tablePrefix: 'plan_' });
      const sql = statements(t);
      await store.pool.query(
        `INSERT INTO ${t.sessions} (id, status, version, created_at, last_heartbeat_at, recovery_attempts, due_at)
         SELECT 's' || g, CASE WHEN g % 4 = 0 THEN 'disconnected' ELSE 'active' END, 1, g, g, 0, g
         FROM generate_series(1, 20000) AS g`,
      );
      await store.pool.query(
        `INSERT INTO ${t.state} (session_id, agent_id, key, value, updated_at, expires_at)
         SELECT 's' || g, 'a', 'k', '1', g, CASE WHEN g % 2 = 0 THEN g END FROM generate_series(1, 20000) AS g`,
      );
      await store.pool.query(`ANALYZE ${t.sessions}; ANALYZE ${t.state}`);
      const client = await store.pool.connect();
      const plan = planner(client);
      try {
        await client.query('BEGIN'); // EXPLAIN of data-modifying statements does not run them
        const claim = await plan(sql.claimDue.text, '100, 10, 1000');
        expect(claim).toContain('plan_sessions_due_idx');
        // list walks the creation index newest first and stops at the limit: no sort of every row.
        const lists = [
          await plan(sql.list.text, `'{active,disconnected}', 10`),
          await plan(sql.listAfter.text, `'{active,disconnected}', 10, 500, 's500'`),
        ];
        for (const list of lists) {
          expect(list).toContain('Index Scan Backward using plan_sessions_created_idx');
          expect(list).not.toMatch(/Sort/);
        }
        const touch = await plan(sql.touch.text, `'{s1,s2,s3}', 1, 2`);
        expect(touch).toContain('plan_sessions_pkey');
        const cas = await plan(
          sql.compareAndSet.text,
          `'active', 2, 'o', 1, null, null, 0, null, null, 9, 's1', 1`,
        );
        expect(cas).toContain('plan_sessions_pkey');
        const purge = await plan(sql.purgeExpiredState.text, '100');
        expect(purge).toContain('plan_state_expires_idx');
        for (const p of [claim, ...lists, touch, cas, purge]) expect(p).not.toMatch(/Seq Scan/);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    } finally {
      await store.close();
    }
  });

  it('the task statements go through their indexes: lease, expiry, creation, primary key', async () => {
    const store = db.store({ tablePrefix: 'tplan_' });
    try {
      await store.migrate();
      const t = tableNames({ schema: db.schema, tablePrefix: 'tplan_' });
      const sql = statements(t);
      // 20k tasks: one in ten still leased (the rest terminal, no lease), half with a ttl.
      await store.pool.query(
        `INSERT INTO ${t.tasks} (id, created_at, request, rerunnable, status, version, updated_at,
           ttl_ms, expires_at, worker_id, lease_until, attempts)
         SELECT 't' || g, g, '{"method":"x"}', false, CASE WHEN g % 10 = 0 THEN 'working' ELSE 'completed' END,
           1, g, CASE WHEN g % 2 = 0 THEN 1000 END, CASE WHEN g % 2 = 0 THEN g + 1000 END,
           CASE WHEN g % 10 = 0 THEN 'w' END, CASE WHEN g % 10 = 0 THEN g + 30 END, 1
         FROM generate_series(1, 20000) AS g`,
      );
      await store.pool.query(`ANALYZE ${t.tasks}`);
      const client = await store.pool.connect();
      const plan = planner(client);
      try {
        await client.query('BEGIN'); // EXPLAIN of data-modifying statements does not run them
        const claim = await plan(sql.claimLapsedTasks.text, `100, 10, 'w2', 1000`);
        expect(claim).toContain('tplan_tasks_lease_idx');
        expect(claim).toContain('tplan_tasks_pkey');
        const sweep = await plan(sql.deleteExpiredTasks.text, '100, 10');
        expect(sweep).toContain('tplan_tasks_expires_idx');
        expect(sweep).toContain('tplan_tasks_pkey');
        const lists = [
          await plan(sql.listTasks.text, '10'),
          await plan(sql.listTasksAfter.text, `10, 500, 't500'`),
        ];
        for (const list of lists) {
          expect(list).toContain('Index Scan Backward using tplan_tasks_created_idx');
          expect(list).not.toMatch(/Sort/);
        }
        const renew = await plan(sql.renewTaskLeases.text, `'{t10,t20,t30}', 'w', 2000`);
        expect(renew).toContain('tplan_tasks_pkey');
        const get = await plan(sql.getTask.text, `'t10'`);
        expect(get).toContain('tplan_tasks_pkey');
        const cas = await plan(
          sql.compareAndSetTask.text,
          `'working', 2, null, 5, null, null, null, 'w', 60, 1, null, null, null, 't10', 1`,
        );
        expect(cas).toContain('tplan_tasks_pkey');
        for (const p of [claim, sweep, ...lists, renew, get, cas]) expect(p).not.toMatch(/Seq Scan/);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    } finally {
      await store.close();
    }
  });
});

// --- Internal helpers ---

/** The plan of a statement text with its parameters, as EXPLAIN prints it. */
function planner(client: PgPoolClientLike) {
  return async (text: string, params: string): Promise<string> => {
    // A generic plan: what a prepared statement settles on after a few executions.
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE p AS ${text}`);
    try {
      const { rows } = await client.query(`EXPLAIN EXECUTE p(${params})`);
      return rows.map((r) => String(r['QUERY PLAN'])).join('\n');
    } finally {
      await client.query('DEALLOCATE p');
    }
  };
}
