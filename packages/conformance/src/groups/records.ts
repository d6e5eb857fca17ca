import assert from 'node:assert/strict';
import { SessionExistsError, SessionNotFoundError, StoreUnavailableError } from '@mcp-sessions/core';
import { SESSION_STATUSES } from '@mcp-sessions/core/adapter';
import { rejectsWith } from '../assert';
import {
  bump,
  compareAndSetRecord,
  HOUR,
  MINUTE,
  makeRecord,
  recordWithStatus,
  rpcMessage,
} from '../fixtures';
import type { GroupDefinition } from '../harness';

/** Session records: insert, get, delete, touch, purgeSessionData. */
export const records: GroupDefinition = {
  id: 'records',
  tests: [
    {
      title: 'insert then get returns an equal record',
      async run({ store, clock }) {
        const now = clock.now();
        const full = makeRecord('rec-full', now, {
          principal: 'user-1',
          ownerId: 'instance-a',
          workingDirectory: '/srv/work',
          metadata: { team: 'blue', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null } },
          initializeParams: {
            protocolVersion: '2025-06-18',
            capabilities: { roots: { listChanged: true } },
            clientInfo: { name: 'client', version: '1.0.0' },
          },
          recoveryAttempts: 2,
          recoveredAt: now - 1,
          disconnectedAt: null,
        });
        const bare = makeRecord('rec-bare', now);
        await store.insert(full);
        await store.insert(bare);
        assert.deepStrictEqual(
          await store.get('rec-full'),
          full,
          'get returns the inserted record exactly, every field',
        );
        assert.deepStrictEqual(
          await store.get('rec-bare'),
          bare,
          'get returns the inserted record exactly, nulls included',
        );
        for (const status of SESSION_STATUSES) {
          const record = recordWithStatus(`rec-${status}`, now, status);
          await store.insert(record);
          assert.deepStrictEqual(
            await store.get(record.id),
            record,
            `get returns a ${status} record exactly as inserted`,
          );
        }
      },
    },
    {
      title: 'get of a missing id returns undefined',
      async run({ store, clock }) {
        assert.equal(await store.get('missing'), undefined, 'get of an id never inserted returns undefined');
        await store.insert(makeRecord('present', clock.now()));
        assert.equal(
          await store.get('missing'),
          undefined,
          'get of a missing id returns undefined beside a stored one',
        );
        assert.equal(await store.get('presen'), undefined, 'a prefix of an id is another id');
        assert.equal(
          await store.get('present-'),
          undefined,
          'an id followed by more characters is another id',
        );
      },
    },
    {
      title: 'insert rejects a duplicate id',
      async run({ store, clock }) {
        const original = makeRecord('dup', clock.now(), { metadata: { first: true } });
        await store.insert(original);
        await rejectsWith(
          store.insert(makeRecord('dup', clock.now() + 1, { metadata: { first: false } })),
          SessionExistsError,
          'insert of a taken id',
        );
        assert.deepStrictEqual(await store.get('dup'), original, 'the first record is untouched');
      },
    },
    {
      title: 'insert rejects an id taken by a tombstone',
      async run({ store, clock }) {
        for (const status of ['expired', 'closed'] as const) {
          const tombstone = recordWithStatus(`tomb-${status}`, clock.now(), status);
          await store.insert(tombstone);
          await rejectsWith(
            store.insert(makeRecord(tombstone.id, clock.now())),
            SessionExistsError,
            `insert over a ${status} tombstone`,
          );
          assert.deepStrictEqual(
            await store.get(tombstone.id),
            tombstone,
            `a refused insert leaves the ${status} tombstone as it was`,
          );
        }
      },
    },
    {
      title: 'ids are exact: case, punctuation and length matter',
      async run({ store, clock }) {
        const ids = [
          'abc',
          'ABC',
          'aBc',
          'a:b',
          'a*b',
          'a?b',
          'a%b',
          'a_b',
          '{a}',
          'a\\b',
          "a'b",
          'a"b',
          'x'.repeat(256),
        ];
        for (const [i, id] of ids.entries()) {
          await store.insert(makeRecord(id, clock.now(), { metadata: { i } }));
        }
        for (const [i, id] of ids.entries()) {
          const record = await store.get(id);
          assert.equal(record?.id, id, 'get returns the record with exactly the asked id');
          assert.deepStrictEqual(
            record?.metadata,
            { i },
            `ids are exact: ${JSON.stringify(id.slice(0, 20))} reads its own record`,
          );
        }
        assert.equal(await store.get('abd'), undefined, 'an id differing in one character is another id');
        assert.equal(await store.get('a_c'), undefined, 'ids are exact: _ is not a wildcard');
        assert.equal(await store.get('a%'), undefined, 'ids are exact: % is not a wildcard');
        assert.equal(await store.get('a*'), undefined, 'ids are exact: * is not a wildcard');
      },
    },
    {
      title: 'delete returns true once, then false',
      async run({ store, clock }) {
        await store.insert(makeRecord('del', clock.now()));
        await store.insert(makeRecord('keep', clock.now()));
        assert.equal(await store.delete('del'), true, 'delete of a stored record returns true');
        assert.equal(await store.get('del'), undefined, 'delete removes the record');
        assert.equal(await store.delete('del'), false, 'delete of an already deleted record returns false');
        assert.equal(await store.delete('never-existed'), false, 'delete of a missing record returns false');
        assert.ok(await store.get('keep'), 'delete removes only the given record');
        await store.insert(makeRecord('del', clock.now()));
        assert.ok(await store.get('del'), 'a deleted id can be inserted again');
      },
    },
    {
      title: 'delete cascades to agent state and events',
      async run({ store, clock }) {
        const now = clock.now();
        for (const id of ['gone', 'kept']) {
          await store.insert(makeRecord(id, now));
          await store.setState({
            sessionId: id,
            agentId: 'a',
            key: 'k',
            value: 1,
            updatedAt: now,
            expiresAt: null,
          });
          await store.appendEvent({ sessionId: id, streamId: 's', message: rpcMessage(1), createdAt: now });
        }
        assert.equal(await store.delete('gone'), true, 'delete of a stored record returns true');
        assert.equal(
          await store.getState({ sessionId: 'gone', agentId: 'a', key: 'k' }, now),
          undefined,
          "delete removes the session's agent state",
        );
        assert.deepStrictEqual(
          await store.listState('gone', undefined, now),
          [],
          "delete removes the session's agent state from listState",
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 'gone', afterSeq: 0 }),
          [],
          "delete removes the session's events",
        );
        assert.equal(
          await store.getEventStream('gone', 1),
          undefined,
          "delete removes the session's events from getEventStream",
        );
        await rejectsWith(
          store.setState({
            sessionId: 'gone',
            agentId: 'a',
            key: 'k',
            value: 2,
            updatedAt: now,
            expiresAt: null,
          }),
          SessionNotFoundError,
          'setState on a deleted session',
        );
        await rejectsWith(
          store.appendEvent({ sessionId: 'gone', streamId: 's', message: rpcMessage(2), createdAt: now }),
          SessionNotFoundError,
          'appendEvent on a deleted session',
        );
        // Re-creating the id must not resurrect the old data.
        await store.insert(makeRecord('gone', now));
        assert.equal(
          await store.getState({ sessionId: 'gone', agentId: 'a', key: 'k' }, now),
          undefined,
          "a re-created session has none of the deleted one's agent state",
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 'gone', afterSeq: 0 }),
          [],
          "a re-created session has none of the deleted one's events",
        );
        assert.equal(
          await store.appendEvent({
            sessionId: 'gone',
            streamId: 's',
            message: rpcMessage(3),
            createdAt: now,
          }),
          1,
          'delete removes the event counter with the record: a re-created session counts from seq 1',
        );
        assert.equal(
          (await store.getState({ sessionId: 'kept', agentId: 'a', key: 'k' }, now))?.value,
          1,
          "delete keeps another session's agent state",
        );
        assert.equal(
          (await store.readEvents({ sessionId: 'kept', afterSeq: 0 })).length,
          1,
          "delete keeps another session's events",
        );
      },
    },
    {
      title: 'purgeSessionData deletes state and events but keeps the record',
      async run({ store, clock }) {
        const now = clock.now();
        const record = makeRecord('purged', now);
        await store.insert(record);
        await store.insert(makeRecord('other', now));
        for (const id of ['purged', 'other']) {
          await store.setState({
            sessionId: id,
            agentId: 'a',
            key: 'k',
            value: 'v',
            updatedAt: now,
            expiresAt: null,
          });
          await store.setState({
            sessionId: id,
            agentId: 'b',
            key: 'k',
            value: 'v',
            updatedAt: now,
            expiresAt: now + MINUTE,
          });
          await store.appendEvent({ sessionId: id, streamId: 's', message: rpcMessage(1), createdAt: now });
        }
        await store.purgeSessionData('purged');
        assert.deepStrictEqual(
          await store.get('purged'),
          record,
          'purgeSessionData keeps the record unchanged',
        );
        assert.deepStrictEqual(
          await store.listState('purged', undefined, now),
          [],
          "purgeSessionData deletes the session's agent state",
        );
        assert.equal(
          await store.getState({ sessionId: 'purged', agentId: 'a', key: 'k' }, now),
          undefined,
          'purgeSessionData deletes every agent state entry, expiring or not',
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 'purged', afterSeq: 0 }),
          [],
          "purgeSessionData deletes the session's events",
        );
        assert.equal(
          (await store.listState('other', undefined, now)).length,
          2,
          "another session's state stays",
        );
        assert.equal(
          (await store.readEvents({ sessionId: 'other', afterSeq: 0 })).length,
          1,
          "purgeSessionData keeps another session's events",
        );
        await store.purgeSessionData('never-existed'); // no error
      },
    },
    {
      title: 'touch updates active records only and returns their ids',
      async run({ store, clock }) {
        const now = clock.now();
        for (const status of SESSION_STATUSES) await store.insert(recordWithStatus(status, now, status));
        await store.insert(recordWithStatus('active-2', now, 'active'));
        const before = new Map(
          await Promise.all(
            [...SESSION_STATUSES, 'active-2'].map(async (id) => [id, await store.get(id)] as const),
          ),
        );
        const later = clock.advance(5000);
        const touched = await store.touch([...SESSION_STATUSES, 'active-2', 'missing'], {
          now: later,
          dueAt: later + 777,
        });
        assert.deepStrictEqual(
          [...touched].sort(),
          ['active', 'active-2'],
          'touch returns the ids of the active records it updated, no others',
        );
        for (const id of ['active', 'active-2']) {
          const record = await store.get(id);
          assert.equal(record?.lastHeartbeatAt, later, `touch sets lastHeartbeatAt = now on ${id}`);
          assert.equal(record?.dueAt, later + 777, `touch sets dueAt from the patch on ${id}`);
          assert.equal(record?.version, 2, 'touch sets version + 1');
          assert.equal(record?.status, 'active', `touch leaves ${id} active`);
          const was = before.get(id);
          assert.ok(was, 'get returns the inserted record');
          assert.deepStrictEqual(
            record,
            { ...was, lastHeartbeatAt: later, dueAt: later + 777, version: was.version + 1 },
            `touch writes lastHeartbeatAt, dueAt and version only: every other field of ${id} stays`,
          );
        }
        for (const status of ['disconnected', 'expired', 'closed'] as const) {
          assert.deepStrictEqual(
            await store.get(status),
            before.get(status),
            `a ${status} record is not touched`,
          );
        }
        assert.equal(await store.get('missing'), undefined, 'touch of a missing id creates nothing');
      },
    },
    {
      title: 'touch bumps the version on every call',
      async run({ store, clock }) {
        await store.insert(makeRecord('t', clock.now()));
        assert.deepStrictEqual(
          await store.touch([], { now: clock.now(), dueAt: clock.now() }),
          [],
          'touch of no ids returns no ids',
        );
        for (let i = 0; i < 3; i++) {
          const now = clock.advance(1000);
          assert.deepStrictEqual(
            await store.touch(['t'], { now, dueAt: now + 1 }),
            ['t'],
            'touch returns the id of an active record',
          );
        }
        const record = await store.get('t');
        assert.equal(record?.version, 4, 'each touch sets version + 1');
        assert.equal(record?.lastHeartbeatAt, clock.now(), 'touch sets lastHeartbeatAt = now');
      },
    },
    {
      title: 'touch of many ids in one call',
      async run({ store, clock, count }) {
        const n = count(500);
        const ids = Array.from({ length: n }, (_, i) => `many-${i}`);
        for (const id of ids) await store.insert(makeRecord(id, clock.now()));
        await store.insert(recordWithStatus('many-closed', clock.now(), 'closed'));
        const now = clock.advance(1000);
        const touched = await store.touch([...ids, 'many-closed'], { now, dueAt: now + 1 });
        assert.equal(touched.length, n, 'touch returns every active id, not the closed one');
        assert.deepStrictEqual(new Set(touched), new Set(ids), 'touch returns each active id it was given');
        const sample = await store.get(ids[n - 1]!);
        assert.equal(sample?.lastHeartbeatAt, now, 'touch sets lastHeartbeatAt = now on every id');
      },
    },
    {
      title: 'touch answers in input order, a duplicated id as often as given',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('a', now));
        await store.insert(makeRecord('b', now));
        await store.insert(recordWithStatus('gone', now, 'closed'));
        const before = await store.get('a');
        const touched = await store.touch(['b', 'a', 'gone', 'a', 'missing', 'b'], {
          now: now + 1000,
          dueAt: now + MINUTE,
        });
        assert.deepStrictEqual(
          touched,
          ['b', 'a', 'a', 'b'],
          'touch answers in input order, a duplicated id as often as given, skipping ids not active',
        );
        const after = await store.get('a');
        assert.equal(
          after?.lastHeartbeatAt,
          now + 1000,
          'touch with a duplicated id sets lastHeartbeatAt = now',
        );
        assert.equal(after?.dueAt, now + MINUTE, 'touch with a duplicated id sets dueAt from the patch');
        assert.ok(
          after && before && after.version > before.version,
          'touch of a duplicated id sets a higher version',
        );
      },
    },
    {
      title: 'touch reads the ids of every call: an array reused with other contents is read again',
      async run({ store, clock }) {
        const t = clock.now();
        for (const id of ['a', 'b', 'c']) await store.insert(makeRecord(id, t));
        // No adapter may cache on the identity of a caller's array (the manager reuses none today).
        const ids = ['a', 'b'];
        const first = clock.advance(1000);
        assert.deepStrictEqual(
          await store.touch(ids, { now: first, dueAt: first + MINUTE }),
          ['a', 'b'],
          'touch returns the ids it touched',
        );
        ids.splice(0, ids.length, 'c', 'b');
        const second = clock.advance(1000);
        assert.deepStrictEqual(
          await store.touch(ids, { now: second, dueAt: second + MINUTE }),
          ['c', 'b'],
          'touch of the same array with other contents touches its current ids',
        );
        assert.deepStrictEqual(
          [(await store.get('a'))?.lastHeartbeatAt, (await store.get('c'))?.lastHeartbeatAt],
          [first, second],
          'an id removed from the reused array is not touched again; one added is',
        );
      },
    },
    {
      title: 'close() is idempotent, and every call after it rejects with StoreUnavailableError',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('a', now));
        await store.close();
        await store.close();
        const key = { sessionId: 'a', agentId: 'g', key: 'k' };
        // Every method of the contract: none may answer from what it still holds.
        const calls: [string, () => Promise<unknown>][] = [
          ['insert', () => store.insert(makeRecord('b', now))],
          ['get', () => store.get('a')],
          ['compareAndSet', () => compareAndSetRecord(store, bump(makeRecord('a', now)), 1)],
          ['touch', () => store.touch(['a'], { now, dueAt: now + MINUTE })],
          // A call with nothing to send must still refuse: a closed store answers nothing.
          ['touch (no ids)', () => store.touch([], { now, dueAt: now + MINUTE })],
          ['delete', () => store.delete('a')],
          ['list', () => store.list({ statuses: ['active'], limit: 10 })],
          ['claimDue', () => store.claimDue({ now: now + HOUR, limit: 10, leaseMs: MINUTE })],
          ['purgeSessionData', () => store.purgeSessionData('a')],
          ['setState', () => store.setState({ ...key, value: 1, updatedAt: now, expiresAt: null })],
          ['getState', () => store.getState(key, now)],
          ['deleteState', () => store.deleteState(key)],
          ['listState', () => store.listState('a', undefined, now)],
          ['purgeExpiredState', () => store.purgeExpiredState(now)],
          [
            'appendEvent',
            () => store.appendEvent({ sessionId: 'a', streamId: 's', message: 1, createdAt: now }),
          ],
          ['readEvents', () => store.readEvents({ sessionId: 'a', afterSeq: 0 })],
          ['getEventStream', () => store.getEventStream('a', 1)],
          ['trimEvents', () => store.trimEvents({ sessionId: 'a', maxEvents: 0 })],
        ];
        for (const [name, call] of calls) {
          await rejectsWith(call(), StoreUnavailableError, `${name} after close()`);
        }
      },
    },
  ],
};
