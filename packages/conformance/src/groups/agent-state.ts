import assert from 'node:assert/strict';
import {
  type AgentStateEntry,
  type JsonValue,
  SessionNotFoundError,
  type SessionStatus,
  type SessionStore,
} from '@mcp-sessions/core';
import { compareNames } from '@mcp-sessions/core/adapter';
import { rejectsWith } from '../assert';
import { bump, compareAndSetRecord, MINUTE, makeRecord, recordWithStatus } from '../fixtures';
import type { GroupDefinition } from '../harness';

/** Agent state: (sessionId, agentId, key) → JSON, with absolute expiry decided by the `now` argument. */
export const agentState: GroupDefinition = {
  id: 'state',
  tests: [
    {
      title: 'set then get returns the whole entry',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        const forever = entry('s', 'planner', 'plan', { steps: [1, 2], done: false }, now, null);
        const expiring = entry('s', 'planner', 'draft', 'text', now, now + MINUTE);
        await store.setState(forever);
        await store.setState(expiring);
        assert.deepStrictEqual(
          await store.getState(forever, now),
          forever,
          'getState returns the whole entry setState wrote (no expiry)',
        );
        assert.deepStrictEqual(
          await store.getState(expiring, now),
          expiring,
          'getState returns the whole entry setState wrote (expiring later)',
        );
      },
    },
    {
      title: 'set upserts: value, updatedAt and expiresAt are replaced',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.setState(entry('s', 'a', 'k', { v: 1, old: true }, now, now + MINUTE));
        const second = entry('s', 'a', 'k', { v: 2 }, now + 5, null);
        await store.setState(second);
        assert.deepStrictEqual(
          await store.getState(second, now + 5),
          second,
          'setState upserts: the second write replaces value, updatedAt and expiresAt',
        );
        assert.deepStrictEqual(
          await store.getState(second, now + 2 * MINUTE),
          second,
          'an upsert with expiresAt null no longer expires',
        );
        assert.equal(
          (await store.listState('s', undefined, now)).length,
          1,
          'an upsert replaces the entry, it does not add one',
        );
      },
    },
    {
      title: 'a revived entry is not purged by its old expiry',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.setState(entry('s', 'a', 'k', 'old', now, now + 1000));
        await store.setState(entry('s', 'a', 'k', 'new', now + 1, now + 10 * MINUTE));
        assert.ok(
          (await store.purgeExpiredState(now + 2000)) === 0,
          'purgeExpiredState goes by the latest expiresAt, not an overwritten one',
        );
        assert.equal(
          (await store.getState(key('s', 'a', 'k'), now + 2000))?.value,
          'new',
          'getState returns the value of the latest setState',
        );
      },
    },
    {
      title: 'get of a missing entry returns undefined',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.setState(entry('s', 'a', 'k', 1, now, null));
        assert.equal(
          await store.getState(key('s', 'a', 'other'), now),
          undefined,
          'getState of a missing key returns undefined',
        );
        assert.equal(
          await store.getState(key('s', 'other', 'k'), now),
          undefined,
          'getState of a missing agentId returns undefined',
        );
        assert.equal(
          await store.getState(key('nobody', 'a', 'k'), now),
          undefined,
          'getState of a missing session returns undefined',
        );
      },
    },
    {
      title: 'entries are scoped by session, agent and key',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s1', now));
        await store.insert(makeRecord('s2', now));
        const cells: [string, string, string][] = [
          ['s1', 'a', 'k'],
          ['s1', 'b', 'k'],
          ['s1', 'a', 'j'],
          ['s2', 'a', 'k'],
        ];
        for (const [s, a, k] of cells) await store.setState(entry(s, a, k, `${s}/${a}/${k}`, now, null));
        for (const [s, a, k] of cells) {
          assert.equal(
            (await store.getState(key(s, a, k), now))?.value,
            `${s}/${a}/${k}`,
            `${s}/${a}/${k}: entries are keyed by (sessionId, agentId, key)`,
          );
        }
        assert.equal(
          await store.deleteState(key('s1', 'a', 'k')),
          true,
          'deleteState of a stored entry returns true',
        );
        assert.equal(
          await store.getState(key('s1', 'a', 'k'), now),
          undefined,
          'deleteState removes the entry',
        );
        for (const [s, a, k] of cells.slice(1)) {
          assert.equal(
            (await store.getState(key(s, a, k), now))?.value,
            `${s}/${a}/${k}`,
            'deleteState removes one entry, the others stay',
          );
        }
      },
    },
    {
      title: 'agent ids and keys never collide when concatenated',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.insert(makeRecord('s:a', now));
        const cells: [string, string, string][] = [
          ['s', 'a', 'b:c'],
          ['s', 'a:b', 'c'],
          ['s', 'a:b:c', 'x'],
          ['s:a', 'b', 'c'],
          ['s', 'a/b', 'c'],
          ['s', 'a', 'b/c'],
          ['s', 'a|b', 'c'],
          ['s', 'a', 'b|c'],
          ['s', 'a.b', 'c'],
          ['s', 'a', 'b.c'],
        ];
        for (const [s, a, k] of cells) await store.setState(entry(s, a, k, [s, a, k], now, null));
        for (const [s, a, k] of cells) {
          assert.deepStrictEqual(
            (await store.getState(key(s, a, k), now))?.value,
            [s, a, k],
            `${s}/${a}/${k}: no separator lets two (agentId, key) pairs or sessions collide`,
          );
        }
        assert.equal(
          (await store.listState('s', undefined, now)).length,
          cells.length - 1,
          "listState of a session lists each of its entries once, not another session's",
        );
        assert.deepStrictEqual(
          (await store.listState('s', 'a', now)).map((e) => e.key),
          ['b.c', 'b/c', 'b:c', 'b|c'],
          'listState of one agent orders by key in code point order',
        );
      },
    },
    {
      title: 'never returns an entry at or after its expiresAt (moving the clock, no sleeps)',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.setState(entry('s', 'a', 'k', 'v', now, now + MINUTE));
        await store.setState(entry('s', 'a', 'forever', 'v', now, null));
        assert.equal(
          (await store.getState(key('s', 'a', 'k'), now + MINUTE - 1))?.value,
          'v',
          'getState returns an entry before its expiresAt',
        );
        assert.deepStrictEqual(
          (await store.listState('s', undefined, now + MINUTE - 1)).map((e) => e.key),
          ['forever', 'k'],
          'listState lists entries before their expiresAt',
        );
        clock.advance(MINUTE);
        assert.equal(
          await store.getState(key('s', 'a', 'k'), clock.now()),
          undefined,
          'getState returns undefined at expiresAt',
        );
        assert.equal(
          await store.getState(key('s', 'a', 'k'), clock.advance(1)),
          undefined,
          'getState returns undefined after expiresAt',
        );
        assert.deepStrictEqual(
          (await store.listState('s', undefined, clock.now())).map((e) => e.key),
          ['forever'],
          'listState omits entries at or after their expiresAt',
        );
        assert.deepStrictEqual(
          (await store.listState('s', 'a', clock.now())).map((e) => e.key),
          ['forever'],
          'listState of one agent omits entries at or after their expiresAt',
        );
      },
    },
    {
      title: 'deleteState returns true once, then false',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.setState(entry('s', 'a', 'k', 1, now, null));
        assert.equal(
          await store.deleteState(key('s', 'a', 'k')),
          true,
          'deleteState of a stored entry returns true',
        );
        assert.equal(
          await store.deleteState(key('s', 'a', 'k')),
          false,
          'deleteState of an already deleted entry returns false',
        );
        assert.equal(
          await store.deleteState(key('nobody', 'a', 'k')),
          false,
          'deleteState in a missing session returns false',
        );
        assert.equal(
          await store.getState(key('s', 'a', 'k'), now),
          undefined,
          'deleteState removes the entry',
        );
      },
    },
    {
      title: 'listState orders by agentId then key and filters by agent',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.insert(makeRecord('t', now));
        const agents = ['b', 'a', 'B', '_a', 'a-1'];
        const keys = ['z', 'a', 'A', '_', '10', '9'];
        for (const a of agents)
          for (const k of keys) await store.setState(entry('s', a, k, `${a}.${k}`, now, null));
        await store.setState(entry('t', 'a', 'other-session', 1, now, null));
        const all = await store.listState('s', undefined, now);
        const expected = [...agents].sort().flatMap((a) => [...keys].sort().map((k) => `${a}.${k}`));
        assert.deepStrictEqual(
          all.map((e) => e.value),
          expected,
          'listState orders by agentId, then key (code point order)',
        );
        assert.ok(
          all.every((e) => e.sessionId === 's'),
          'listState lists only the asked session',
        );
        const onlyA = await store.listState('s', 'a', now);
        assert.deepStrictEqual(
          onlyA.map((e) => e.key),
          [...keys].sort(),
          "listState with an agentId lists that agent's entries, ordered by key",
        );
        assert.deepStrictEqual(
          onlyA[0],
          entry('s', 'a', '10', 'a.10', now, null),
          'listState returns whole entries',
        );
        assert.deepStrictEqual(
          await store.listState('s', 'nobody', now),
          [],
          'listState of an agent with no entries is empty',
        );
        assert.deepStrictEqual(
          await store.listState('nobody', undefined, now),
          [],
          'listState of a missing session is empty',
        );
      },
    },
    {
      title: 'listState orders non-ASCII names by code point (UTF-8 byte order)',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        // UTF-16 code-unit order would put the emoji (a surrogate pair) before U+E000..U+FFFF.
        const keys = ['\u{1F600}', '\uFFFD', '\uE000', 'z', '\u00E9'];
        for (const k of keys) await store.setState(entry('s', 'a', k, k, now, null));
        const listed = (await store.listState('s', 'a', now)).map((e) => e.key);
        assert.deepStrictEqual(
          listed,
          [...keys].sort(compareNames),
          'listState orders keys by code point (compareNames)',
        );
        assert.deepStrictEqual(
          listed,
          ['z', '\u00E9', '\uE000', '\uFFFD', '\u{1F600}'],
          'listState orders keys by code point, not UTF-16 code unit',
        );
      },
    },
    {
      title: 'purgeExpiredState deletes expired entries only and counts no more than it deleted',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('s1', t));
        await store.insert(makeRecord('s2', t));
        const expiring: [string, string, number | null][] = [
          ['s1', 'e1', t + 1000],
          ['s1', 'e2', t + 2000],
          ['s2', 'e3', t + 1500],
          ['s1', 'later', t + 2001],
          ['s2', 'later', t + 10 * MINUTE],
          ['s1', 'never', null],
          ['s2', 'never', null],
        ];
        for (const [s, k, at] of expiring) await store.setState(entry(s, 'a', k, k, t, at));
        const purged = await store.purgeExpiredState(t + 2000);
        assert.ok(purged >= 0 && purged <= 3, `purged ${purged}, but only 3 entries were expired`);
        // Read at the original time: a purged entry is gone even for a reader whose clock is behind.
        for (const [s, k] of [
          ['s1', 'e1'],
          ['s1', 'e2'],
          ['s2', 'e3'],
        ] as const) {
          assert.equal(await store.getState(key(s, 'a', k), t), undefined, `${s}/${k} purged`);
        }
        assert.deepStrictEqual(
          (await store.listState('s1', undefined, t)).map((e) => e.key),
          ['later', 'never'],
          'purgeExpiredState keeps unexpired entries of s1',
        );
        assert.deepStrictEqual(
          (await store.listState('s2', undefined, t)).map((e) => e.key),
          ['later', 'never'],
          'purgeExpiredState keeps unexpired entries of s2',
        );
        assert.equal(await store.purgeExpiredState(t + 2000), 0, 'a second purgeExpiredState finds nothing');
      },
    },
    {
      title: 'setState needs a live session: missing, expired and closed are SessionNotFoundError',
      async run({ store, clock }) {
        const now = clock.now();
        await expectNotWritable(store, 'missing', now);
        for (const status of ['expired', 'closed'] as const) {
          await store.insert(recordWithStatus(status, now, status));
          await expectNotWritable(store, status, now);
        }
      },
    },
    {
      title: 'setState works on active and disconnected sessions',
      async run({ store, clock }) {
        const now = clock.now();
        for (const status of ['active', 'disconnected'] as SessionStatus[]) {
          await store.insert(recordWithStatus(status, now, status));
          await store.setState(entry(status, 'a', 'k', status, now, null));
          assert.equal(
            (await store.getState(key(status, 'a', 'k'), now))?.value,
            status,
            `setState on a ${status} session writes`,
          );
        }
      },
    },
    {
      title: 'live means endedAt null: setState and appendEvent refuse an ended record, whatever its status',
      async run({ store, clock }) {
        const now = clock.now();
        const record = makeRecord('ended', now);
        await store.insert(record);
        await store.setState(entry('ended', 'a', 'before', 1, now, null));
        assert.ok(
          await compareAndSetRecord(
            store,
            bump(record, { status: 'expired', endedAt: now + 1, dueAt: now + MINUTE }),
            record.version,
          ),
          'compareAndSet at the stored version writes',
        );
        await expectNotWritable(store, 'ended', now, 1);
        await rejectsWith(
          store.appendEvent({ sessionId: 'ended', streamId: 's', message: 1, createdAt: now }),
          SessionNotFoundError,
          'appendEvent on a session compareAndSet ended',
        );
        // The lifecycle never writes these; they show the guard reads endedAt, not a list of statuses.
        for (const status of ['active', 'disconnected'] as const) {
          const id = `${status}-but-ended`;
          await store.insert({ ...recordWithStatus(id, now, status), endedAt: now });
          await expectNotWritable(store, id, now);
          await rejectsWith(
            store.appendEvent({ sessionId: id, streamId: 's', message: 1, createdAt: now }),
            SessionNotFoundError,
            `appendEvent on a ${status} record whose endedAt is set`,
          );
          assert.deepStrictEqual(
            await store.readEvents({ sessionId: id, afterSeq: 0 }),
            [],
            'a refused appendEvent writes nothing',
          );
        }
      },
    },
  ],
};

/** Builds an entry; `expiresAt` null means no expiry. */
export function entry(
  sessionId: string,
  agentId: string,
  k: string,
  value: JsonValue,
  updatedAt: number,
  expiresAt: number | null,
): AgentStateEntry {
  return { sessionId, agentId, key: k, value, updatedAt, expiresAt };
}

export function key(sessionId: string, agentId: string, k: string) {
  return { sessionId, agentId, key: k };
}

/** setState on `sessionId` is refused and writes nothing; `stored` entries were there before. */
async function expectNotWritable(
  store: SessionStore,
  sessionId: string,
  now: number,
  stored = 0,
): Promise<void> {
  await rejectsWith(
    store.setState(entry(sessionId, 'a', 'k', 'v', now, null)),
    SessionNotFoundError,
    `setState on a ${sessionId} session`,
  );
  assert.equal(
    await store.getState(key(sessionId, 'a', 'k'), now),
    undefined,
    'a refused setState writes nothing',
  );
  assert.equal(
    (await store.listState(sessionId, undefined, now)).length,
    stored,
    'a refused setState adds no entry',
  );
}
