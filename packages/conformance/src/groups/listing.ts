import assert from 'node:assert/strict';
import type { SessionRecord, SessionStatus, SessionStore } from '@mcp-sessions/core';
import { type ListAfter, SESSION_STATUSES } from '@mcp-sessions/core/adapter';
import { assertSameSequence } from '../assert';
import { compareListOrder, inBatches, makeRecord, recordWithStatus, sessionId } from '../fixtures';
import type { GroupDefinition } from '../harness';

/** `list`: keyset pages ordered by lastHeartbeatAt desc, id desc (binary), filtered by status. */
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
      title: 'orders by lastHeartbeatAt descending, then id descending',
      async run({ store, clock }) {
        const t = clock.now();
        const records = [
          makeRecord('b', t + 1),
          makeRecord('a', t + 1),
          makeRecord('c', t),
          makeRecord('d', t + 2),
          makeRecord('a2', t + 1),
        ];
        for (const r of records) await store.insert(r);
        const page = await store.list({ statuses: SESSION_STATUSES, limit: 10 });
        assert.deepStrictEqual(
          page.map((r) => r.id),
          ['d', 'b', 'a2', 'a', 'c'],
          'list orders by lastHeartbeatAt descending, then id descending',
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
          await ids({ lastHeartbeatAt: t, id: 'b' }),
          ['a', 'old'],
          'list returns records strictly after the after position',
        );
        assert.deepStrictEqual(
          await ids({ lastHeartbeatAt: t, id: 'bb' }),
          ['b', 'a', 'old'],
          'an after position need not be a stored record (between b and c)',
        );
        assert.deepStrictEqual(
          await ids({ lastHeartbeatAt: t + 5, id: 'a' }),
          ['c', 'b', 'a', 'old'],
          'an after position between heartbeats starts at the next lower heartbeat',
        );
        assert.deepStrictEqual(
          await ids({ lastHeartbeatAt: t + 10, id: 'z' }),
          ['c', 'b', 'a', 'old'],
          'list after the first record returns the rest, in order',
        );
        assert.deepStrictEqual(
          await ids({ lastHeartbeatAt: t - 10, id: 'old' }),
          [],
          'list after the last record is empty',
        );
        assert.deepStrictEqual(
          await ids({ lastHeartbeatAt: t, id: '' }),
          ['old'],
          'an empty after id sorts before every id',
        );
      },
    },
    {
      title: 'a touched record moves to the front; a deleted one leaves the list',
      async run({ store, clock }) {
        for (let i = 0; i < 4; i++) await store.insert(makeRecord(sessionId('m', i), clock.now() + i));
        const now = clock.advance(1000);
        await store.touch([sessionId('m', 0)], { now, dueAt: now + 1 });
        await store.delete(sessionId('m', 2));
        assert.deepStrictEqual(
          (await store.list({ statuses: SESSION_STATUSES, limit: 10 })).map((r) => r.id),
          [sessionId('m', 0), sessionId('m', 3), sessionId('m', 1)],
          'touch moves a record to the front; delete removes it from the list',
        );
      },
    },
    {
      title: 'keyset pagination over 10k records has no duplicates, gaps or reordering',
      async run({ store, clock, count }) {
        const t = clock.now();
        const n = count(10_000);
        // Few distinct heartbeats (many ties), statuses interleaved, inserted in a scrambled order.
        const records = scramble(
          Array.from({ length: n }, (_, j) =>
            recordWithStatus(sessionId('k', j), t + (j % 53), SESSION_STATUSES[(j >> 1) % 4]!),
          ),
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
      title: 'keyset pagination when every record has the same lastHeartbeatAt',
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
    after = { lastHeartbeatAt: last.lastHeartbeatAt, id: last.id };
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
