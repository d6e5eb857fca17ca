import { SessionManager, type SessionRecord } from '@mcp-sessions/core';
import { createRecord, type LifecyclePolicy } from '@mcp-sessions/core/adapter';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSchema, url, warnIfNoServer } from './support';

warnIfNoServer('sweep.test.ts');

const RECORDS = 10_000;
const T0 = 1_700_000_000_000;
const policy: LifecyclePolicy = {
  gracePeriodMs: 60_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};

describe.skipIf(!url)('two instances sweeping the same due records', () => {
  const db = fileSchema('sweep_test');
  afterAll(() => db.drop());

  it(`expires each of ${RECORDS} due sessions exactly once, with one 'expired' event each`, async () => {
    // Two stores on two pools over the same tables, as two processes would have.
    const first = db.store({ tablePrefix: 'shared_' });
    const second = db.store({ tablePrefix: 'shared_' });
    try {
      await Promise.all([first.migrate(), second.migrate()]);
      // Disconnected sessions whose grace ended at T0 + 60 s; every tenth one has agent state.
      const ids = Array.from({ length: RECORDS }, (_, i) => `s${String(i).padStart(5, '0')}`);
      for (let i = 0; i < RECORDS; i += 200) {
        await Promise.all(
          ids.slice(i, i + 200).map(async (id, j) => {
            const base = createRecord({ id, ownerId: 'crashed' }, T0, policy);
            const record: SessionRecord = {
              ...base,
              status: 'disconnected',
              disconnectedAt: T0,
              graceExpiresAt: T0 + policy.gracePeriodMs,
              dueAt: T0 + policy.gracePeriodMs,
            };
            await first.insert(record);
            if ((i + j) % 10 === 0) {
              await first.setState({
                sessionId: id,
                agentId: 'a',
                key: 'k',
                value: j,
                updatedAt: T0,
                expiresAt: null,
              });
            }
          }),
        );
      }

      const now = T0 + policy.gracePeriodMs + 1;
      const options = { timers: false, clock: { now: () => now }, cleanupBatchSize: 250, ...policy };
      const managers = [
        new SessionManager({ ...options, store: first, instanceId: 'one' }),
        new SessionManager({ ...options, store: second, instanceId: 'two' }),
      ];
      const expiredEvents = new Map<string, number>();
      for (const m of managers) {
        m.on('expired', (r) => expiredEvents.set(r.id, (expiredEvents.get(r.id) ?? 0) + 1));
      }
      const results = await Promise.all(managers.map((m) => m.cleanupExpired()));

      expect(results[0]!.expired + results[1]!.expired).toBe(RECORDS);
      // Both did part of the work (SKIP LOCKED spread it), neither repeated the other's.
      expect(results[0]!.expired).toBeGreaterThan(0);
      expect(results[1]!.expired).toBeGreaterThan(0);
      expect(expiredEvents.size).toBe(RECORDS);
      expect([...expiredEvents.values()].every((n) => n === 1)).toBe(true);

      const { rows } = await first.pool.query(
        `SELECT status, count(*) AS n FROM "${db.schema}".shared_sessions GROUP BY status`,
      );
      expect(rows).toEqual([{ status: 'expired', n: String(RECORDS) }]);
      const state = await first.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".shared_state`);
      expect(state.rows).toEqual([{ n: 0 }]);
      await Promise.all(managers.map((m) => m.dispose()));
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 120_000);
});
