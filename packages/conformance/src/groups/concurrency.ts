import assert from 'node:assert/strict';
import {
  RecoveryRefusedError,
  SessionExistsError,
  type SessionManager,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
} from '@mcp-sessions/core';
import { isErrorOf } from '../assert';
import { bump, compareAndSetRecord, inBatches, MINUTE, makeRecord, sessionId } from '../fixtures';
import type { GroupDefinition } from '../harness';
import { entry, key } from './agent-state';

const ATOMIC = ['atomic'] as const;

/** Races: only for stores that declare `atomic` (true for every client of the backend). */
export const concurrency: GroupDefinition = {
  id: 'concurrency',
  tests: [
    {
      title: '50 parallel compare-and-set writers lose no update',
      requires: ATOMIC,
      async run({ store, clock }) {
        await store.insert(makeRecord('counter', clock.now()));
        const wins = await Promise.all(Array.from({ length: 50 }, () => increment(store, 'counter')));
        const record = await store.get('counter');
        assert.equal(record?.recoveryAttempts, 50, 'every increment is counted once');
        assert.equal(record?.version, 51, 'one version per successful write');
        assert.equal(wins.length, 50, 'every parallel compare-and-set writer eventually wins once');
      },
    },
    {
      title: 'parallel touch and compare-and-set both land',
      requires: ATOMIC,
      async run({ store, clock }) {
        await store.insert(makeRecord('mixed', clock.now()));
        const now = clock.advance(1000);
        await Promise.all([
          ...Array.from({ length: 20 }, () => increment(store, 'mixed')),
          ...Array.from({ length: 20 }, () => store.touch(['mixed'], { now, dueAt: now + MINUTE })),
        ]);
        const record = await store.get('mixed');
        assert.equal(
          record?.recoveryAttempts,
          20,
          '20 parallel compare-and-set increments racing touch all land',
        );
        assert.equal(record?.version, 41, '20 writes + 20 touches, each its own version');
        assert.equal(record?.lastHeartbeatAt, now, 'no compare-and-set overwrote a touch');
      },
    },
    {
      title: '20 parallel recover() calls through several managers: exactly one wins, never over the limit',
      requires: ATOMIC,
      async run(ctx) {
        const managers = [
          ctx.manager({ instanceId: 'm0' }),
          ctx.manager({ instanceId: 'm1' }),
          ctx.manager({ instanceId: 'm2' }),
        ];
        const [first] = managers;
        await first!.initialize('race', { principal: 'p' });
        const max = first!.policy.maxRecoveryAttempts;
        for (let round = 1; round <= max + 1; round++) {
          await managers[round % managers.length]!.markDisconnected('race');
          ctx.clock.advance(1000);
          const { winners, refusals } = await recoverInParallel(managers, 'race', 20);
          const record = await ctx.store.get('race');
          assert.ok(record, `round ${round}: the session record still exists`);
          assert.ok(
            record.recoveryAttempts <= max,
            `recoveryAttempts ${record.recoveryAttempts} > limit ${max}`,
          );
          if (round <= max) {
            assert.equal(winners.length, 1, `round ${round}: exactly one recover() succeeds`);
            assert.equal(refusals.length, 19, `round ${round}: every other recover() is refused`);
            assert.equal(record.recoveryAttempts, round, `round ${round}: each recovery counts one attempt`);
            assert.equal(record.status, 'active', `round ${round}: the recovered session is active`);
            assert.equal(
              record.ownerId,
              winners[0]!.ownerId,
              `round ${round}: the stored owner is the winner's instance`,
            );
          } else {
            assert.equal(winners.length, 0, 'no recovery past the limit');
            assert.ok(
              refusals.every((r) => r === 'attempts_exhausted'),
              `a recover() past the limit is refused as attempts_exhausted, got: ${[...new Set(refusals)].join(', ')}`,
            );
            assert.equal(
              record.status,
              'disconnected',
              'a recovery refused past the limit leaves the session disconnected',
            );
          }
        }
      },
    },
    {
      title: '20 parallel recover() calls on a stale session: exactly one wins',
      requires: ATOMIC,
      async run(ctx) {
        const crashed = ctx.manager({ instanceId: 'crashed' });
        await crashed.initialize('stale', { principal: 'p' });
        await crashed.dispose(); // the owner dies without disconnecting
        ctx.clock.advance(crashed.policy.staleAfterMs);
        const managers = [ctx.manager({ instanceId: 'm0' }), ctx.manager({ instanceId: 'm1' })];
        const { winners, refusals } = await recoverInParallel(managers, 'stale', 20);
        assert.equal(winners.length, 1, 'exactly one recover() of a stale session succeeds');
        assert.ok(
          refusals.every((r) => r === 'still_active'),
          `the losers see the session active again (still_active), got: ${[...new Set(refusals)].join(', ')}`,
        );
        assert.equal(
          (await ctx.store.get('stale'))?.recoveryAttempts,
          1,
          "the stale session's recovery counts one attempt",
        );
      },
    },
    {
      title: 'parallel inserts of one id: exactly one succeeds',
      requires: ATOMIC,
      async run({ store, clock }) {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            store.insert(makeRecord('once', clock.now(), { metadata: { i } })),
          ),
        );
        const ok = results.filter((r) => r.status === 'fulfilled');
        assert.equal(ok.length, 1, 'one insert wins');
        for (const r of results) {
          if (r.status === 'rejected')
            assert.ok(
              isErrorOf(r.reason, SessionExistsError),
              `a losing insert rejects with SessionExistsError, got ${r.reason}`,
            );
        }
        const winner = results.findIndex((r) => r.status === 'fulfilled');
        assert.deepStrictEqual(
          (await store.get('once'))?.metadata,
          { i: winner },
          "the winner's record is stored",
        );
      },
    },
    {
      title: 'parallel claimDue calls never claim a record twice',
      requires: ATOMIC,
      async run({ store, clock, count }) {
        const t = clock.now();
        const n = count(200);
        const ids = Array.from({ length: n }, (_, i) => sessionId('claim', i));
        await inBatches(ids, 100, (id, i) => store.insert(makeRecord(id, t, { dueAt: t + (i % 10) })));
        const batches = await Promise.all(
          Array.from({ length: 10 }, () =>
            store.claimDue({ now: t + 10, limit: Math.ceil(n / 7), leaseMs: MINUTE }),
          ),
        );
        const claimed = batches.flat().map((r) => r.id);
        assert.equal(new Set(claimed).size, claimed.length, 'a record was claimed by two sweepers');
        const rest = (await store.claimDue({ now: t + 10, limit: n, leaseMs: MINUTE })).map((r) => r.id);
        assert.deepStrictEqual(
          new Set([...claimed, ...rest]),
          new Set(ids),
          'parallel claims plus a final claim take every due record',
        );
        assert.equal(
          claimed.length + rest.length,
          n,
          'no record is claimed twice across parallel and final claims',
        );
      },
    },
    {
      title: 'parallel appends to one session get distinct seqs',
      requires: ATOMIC,
      async run({ store, clock }) {
        await store.insert(makeRecord('log', clock.now()));
        const seqs = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            store.appendEvent({
              sessionId: 'log',
              streamId: `s${i % 3}`,
              message: i,
              createdAt: clock.now(),
            }),
          ),
        );
        assert.equal(new Set(seqs).size, 100, 'no seq handed out twice');
        const read = await store.readEvents({ sessionId: 'log', afterSeq: 0 });
        assert.deepStrictEqual(
          read.map((e) => e.seq),
          [...seqs].sort((a, b) => a - b),
          'readEvents returns every appended seq, in seq order',
        );
        for (const e of read)
          assert.equal(e.seq, seqs[e.message as number], 'each seq names its own message');
      },
    },
    {
      title: 'setState racing delete leaves no orphaned state',
      requires: ATOMIC,
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('doomed', now));
        const writes = Array.from({ length: 30 }, (_, i) =>
          store.setState(entry('doomed', 'a', `k${i}`, i, now, null)),
        );
        const results = await Promise.allSettled([
          ...writes.slice(0, 15),
          store.delete('doomed'),
          ...writes.slice(15),
        ]);
        for (const r of results) {
          if (r.status === 'rejected')
            assert.ok(
              isErrorOf(r.reason, SessionNotFoundError),
              `setState on a deleted session rejects with SessionNotFoundError, got ${r.reason}`,
            );
        }
        assert.equal(
          await store.get('doomed'),
          undefined,
          'delete removes the record despite racing setState',
        );
        assert.deepStrictEqual(
          await store.listState('doomed', undefined, now),
          [],
          'no agent state outlives its session',
        );
        for (let i = 0; i < 30; i++) {
          assert.equal(
            await store.getState(key('doomed', 'a', `k${i}`), now),
            undefined,
            `k${i} outlived its session`,
          );
        }
      },
    },
  ],
};

/** Read, add 1 to `recoveryAttempts`, compare-and-set; again on a lost race. Returns the winning record. */
async function increment(store: SessionStore, id: string): Promise<SessionRecord> {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const current = await store.get(id);
    assert.ok(current, `${id} vanished`);
    const next = bump(current, { recoveryAttempts: current.recoveryAttempts + 1 });
    if (await compareAndSetRecord(store, next, current.version)) return next;
  }
  assert.fail('compare-and-set never succeeded in 10000 attempts');
}

async function recoverInParallel(
  managers: readonly SessionManager[],
  id: string,
  n: number,
): Promise<{ winners: SessionRecord[]; refusals: string[] }> {
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => managers[i % managers.length]!.recover(id, { principal: 'p' })),
  );
  const winners: SessionRecord[] = [];
  const refusals: string[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') winners.push(r.value);
    else if (isErrorOf(r.reason, RecoveryRefusedError)) refusals.push(r.reason.reason);
    else assert.fail(`recover() failed with something other than RecoveryRefusedError: ${r.reason}`);
  }
  return { winners, refusals };
}
