import assert from 'node:assert/strict';
import { SESSION_STATUSES, type SessionLiveness } from '@mcp-sessions/core/adapter';
import { bump, compareAndSetRecord, HOUR, MINUTE, makeRecord, recordWithStatus } from '../fixtures';
import type { GroupDefinition } from '../harness';

/** compareAndSet (a record's liveness only) and the version rule: every write sets a higher version. */
export const cas: GroupDefinition = {
  id: 'cas',
  tests: [
    {
      title: 'writes when the version matches',
      async run({ store, clock }) {
        const record = makeRecord('c', clock.now());
        await store.insert(record);
        const next = bump(record, {
          status: 'disconnected',
          disconnectedAt: clock.now(),
          dueAt: clock.now() + 5,
        });
        assert.equal(
          await compareAndSetRecord(store, next, 1),
          true,
          'compareAndSet returns true when the stored version is expectedVersion',
        );
        assert.deepStrictEqual(
          await store.get('c'),
          next,
          'get returns the record compareAndSet wrote, exactly',
        );
      },
    },
    {
      title: 'refuses a stale version and keeps the stored record',
      async run({ store, clock }) {
        const record = makeRecord('c', clock.now());
        await store.insert(record);
        const first = bump(record, { ownerId: 'first' });
        assert.equal(
          await compareAndSetRecord(store, first, 1),
          true,
          'compareAndSet at the stored version writes',
        );
        const stale = bump(record, { ownerId: 'stale', recoveryAttempts: 99 });
        assert.equal(
          await compareAndSetRecord(store, stale, 1),
          false,
          'a compare-and-set on a stale version (1, stored 2) returns false',
        );
        assert.deepStrictEqual(
          await store.get('c'),
          first,
          'a compare-and-set on a stale version writes nothing',
        );
      },
    },
    {
      title: 'the expected version must match exactly',
      async run({ store, clock }) {
        const record = makeRecord('c', clock.now(), { version: 5 });
        await store.insert(record);
        assert.equal(
          await compareAndSetRecord(store, bump(record, { recoveryAttempts: 4 }), 4),
          false,
          'an expectedVersion below the stored one writes nothing',
        );
        assert.equal(
          await compareAndSetRecord(store, bump(record, { recoveryAttempts: 6 }), 6),
          false,
          'an expectedVersion above the stored one writes nothing',
        );
        assert.deepStrictEqual(
          await store.get('c'),
          record,
          'a compare-and-set on a wrong version writes nothing',
        );
        assert.equal(
          await compareAndSetRecord(store, bump(record, { recoveryAttempts: 5 }), 5),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.equal((await store.get('c'))?.version, 6, 'compareAndSet sets version to next.version');
      },
    },
    {
      title: 'refuses a missing record and creates nothing',
      async run({ store, clock }) {
        const ghost = makeRecord('ghost', clock.now(), { version: 2 });
        assert.equal(
          await compareAndSetRecord(store, ghost, 1),
          false,
          'compareAndSet on a missing record returns false',
        );
        assert.equal(
          await store.get('ghost'),
          undefined,
          'compareAndSet on a missing record creates nothing',
        );
        await store.insert(makeRecord('deleted', clock.now()));
        await store.delete('deleted');
        assert.equal(
          await compareAndSetRecord(store, makeRecord('deleted', clock.now(), { version: 2 }), 1),
          false,
          'compareAndSet on a deleted record returns false',
        );
        assert.equal(
          await store.get('deleted'),
          undefined,
          'compareAndSet on a deleted record creates nothing',
        );
      },
    },
    {
      title: 'a write based on a read before touch fails',
      async run({ store, clock }) {
        await store.insert(makeRecord('c', clock.now()));
        const read = await store.get('c');
        assert.ok(read, 'get returns the inserted record');
        const now = clock.advance(1000);
        await store.touch(['c'], { now, dueAt: now + MINUTE });
        assert.equal(
          await compareAndSetRecord(store, bump(read, { status: 'closed' }), read.version),
          false,
          'touch sets a higher version, so a compare-and-set on the read before it fails',
        );
        assert.equal((await store.get('c'))?.status, 'active', 'the failed compare-and-set wrote nothing');
      },
    },
    {
      title: 'a write based on a read before claimDue fails',
      async run({ store, clock }) {
        await store.insert(makeRecord('c', clock.now(), { dueAt: clock.now() + 10 }));
        const read = await store.get('c');
        assert.ok(read, 'get returns the inserted record');
        const claimed = await store.claimDue({ now: clock.now() + 10, limit: 10, leaseMs: MINUTE });
        assert.equal(claimed.length, 1, 'claimDue takes the record whose dueAt <= now');
        assert.equal(
          await compareAndSetRecord(store, bump(read, { status: 'expired' }), read.version),
          false,
          'claimDue sets a higher version, so a compare-and-set on the read before it fails',
        );
        assert.equal(
          await compareAndSetRecord(store, bump(claimed[0]!, { status: 'expired' }), claimed[0]!.version),
          true,
          'a compare-and-set on the record claimDue returned succeeds',
        );
      },
    },
    {
      title: 'every write sets a higher version',
      async run({ store, clock }) {
        const versions: number[] = [];
        const record = makeRecord('c', clock.now(), { dueAt: clock.now() + 10 });
        await store.insert(record);
        const read = async () => {
          const r = await store.get('c');
          assert.ok(r, 'get returns the inserted record');
          versions.push(r.version);
          return r;
        };
        let r = await read();
        assert.equal(
          await compareAndSetRecord(store, bump(r, { ownerId: 'step-1' }), r.version),
          true,
          'compareAndSet at the stored version writes',
        );
        r = await read();
        await store.touch(['c'], { now: clock.now(), dueAt: clock.now() + 10 });
        r = await read();
        await store.claimDue({ now: clock.now() + 10, limit: 1, leaseMs: 1000 });
        r = await read();
        assert.equal(
          await compareAndSetRecord(store, bump(r, { status: 'closed', endedAt: clock.now() }), r.version),
          true,
          'compareAndSet at the version claimDue returned writes',
        );
        await read();
        assert.deepStrictEqual(
          versions,
          [1, 2, 3, 4, 5],
          'insert sets version 1; compareAndSet, touch and claimDue each set a higher one',
        );
      },
    },
    {
      title: 'replaces every liveness field, nulls included: nothing merged from the stored record',
      async run({ store, clock }) {
        const now = clock.now();
        const record = { ...recordWithStatus('c', now, 'disconnected'), recoveredAt: now - 1 };
        await store.insert(record);
        const next = bump(record, {
          status: 'active',
          ownerId: null,
          lastHeartbeatAt: now + 1,
          disconnectedAt: null,
          graceExpiresAt: null,
          recoveryAttempts: 1,
          recoveredAt: now + 1,
          endedAt: null,
          dueAt: now + 2 * MINUTE,
        });
        assert.equal(
          await compareAndSetRecord(store, next, record.version),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.deepStrictEqual(
          await store.get('c'),
          next,
          'compareAndSet writes every liveness field as given, nulls included, none merged from the old record',
        );
        const ended = bump(next, { status: 'closed', ownerId: 'closer', endedAt: now + 2, dueAt: now + 3 });
        assert.equal(
          await compareAndSetRecord(store, ended, next.version),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.deepStrictEqual(await store.get('c'), ended, 'compareAndSet sets nulls back to values too');
      },
    },
    {
      title: 'writes the liveness only: identity fields passed along (as a JS caller may) are ignored',
      async run({ store, clock }) {
        const now = clock.now();
        const record = makeRecord('c', now, {
          principal: 'owner',
          workingDirectory: '/w',
          metadata: { a: 1, b: { c: 2 } },
          initializeParams: { protocolVersion: '2025-06-18', clientInfo: { name: 'x', version: '1' } },
        });
        await store.insert(record);
        const next = bump(record, { status: 'disconnected', disconnectedAt: now + 1, dueAt: now + MINUTE });
        // What a JavaScript caller could pass: the liveness plus a whole other identity.
        const withIdentity = {
          ...next,
          id: 'other',
          principal: 'intruder',
          createdAt: now + HOUR,
          workingDirectory: '/elsewhere',
          metadata: { evil: true },
          initializeParams: null,
        } as SessionLiveness;
        assert.equal(
          await store.compareAndSet('c', withIdentity, record.version),
          true,
          'compareAndSet at the stored version writes',
        );
        assert.deepStrictEqual(
          await store.get('c'),
          next,
          'compareAndSet writes the ten liveness fields only: principal, createdAt, workingDirectory, metadata and initializeParams stay as inserted',
        );
        assert.equal(
          await store.get('other'),
          undefined,
          'compareAndSet writes record id (its first argument), never an id found in next',
        );
        assert.deepStrictEqual(
          (await store.list({ statuses: SESSION_STATUSES, limit: 10 })).map((r) => [r.id, r.createdAt]),
          [['c', now]],
          'list still sees the record at its inserted createdAt',
        );
      },
    },
  ],
};
