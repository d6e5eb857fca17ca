import assert from 'node:assert/strict';
import {
  bump,
  compareAndSetRecord,
  inBatches,
  MINUTE,
  makeRecord,
  recordWithStatus,
  sessionId,
} from '../fixtures';
import type { GroupDefinition } from '../harness';

/** claimDue: due records, earliest first, limited, leased. Index use is not observable: behaviour only. */
export const due: GroupDefinition = {
  id: 'due',
  tests: [
    {
      title: 'claims records with dueAt <= now, earliest first',
      async run({ store, clock }) {
        const t = clock.now();
        for (const [id, at] of [
          ['d10', 10],
          ['d5', 5],
          ['d20', 20],
          ['d15', 15],
          ['d16', 16],
        ] as const) {
          await store.insert(makeRecord(id, t, { dueAt: t + at }));
        }
        const claimed = await store.claimDue({ now: t + 15, limit: 10, leaseMs: MINUTE });
        assert.deepStrictEqual(
          claimed.map((r) => r.id),
          ['d5', 'd10', 'd15'],
          'claimDue takes records with dueAt <= now, earliest dueAt first',
        );
      },
    },
    {
      title: 'a record is due exactly at its dueAt',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('edge', t, { dueAt: t + 100 }));
        assert.deepStrictEqual(
          await store.claimDue({ now: t + 99, limit: 10, leaseMs: MINUTE }),
          [],
          'claimDue takes nothing before dueAt',
        );
        assert.equal(
          (await store.claimDue({ now: t + 100, limit: 10, leaseMs: MINUTE })).length,
          1,
          'a record is due at dueAt exactly (dueAt <= now)',
        );
      },
    },
    {
      title: 'claims at most limit records, the earliest',
      async run({ store, clock }) {
        const t = clock.now();
        for (let i = 0; i < 6; i++)
          await store.insert(makeRecord(sessionId('lim', i), t, { dueAt: t + 60 - i * 10 }));
        const first = await store.claimDue({ now: t + 60, limit: 2, leaseMs: MINUTE });
        assert.deepStrictEqual(
          first.map((r) => r.id),
          [sessionId('lim', 5), sessionId('lim', 4)],
          'claimDue takes at most limit records, the earliest due',
        );
        const second = await store.claimDue({ now: t + 60, limit: 3, leaseMs: MINUTE });
        assert.deepStrictEqual(
          second.map((r) => r.id),
          [sessionId('lim', 3), sessionId('lim', 2), sessionId('lim', 1)],
          'a second claimDue takes the next earliest, at most limit',
        );
      },
    },
    {
      title: 'claimed records are leased: dueAt = now + leaseMs, version + 1, not claimed again before',
      async run({ store, clock }) {
        const t = clock.now();
        const record = makeRecord('lease', t, { dueAt: t + 10, metadata: { keep: 'me' }, principal: 'p' });
        await store.insert(record);
        const now = t + 20;
        const [claimed] = await store.claimDue({ now, limit: 10, leaseMs: 5000 });
        assert.deepStrictEqual(
          claimed,
          { ...record, dueAt: now + 5000, version: 2 },
          'claimDue returns the record as leased: dueAt = now + leaseMs, version + 1',
        );
        assert.deepStrictEqual(await store.get('lease'), claimed, 'claimDue stores the lease');
        assert.deepStrictEqual(
          await store.claimDue({ now, limit: 10, leaseMs: 5000 }),
          [],
          'a leased record is not claimed again at the same instant',
        );
        assert.deepStrictEqual(
          await store.claimDue({ now: now + 4999, limit: 10, leaseMs: 5000 }),
          [],
          'a leased record is not claimed again before the lease ends',
        );
        const again = await store.claimDue({ now: now + 5000, limit: 10, leaseMs: 5000 });
        assert.deepStrictEqual(
          again.map((r) => [r.id, r.version, r.dueAt]),
          [['lease', 3, now + 10_000]],
          'claimable again once the lease is over',
        );
      },
    },
    {
      title: 'claims records of every status',
      async run({ store, clock }) {
        const t = clock.now();
        for (const status of ['active', 'disconnected', 'expired', 'closed'] as const) {
          await store.insert({ ...recordWithStatus(status, t, status), dueAt: t + 1 });
        }
        const claimed = await store.claimDue({ now: t + 1, limit: 10, leaseMs: MINUTE });
        assert.deepStrictEqual(
          claimed.map((r) => r.id).sort(),
          ['active', 'closed', 'disconnected', 'expired'],
          'claimDue takes due records of every status',
        );
      },
    },
    {
      title: 'a rescheduled record is due at its new dueAt only',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('touched', t, { dueAt: t + 10 }));
        await store.insert(makeRecord('later', t, { dueAt: t + 10 }));
        await store.insert(makeRecord('sooner', t, { dueAt: t + 1000 }));
        await store.touch(['touched'], { now: t + 5, dueAt: t + 2000 });
        const later = await store.get('later');
        const sooner = await store.get('sooner');
        assert.ok(later && sooner, 'get returns the inserted records');
        assert.equal(
          await compareAndSetRecord(store, bump(later, { dueAt: t + 3000 }), later.version),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.equal(
          await compareAndSetRecord(store, bump(sooner, { dueAt: t + 20 }), sooner.version),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.deepStrictEqual(
          (await store.claimDue({ now: t + 100, limit: 10, leaseMs: MINUTE })).map((r) => r.id),
          ['sooner'],
          'claimDue goes by the dueAt last written (compareAndSet, touch), not the first',
        );
        assert.deepStrictEqual(
          (await store.claimDue({ now: t + 2500, limit: 10, leaseMs: MINUTE })).map((r) => r.id),
          ['touched'],
          'a touched record is due at the dueAt touch set',
        );
      },
    },
    {
      title: 'deleted records are not claimed',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('gone', t, { dueAt: t + 1 }));
        await store.insert(makeRecord('here', t, { dueAt: t + 2 }));
        await store.delete('gone');
        assert.deepStrictEqual(
          (await store.claimDue({ now: t + 10, limit: 10, leaseMs: MINUTE })).map((r) => r.id),
          ['here'],
          'claimDue takes no deleted record',
        );
        assert.equal(await store.get('gone'), undefined, 'claimDue does not resurrect a deleted record');
      },
    },
    {
      title: 'repeated claims drain every due record exactly once, in dueAt order',
      async run({ store, clock, count }) {
        const t = clock.now();
        const n = count(1000);
        const ids = Array.from({ length: n }, (_, i) => sessionId('drain', i));
        // dueAt spread over 100 distinct instants, plus records that are not due yet.
        const dueOf = new Map(ids.map((id, i) => [id, t + ((i * 37) % 100)]));
        await inBatches(ids, 200, (id) => store.insert(makeRecord(id, t, { dueAt: dueOf.get(id)! })));
        await store.insert(makeRecord('not-yet', t, { dueAt: t + 101 }));
        const seen: string[] = [];
        let lastDue = Number.NEGATIVE_INFINITY;
        for (let round = 0; round < n; round++) {
          const batch = await store.claimDue({ now: t + 100, limit: 64, leaseMs: MINUTE });
          assert.ok(batch.length <= 64, `claimed ${batch.length} with limit 64`);
          for (const r of batch) {
            const originalDue = dueOf.get(r.id);
            assert.ok(originalDue !== undefined, `claimed ${r.id}, which is not due`);
            assert.ok(
              originalDue >= lastDue,
              `${r.id} (due ${originalDue}) claimed after one due ${lastDue}`,
            );
            lastDue = originalDue;
            seen.push(r.id);
          }
          if (batch.length < 64) break;
        }
        assert.equal(new Set(seen).size, seen.length, 'no record claimed twice');
        assert.deepStrictEqual(
          new Set(seen),
          new Set(ids),
          'repeated claimDue calls take every due record, none that is not due',
        );
      },
    },
    {
      title: 'records due at the same instant: each claimed by one call only, the rest stay due',
      async run({ store, clock }) {
        const t = clock.now();
        const ids = Array.from({ length: 10 }, (_, i) => sessionId('tie', i));
        for (const id of [...ids].reverse()) await store.insert(makeRecord(id, t, { dueAt: t + 5 }));
        await store.insert(makeRecord('earlier', t, { dueAt: t + 4 }));
        const first = await store.claimDue({ now: t + 5, limit: 4, leaseMs: MINUTE });
        assert.equal(first[0]?.id, 'earlier', 'claimDue takes the earlier dueAt before the tie');
        const claimed = first.slice(1).map((r) => r.id);
        for (let round = 0; round < 10 && claimed.length < ids.length; round++) {
          const batch = await store.claimDue({ now: t + 5, limit: 4, leaseMs: MINUTE });
          assert.ok(batch.length > 0, 'records of the tie not yet claimed stay due');
          claimed.push(...batch.map((r) => r.id));
        }
        assert.equal(new Set(claimed).size, claimed.length, 'no record of a tie is claimed by two calls');
        assert.deepStrictEqual(
          [...claimed].sort(),
          ids,
          'a limit cutting through a tie leaves the rest due: later calls take every one',
        );
        assert.deepStrictEqual(
          await store.claimDue({ now: t + 5, limit: 10, leaseMs: MINUTE }),
          [],
          'once all are leased, none is claimed again before the lease ends',
        );
      },
    },
  ],
};
