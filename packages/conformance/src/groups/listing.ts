import assert from 'node:assert/strict';
import type { SessionRecord, SessionStatus, SessionStore } from '@mcp-sessions/core';
import { type ListAfter, SESSION_STATUSES } from '@mcp-sessions/core/adapter';
import { assertSameSequence } from '../assert';
import {
  bump,
  compareAndSetRecord,
  compareListOrder,
  inBatches,
  MINUTE,
  makeRecord,
  recordWithStatus,
  sessionId,
} from '../fixtures';
import type { GroupDefinition } from '../harness';

/**
 * `list`: keyset pages ordered by createdAt desc, id desc (binary), filtered by status. Nothing a
 * heartbeat changes is in the order, so records never move between pages.
 */
export const listing: GroupDefinition = {
  id: 'listing',
  tests: [
    {
      title: 'an empty store lists nothing',
      async run({ store }) {
        assert.deepStrictEqual(
          await store.list({ statuses: SESSION_STATUSES, limit: 10 }),
          [],
          'list of an empty store is empty',
        );
      },
    },
    {
      title: 'orders by createdAt descending, then id descending; never by heartbeat',
      async run({ store, clock }) {
        const t = clock.now();
        // Heartbeats in the opposite order to creation: a store ordering by lastHeartbeatAt fails.
        const records = [
          makeRecord('b', t + 1, { lastHeartbeatAt: t + 30 }),
          makeRecord('a', t + 1, { lastHeartbeatAt: t + 40 }),
          makeRecord('c', t, { lastHeartbeatAt: t + 50 }),
          makeRecord('d', t + 2, { lastHeartbeatAt: t + 10 }),
          makeRecord('a2', t + 1, { lastHeartbeatAt: t + 20 }),
        ];
        for (const r of records) await store.insert(r);
        const page = await store.list({ statuses: SESSION_STATUSES, limit: 10 });
        assert.deepStrictEqual(
          page.map((r) => r.id),
          ['d', 'b', 'a2', 'a', 'c'],
          'list orders by createdAt descending, then id descending, whatever the heartbeats',
        );
        assert.deepStrictEqual(
          page.find((r) => r.id === 'd'),
          records[3],
          'list returns whole records',
        );
      },
    },
    {
      title: 'ids compare in binary (code-unit) order, not by locale',
      async run({ store, clock }) {
        const ids = ['a', 'B', 'A', 'b', '_', '~', '0', 'aa', 'a-b', 'a_b', 'Z', 'z', '-', '.', 'ab', 'A-'];
        for (const id of ids) await store.insert(makeRecord(id, clock.now()));
        const expected = [...ids].sort().reverse();
        const page = await store.list({ statuses: SESSION_STATUSES, limit: 100 });
        assert.deepStrictEqual(
          page.map((r) => r.id),
          expected,
          'list orders ids by code point, descending, not by locale',
        );
      },
    },
    {
      title: 'filters by status',
      async run({ store, clock }) {
        const now = clock.now();
        for (const [i, status] of SESSION_STATUSES.entries()) {
          await store.insert(recordWithStatus(`${status}-1`, now + i, status));
          await store.insert(recordWithStatus(`${status}-2`, now + i, status));
        }
        const ids = async (statuses: readonly SessionStatus[]) =>
          (await store.list({ statuses, limit: 100 })).map((r) => r.id);
        assert.deepStrictEqual(
          await ids(['active']),
          ['active-2', 'active-1'],
          'list returns only records with one of the given statuses (active)',
        );
        assert.deepStrictEqual(
          await ids(['disconnected', 'closed']),
          ['closed-2', 'closed-1', 'disconnected-2', 'disconnected-1'],
          'list returns only records with one of the given statuses (disconnected, closed), in list order',
        );
        assert.deepStrictEqual(
          await ids(['expired']),
          ['expired-2', 'expired-1'],
          'list returns only records with one of the given statuses (expired)',
        );
        assert.equal((await ids(SESSION_STATUSES)).length, 8, 'list with every status returns every record');
      },
    },
    {
      title: 'limit caps the page',
      async run({ store, clock }) {
        for (let i = 0; i < 5; i++) await store.insert(makeRecord(sessionId('l', i), clock.now() + i));
        const page = await store.list({ statuses: SESSION_STATUSES, limit: 3 });
        assert.deepStrictEqual(
          page.map((r) => r.id),
          [sessionId('l', 4), sessionId('l', 3), sessionId('l', 2)],
          'list returns at most limit records, the first in list order',
        );
        assert.equal(
          (await store.list({ statuses: SESSION_STATUSES, limit: 1 })).length,
          1,
          'list with limit 1 returns one record',
        );
        assert.equal(
          (await store.list({ statuses: SESSION_STATUSES, limit: 50 })).length,
          5,
          'list with a limit above the count returns every record',
        );
      },
    },
    {
      title: 'after is strictly after the position, which need not be a stored record',
      async run({ store, clock }) {
        const t = clock.now();
        for (const id of ['a', 'b', 'c']) await store.insert(makeRecord(id, t));
        await store.insert(makeRecord('z', t + 10));
        await store.insert(makeRecord('old', t - 10));
        const ids = async (after: ListAfter) =>
          (await store.list({ statuses: SESSION_STATUSES, limit: 10, after })).map((r) => r.id);
        assert.deepStrictEqual(
          await ids({ createdAt: t, id: 'b' }),
          ['a', 'old'],
          'list returns records strictly after the after position',
        );
        assert.deepStrictEqual(
          await ids({ createdAt: t, id: 'bb' }),
          ['b', 'a', 'old'],
          'an after position need not be a stored record (between b and c)',
        );
        assert.deepStrictEqual(
          await ids({ createdAt: t + 5, id: 'a' }),
          ['c', 'b', 'a', 'old'],
          'an after position between creation times starts at the next lower createdAt',
        );
        assert.deepStrictEqual(
          await ids({ createdAt: t + 10, id: 'z' }),
          ['c', 'b', 'a', 'old'],
          'list after the first record returns the rest, in order',
        );
        assert.deepStrictEqual(
          await ids({ createdAt: t - 10, id: 'old' }),
          [],
          'list after the last record is empty',
        );
        assert.deepStrictEqual(
          await ids({ createdAt: t, id: '' }),
          ['old'],
          'an empty after id sorts before every id',
        );
      },
    },
    {
      title: 'touch and compareAndSet do not move a record; a deleted one leaves the list',
      async run({ store, clock }) {
        const t = clock.now();
        for (let i = 0; i < 4; i++) await store.insert(makeRecord(sessionId('m', i), t + i));
        const now = clock.advance(1000);
        assert.deepStrictEqual(
          await store.touch([sessionId('m', 0)], { now, dueAt: now + MINUTE }),
          [sessionId('m', 0)],
          'touch updates the active record',
        );
        const m1 = await store.get(sessionId('m', 1));
        assert.ok(m1, 'get returns the inserted record');
        assert.equal(
          await compareAndSetRecord(
            store,
            bump(m1, {
              status: 'disconnected',
              lastHeartbeatAt: now,
              disconnectedAt: now,
              dueAt: now + MINUTE,
            }),
            m1.version,
          ),
          true,
          'compareAndSet at the stored version writes',
        );
        await store.delete(sessionId('m', 2));
        const listed = await store.list({ statuses: SESSION_STATUSES, limit: 10 });
        assert.deepStrictEqual(
          listed.map((r) => r.id),
          [sessionId('m', 3), sessionId('m', 1), sessionId('m', 0)],
          'touch and compareAndSet leave a record at its createdAt position; delete removes it from the list',
        );
        assert.deepStrictEqual(
          listed.map((r) => r.lastHeartbeatAt),
          [t + 3, now, now],
          'list returns the records as touch and compareAndSet left them',
        );
      },
    },
    {
      title: 'pages read while records are touched and written: every record exactly once, none moved',
      async run({ store, clock, count }) {
        const t = clock.now();
        const n = count(600);
        // Creation times with ties, inserted in a scrambled order.
        const records = scramble(
          Array.from({ length: n }, (_, j) => makeRecord(sessionId('hb', j), t + (j % 7))),
        );
        await inBatches(records, 200, (r) => store.insert(r));
        const expected = [...records].sort(compareListOrder).map((r) => r.id);
        const ids: string[] = [];
        let after: ListAfter | undefined;
        for (let page = 0; ; page++) {
          const got = await store.list({ statuses: SESSION_STATUSES, limit: 37, after });
          ids.push(...got.map((r) => r.id));
          if (got.length < 37 || ids.length > n) break;
          const last = got[got.length - 1]!;
          after = { createdAt: last.createdAt, id: last.id };
          // Between pages, heartbeat records already read and records not read yet, as a live
          // manager would; every other page, also write a liveness change through compareAndSet.
          const now = clock.advance(1000);
          const touched = [ids[page]!, expected[(page * 53) % n]!, expected[n - 1 - page]!];
          await store.touch(touched, { now, dueAt: now + MINUTE });
          if (page % 2 === 0) {
            const current = await store.get(expected[(page * 31 + 7) % n]!);
            assert.ok(current, 'get returns the inserted record');
            await compareAndSetRecord(
              store,
              bump(current, { ownerId: `writer-${page}`, lastHeartbeatAt: now }),
              current.version,
            );
          }
        }
        assertSameSequence(ids, expected, 'pages of 37 read between heartbeats and compare-and-sets');
        assertSameSequence(
          (await store.list({ statuses: SESSION_STATUSES, limit: n + 1 })).map((r) => r.id),
          expected,
          'one page after the heartbeats: the order as inserted',
        );
      },
    },
    {
      title: 'keyset pagination over 10k records has no duplicates, gaps or reordering',
      async run({ store, clock, count }) {
        const t = clock.now();
        const n = count(10_000);
        // Few distinct creation times (many ties), heartbeats in another order, statuses
        // interleaved, inserted in a scrambled order.
        const records = scramble(
          Array.from({ length: n }, (_, j) => ({
            ...recordWithStatus(sessionId('k', j), t + (j % 53), SESSION_STATUSES[(j >> 1) % 4]!),
            lastHeartbeatAt: t + ((j * 7) % 31),
          })),
        );
        await inBatches(records, 200, (r) => store.insert(r));
        const filters: readonly (readonly SessionStatus[])[] = [
          SESSION_STATUSES,
          ['active'],
          ['disconnected', 'closed'],
        ];
        for (const statuses of filters) {
          const expected = records
            .filter((r) => statuses.includes(r.status))
            .sort(compareListOrder)
            .map((r) => r.id);
          const got = await paginate(store, statuses, 97, expected.length);
          assertSameSequence(got, expected, `pages of 97 over [${statuses.join(', ')}]`);
        }
      },
    },
    {
      title: 'keyset pagination when every record has the same createdAt',
      async run({ store, clock, count }) {
        const n = count(1000);
        const ids = scramble(Array.from({ length: n }, (_, i) => sessionId('tie', i)));
        await inBatches(ids, 200, (id) => store.insert(makeRecord(id, clock.now())));
        const expected = [...ids].sort().reverse();
        for (const limit of [7, 100, 333]) {
          assertSameSequence(
            await paginate(store, SESSION_STATUSES, limit, n),
            expected,
            `pages of ${limit}`,
          );
        }
      },
    },
  ],
};

/** Walks pages as `getActiveSessions` does; stops early once more than `expected` ids came back. */
async function paginate(
  store: SessionStore,
  statuses: readonly SessionStatus[],
  limit: number,
  expected: number,
): Promise<string[]> {
  const ids: string[] = [];
  let after: ListAfter | undefined;
  for (;;) {
    const page: SessionRecord[] = await store.list({ statuses, limit, after });
    assert.ok(page.length <= limit, `a page of ${page.length} records exceeds limit ${limit}`);
    ids.push(...page.map((r) => r.id));
    if (page.length < limit || ids.length >= expected + limit) return ids;
    const last = page[page.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}

/** A fixed shuffle (so a failure reproduces), to keep insertion order from matching list order. */
function scramble<T>(items: T[]): T[] {
  let seed = 42;
  for (let i = items.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = seed % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
