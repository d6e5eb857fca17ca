import assert from 'node:assert/strict';
import { bump, compareAndSetRecord, MINUTE, makeRecord, recordWithStatus, rpcMessage } from '../fixtures';
import type { GroupDefinition } from '../harness';
import { entry, key } from './agent-state';

const DURABLE = ['durable'] as const;

/** Close the store, reopen it over the same backing data, read back. Needs `reopenStore` and `durable`. */
export const durability: GroupDefinition = {
  id: 'durability',
  tests: [
    {
      title: 'records, state and events survive close and reopen',
      requires: DURABLE,
      async run(ctx) {
        const t = ctx.clock.now();
        const records = [
          makeRecord('live', t, {
            metadata: { n: 1 },
            initializeParams: { protocolVersion: 'p' },
            principal: 'u',
          }),
          recordWithStatus('gone', t, 'disconnected'),
          recordWithStatus('tomb', t, 'closed'),
        ];
        for (const r of records) await ctx.store.insert(r);
        const forever = entry('live', 'a', 'k', { deep: [1, { x: 'y' }] }, t, null);
        const expiring = entry('live', 'a', 'e', 'soon', t, t + 10 * MINUTE);
        await ctx.store.setState(forever);
        await ctx.store.setState(expiring);
        const seqs: number[] = [];
        for (let i = 0; i < 3; i++) {
          seqs.push(
            await ctx.store.appendEvent({
              sessionId: 'live',
              streamId: `s${i}`,
              message: rpcMessage(i),
              createdAt: t,
            }),
          );
        }
        await ctx.store.trimEvents({ sessionId: 'live', maxEvents: 2 });

        const store = await ctx.reopen();
        for (const r of records)
          assert.deepStrictEqual(await store.get(r.id), r, `record ${r.id} after reopen`);
        assert.deepStrictEqual(
          await store.getState(key('live', 'a', 'k'), t),
          forever,
          'agent state without expiry survives close and reopen',
        );
        assert.deepStrictEqual(
          await store.getState(key('live', 'a', 'e'), t),
          expiring,
          'agent state with expiry survives close and reopen',
        );
        assert.equal(
          await store.getState(key('live', 'a', 'e'), t + 10 * MINUTE),
          undefined,
          'expiresAt survives close and reopen',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'live', afterSeq: 0 })).map((e) => [e.seq, e.streamId]),
          [
            [seqs[1], 's1'],
            [seqs[2], 's2'],
          ],
          'events and trims survive close and reopen',
        );
        const next = await store.appendEvent({
          sessionId: 'live',
          streamId: 's',
          message: 'after',
          createdAt: t,
        });
        assert.ok(next > seqs[2]!, `seq ${next} reused after reopen`);
        assert.deepStrictEqual(
          (await store.list({ statuses: ['active', 'disconnected', 'closed'], limit: 10 }))
            .map((r) => r.id)
            .sort(),
          ['gone', 'live', 'tomb'],
          'list finds every record after reopen',
        );
      },
    },
    {
      title: 'versions and due times keep working after reopen',
      requires: DURABLE,
      async run(ctx) {
        const t = ctx.clock.now();
        const record = makeRecord('v', t, { dueAt: t + 100 });
        await ctx.store.insert(record);
        const moved = bump(record, { ownerId: 'moved' });
        assert.equal(
          await compareAndSetRecord(ctx.store, moved, record.version),
          true,
          'compareAndSet at the stored version writes',
        );
        const store = await ctx.reopen();
        assert.equal(
          await compareAndSetRecord(store, bump(record), record.version),
          false,
          'after reopen, a compare-and-set on a stale version still writes nothing',
        );
        assert.deepStrictEqual(
          (await store.claimDue({ now: t + 100, limit: 10, leaseMs: MINUTE })).map((r) => [r.id, r.version]),
          [['v', 3]],
          'after reopen, claimDue finds the due record and sets version + 1',
        );
        assert.deepStrictEqual(
          await store.touch(['v'], { now: t + 1, dueAt: t + 2 }),
          ['v'],
          'after reopen, touch updates the active record',
        );
        assert.equal((await store.get('v'))?.version, 4, 'after reopen, touch sets version + 1');
      },
    },
    {
      title: 'a shared secret survives close and reopen',
      requires: DURABLE,
      async run(ctx) {
        const secret = await ctx.manager().sharedSecret('app:key');
        await ctx.reopen();
        assert.ok(
          (await ctx.manager().sharedSecret('app:key')).equals(secret),
          'sharedSecret after reopen returns the secret created before',
        );
      },
    },
  ],
};
