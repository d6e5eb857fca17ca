import assert from 'node:assert/strict';
import {
  SESSION_STATUSES,
  SessionExistsError,
  SessionNotFoundError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { rejectsWith } from '../assert';
import { HOUR, MINUTE, makeRecord, recordWithStatus, rpcMessage } from '../fixtures';
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
        assert.deepStrictEqual(await store.get('rec-full'), full);
        assert.deepStrictEqual(await store.get('rec-bare'), bare);
        for (const status of SESSION_STATUSES) {
          const record = recordWithStatus(`rec-${status}`, now, status);
          await store.insert(record);
          assert.deepStrictEqual(await store.get(record.id), record, `a ${status} record`);
        }
      },
    },
    {
      title: 'get of a missing id returns undefined',
      async run({ store, clock }) {
        assert.equal(await store.get('missing'), undefined);
        await store.insert(makeRecord('present', clock.now()));
        assert.equal(await store.get('missing'), undefined);
        assert.equal(await store.get('presen'), undefined, 'a prefix of an id is not the id');
        assert.equal(await store.get('present-'), undefined);
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
          assert.deepStrictEqual(await store.get(tombstone.id), tombstone);
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
          assert.equal(record?.id, id);
          assert.deepStrictEqual(record?.metadata, { i }, `record ${JSON.stringify(id.slice(0, 20))}`);
        }
        assert.equal(await store.get('abd'), undefined);
        assert.equal(await store.get('a_c'), undefined, '_ is not a wildcard');
        assert.equal(await store.get('a%'), undefined, '% is not a wildcard');
        assert.equal(await store.get('a*'), undefined, '* is not a wildcard');
      },
    },
    {
      title: 'delete returns true once, then false',
      async run({ store, clock }) {
        await store.insert(makeRecord('del', clock.now()));
        await store.insert(makeRecord('keep', clock.now()));
        assert.equal(await store.delete('del'), true);
        assert.equal(await store.get('del'), undefined);
        assert.equal(await store.delete('del'), false);
        assert.equal(await store.delete('never-existed'), false);
        assert.ok(await store.get('keep'), 'other records stay');
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
        assert.equal(await store.delete('gone'), true);
        assert.equal(await store.getState({ sessionId: 'gone', agentId: 'a', key: 'k' }, now), undefined);
        assert.deepStrictEqual(await store.listState('gone', undefined, now), []);
        assert.deepStrictEqual(await store.readEvents({ sessionId: 'gone', afterSeq: 0 }), []);
        assert.equal(await store.getEventStream('gone', 1), undefined);
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
        assert.equal(await store.getState({ sessionId: 'gone', agentId: 'a', key: 'k' }, now), undefined);
        assert.deepStrictEqual(await store.readEvents({ sessionId: 'gone', afterSeq: 0 }), []);
        assert.equal((await store.getState({ sessionId: 'kept', agentId: 'a', key: 'k' }, now))?.value, 1);
        assert.equal((await store.readEvents({ sessionId: 'kept', afterSeq: 0 })).length, 1);
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
        assert.deepStrictEqual(await store.get('purged'), record, 'the record itself is unchanged');
        assert.deepStrictEqual(await store.listState('purged', undefined, now), []);
        assert.equal(await store.getState({ sessionId: 'purged', agentId: 'a', key: 'k' }, now), undefined);
        assert.deepStrictEqual(await store.readEvents({ sessionId: 'purged', afterSeq: 0 }), []);
        assert.equal(
          (await store.listState('other', undefined, now)).length,
          2,
          "another session's state stays",
        );
        assert.equal((await store.readEvents({ sessionId: 'other', afterSeq: 0 })).length, 1);
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
          await Promise.all(SESSION_STATUSES.map(async (s) => [s, await store.get(s)] as const)),
        );
        const later = clock.advance(5000);
        const touched = await store.touch([...SESSION_STATUSES, 'active-2', 'missing'], {
          now: later,
          dueAt: later + 777,
        });
        assert.deepStrictEqual([...touched].sort(), ['active', 'active-2']);
        for (const id of ['active', 'active-2']) {
          const record = await store.get(id);
          assert.equal(record?.lastHeartbeatAt, later);
          assert.equal(record?.dueAt, later + 777);
          assert.equal(record?.version, 2, 'touch sets version + 1');
          assert.equal(record?.status, 'active');
        }
        for (const status of ['disconnected', 'expired', 'closed'] as const) {
          assert.deepStrictEqual(
            await store.get(status),
            before.get(status),
            `a ${status} record is not touched`,
          );
        }
        assert.equal(await store.get('missing'), undefined, 'touch creates nothing');
      },
    },
    {
      title: 'touch bumps the version on every call',
      async run({ store, clock }) {
        await store.insert(makeRecord('t', clock.now()));
        assert.deepStrictEqual(await store.touch([], { now: clock.now(), dueAt: clock.now() }), []);
        for (let i = 0; i < 3; i++) {
          const now = clock.advance(1000);
          assert.deepStrictEqual(await store.touch(['t'], { now, dueAt: now + 1 }), ['t']);
        }
        const record = await store.get('t');
        assert.equal(record?.version, 4);
        assert.equal(record?.lastHeartbeatAt, clock.now());
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
        assert.equal(touched.length, n);
        assert.deepStrictEqual(new Set(touched), new Set(ids));
        const sample = await store.get(ids[n - 1]!);
        assert.equal(sample?.lastHeartbeatAt, now);
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
        assert.deepStrictEqual(touched, ['b', 'a', 'a', 'b']);
        const after = await store.get('a');
        assert.equal(after?.lastHeartbeatAt, now + 1000);
        assert.equal(after?.dueAt, now + MINUTE);
        assert.ok(after && before && after.version > before.version, 'the version rose');
      },
    },
    {
      title: 'close() is idempotent, and every call after it rejects with StoreUnavailableError',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('a', now));
        await store.close();
        await store.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['get', () => store.get('a')],
          ['insert', () => store.insert(makeRecord('b', now))],
          ['touch', () => store.touch(['a'], { now, dueAt: now + MINUTE })],
          ['list', () => store.list({ statuses: ['active'], limit: 10 })],
          ['claimDue', () => store.claimDue({ now: now + HOUR, limit: 10, leaseMs: MINUTE })],
          ['listState', () => store.listState('a', undefined, now)],
          [
            'appendEvent',
            () => store.appendEvent({ sessionId: 'a', streamId: 's', message: 1, createdAt: now }),
          ],
          ['readEvents', () => store.readEvents({ sessionId: 'a', afterSeq: 0 })],
        ];
        for (const [name, call] of calls) {
          await rejectsWith(call(), StoreUnavailableError, `${name} after close()`);
        }
      },
    },
  ],
};
