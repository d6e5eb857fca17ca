import assert from 'node:assert/strict';
import {
  HandleExpiredError,
  RecoveryRefusedError,
  SessionExistsError,
  SessionNotFoundError,
  SHARED_SECRET_BYTES,
} from '@mcp-sessions/core';
import { createHandleRecord, createOnceRecord } from '@mcp-sessions/core/adapter';
import { isErrorOf, rejectsWith } from '../assert';
import { HOUR, MINUTE, makeRecord } from '../fixtures';
import type { GroupDefinition } from '../harness';

const ATOMIC = ['atomic'] as const;

/**
 * What the stateless era's records rely on: consume-once and shared secrets need `insert` to be
 * an atomic "first?" test; handles, consume-once markers and secrets are ordinary records the
 * store keeps as written and the sweep finds (or, a secret, never finds) through `dueAt`.
 */
export const once: GroupDefinition = {
  id: 'once',
  tests: [
    {
      title: '20 parallel inserts of one id: exactly one succeeds, the others SessionExistsError',
      requires: ATOMIC,
      async run({ store, clock }) {
        const now = clock.now();
        const attempts = Array.from({ length: 20 }, (_, i) =>
          makeRecord('contended', now, { metadata: { writer: i } }),
        );
        const results = await Promise.allSettled(attempts.map((record) => store.insert(record)));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, `exactly one insert succeeds (${won.length} did)`);
        for (const r of results) {
          if (r.status === 'rejected') {
            assert.ok(
              isErrorOf(r.reason, SessionExistsError),
              `a losing insert is SessionExistsError: ${r.reason}`,
            );
          }
        }
        assert.deepStrictEqual(
          await store.get('contended'),
          attempts[won[0]!],
          'the winning insert is what is stored',
        );
      },
    },
    {
      title: 'consumeOnce through several managers: exactly one true per key, false afterwards',
      requires: ATOMIC,
      async run(ctx) {
        const managers = [ctx.manager(), ctx.manager(), ctx.manager(), ctx.manager()];
        for (const key of ['k1', 'k2', 'a much longer key '.repeat(100)]) {
          const results = await Promise.all(
            managers.flatMap((m) => [
              m.consumeOnce(key, { ttlMs: MINUTE }),
              m.consumeOnce(key, { ttlMs: MINUTE }),
            ]),
          );
          assert.equal(results.filter(Boolean).length, 1, `one winner for ${key.slice(0, 20)}`);
          assert.equal(
            await managers[0]!.consumeOnce(key, { ttlMs: MINUTE }),
            false,
            'consumeOnce of a consumed key returns false',
          );
        }
      },
    },
    {
      title: 'a consume-once marker is kept as written, takes no state, and is swept after its own TTL',
      async run(ctx) {
        const { store, clock } = ctx;
        const start = clock.now();
        const marker = createOnceRecord('once:direct', start, 5 * MINUTE);
        await store.insert(marker);
        assert.deepStrictEqual(
          await store.get(marker.id),
          marker,
          'insert keeps a consume-once marker exactly as written',
        );
        await rejectsWith(
          store.setState({
            sessionId: marker.id,
            agentId: 'a',
            key: 'k',
            value: 1,
            updatedAt: start,
            expiresAt: null,
          }),
          SessionNotFoundError,
          'state under a consume-once marker',
        );

        const manager = ctx.manager();
        assert.equal(
          await manager.consumeOnce('key', { ttlMs: 5 * MINUTE }),
          true,
          'the first consumeOnce of a key returns true',
        );
        clock.advance(5 * MINUTE - 1);
        assert.deepEqual(
          await manager.cleanupExpired(),
          { expired: 0, deleted: 0, stateEntriesPurged: 0 },
          "the sweep touches nothing before the marker's TTL",
        );
        assert.equal(
          await manager.consumeOnce('key', { ttlMs: 5 * MINUTE }),
          false,
          'a consumed key stays consumed until its TTL',
        );
        clock.advance(1);
        const swept = await manager.cleanupExpired();
        assert.equal(swept.deleted, 2, 'both markers deleted at their TTL, long before the tombstone time');
        assert.equal(
          await store.get(marker.id),
          undefined,
          'the sweep deletes a consume-once marker at its TTL',
        );
        assert.equal(
          await manager.consumeOnce('key', { ttlMs: 5 * MINUTE }),
          true,
          'consumeOnce of a key is true again after the sweep deleted its marker',
        );
      },
    },
    {
      title:
        'a handle is kept as written, holds state until its deadline, and the sweep expires it with its state',
      async run(ctx) {
        const { store, clock } = ctx;
        const start = clock.now();
        const direct = createHandleRecord({ id: 'handle-direct', principal: 'p', ttlMs: HOUR }, start);
        await store.insert(direct);
        assert.deepStrictEqual(
          await store.get(direct.id),
          direct,
          'insert keeps a handle record exactly as written',
        );
        await store.setState({
          sessionId: direct.id,
          agentId: 'a',
          key: 'k',
          value: 1,
          updatedAt: start,
          expiresAt: null,
        });

        const manager = ctx.manager();
        const { handle } = await manager.mintHandle({ principal: 'p', ttlMs: 10 * MINUTE });
        await (await manager.handleState(handle, 'agent', { principal: 'p' })).save('page', { n: 1 });
        assert.deepEqual(
          await (await manager.handleState(handle, 'agent', { principal: 'p' })).load('page'),
          { n: 1 },
          'a handle holds agent state until its deadline',
        );
        await rejectsWith(
          manager.checkHandle(handle, { principal: 'q' }),
          SessionNotFoundError,
          'another principal',
        );

        clock.advance(10 * MINUTE);
        await rejectsWith(
          manager.checkHandle(handle, { principal: 'p' }),
          HandleExpiredError,
          'at its deadline',
        );
        const swept = await manager.cleanupExpired();
        assert.equal(swept.expired, 1, 'the minted handle expires; the one-hour handle does not');
        assert.deepEqual(
          await store.listState(handle, undefined, clock.now()),
          [],
          "the sweep deletes an expired handle's state",
        );
        assert.equal(
          (await store.listState(direct.id, undefined, clock.now())).length,
          1,
          'a handle before its deadline keeps its state',
        );
        assert.equal(
          (await store.get(handle))?.status,
          'expired',
          'the sweep leaves an expired handle as a tombstone',
        );
      },
    },
    {
      title:
        'sharedSecret through several managers racing: one secret of 32+ random bytes, kept for a new manager',
      requires: ATOMIC,
      async run(ctx) {
        const managers = [ctx.manager(), ctx.manager(), ctx.manager(), ctx.manager()];
        const secrets = await Promise.all(
          managers.flatMap((m) => [m.sharedSecret('app:key'), m.sharedSecret('app:key')]),
        );
        const first = secrets[0]!;
        assert.ok(first.length >= SHARED_SECRET_BYTES, `a shared secret has ${first.length} bytes`);
        for (const secret of secrets) assert.ok(secret.equals(first), 'every racer gets the same secret');
        assert.ok(
          new Set(first).size > 8,
          'a shared secret is random bytes, not a constant or a hash of its name',
        );
        const other = await managers[0]!.sharedSecret('app:other');
        assert.ok(!other.equals(first), 'another name gets another secret');
        for (const m of managers) await m.dispose();
        assert.ok(
          (await ctx.manager().sharedSecret('app:key')).equals(first),
          'a new manager on the store (an instance restarted) gets the same secret',
        );
      },
    },
    {
      title: 'a shared secret is never swept, takes no state, and is never served as a session or handle',
      async run(ctx) {
        const { store, clock } = ctx;
        const manager = ctx.manager();
        const secret = await manager.sharedSecret('app:key');
        const [id] = (await store.list({ statuses: ['closed'], limit: 10 })).map((r) => r.id);
        assert.ok(id !== undefined, 'a shared secret is a record of the store');
        assert.ok(!id.includes(secret.toString('base64url')), "the record's id does not reveal the secret");
        assert.deepEqual(
          (await manager.getActiveSessions()).sessions,
          [],
          'a shared secret is not listed as a live session',
        );
        await rejectsWith(
          store.setState({
            sessionId: id,
            agentId: 'a',
            key: 'k',
            value: 1,
            updatedAt: clock.now(),
            expiresAt: null,
          }),
          SessionNotFoundError,
          'state under a shared secret',
        );
        await rejectsWith(manager.recover(id), RecoveryRefusedError, 'recovering a shared secret');
        await rejectsWith(manager.checkHandle(id), SessionNotFoundError, 'a shared secret as a handle');
        await rejectsWith(
          manager.close(id, { principal: null }),
          SessionNotFoundError,
          'a client closing it',
        );

        clock.advance(10 * 365 * 24 * HOUR);
        assert.deepEqual(
          await manager.cleanupExpired(),
          { expired: 0, deleted: 0, stateEntriesPurged: 0 },
          'the sweep neither expires nor deletes a shared secret, even ten years on',
        );
        assert.ok(
          (await manager.sharedSecret('app:key')).equals(secret),
          'the shared secret is the same after the sweep',
        );
      },
    },
  ],
};
