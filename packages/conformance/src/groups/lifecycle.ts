import assert from 'node:assert/strict';
import {
  RecoveryRefusedError,
  SessionExistsError,
  type SessionManager,
  SessionNotFoundError,
  SessionNotLiveError,
} from '@mcp-sessions/core';
import { rejectsWith } from '../assert';
import { compareListOrder, sessionId } from '../fixtures';
import { type GroupDefinition, TEST_POLICY } from '../harness';

const { gracePeriodMs, heartbeatIntervalMs, staleAfterMs, tombstoneMs, maxRecoveryAttempts } = TEST_POLICY;

/** DESIGN.md's lifecycle table end to end: a real SessionManager over the store, on a moved clock. */
export const lifecycle: GroupDefinition = {
  id: 'lifecycle',
  tests: [
    {
      title: 'initialize creates an active session bound to its principal',
      async run(ctx) {
        const m = ctx.manager({ instanceId: 'alpha' });
        const initializeParams = {
          protocolVersion: '2025-06-18',
          capabilities: { sampling: {} },
          clientInfo: { name: 'client', version: '1.0.0' },
        };
        const created = await m.initialize('life', {
          principal: 'alice',
          workingDirectory: '/work',
          metadata: { plan: 'pro' },
          initializeParams,
        });
        assert.deepStrictEqual(await ctx.store.get('life'), created);
        assert.equal(created.status, 'active');
        assert.equal(created.version, 1);
        assert.equal(created.principal, 'alice');
        assert.equal(created.ownerId, 'alpha');
        assert.deepStrictEqual(created.initializeParams, initializeParams);
        await rejectsWith(m.initialize('life'), SessionExistsError, 'initialize of a taken id');
        assert.deepStrictEqual(await ctx.store.get('life'), created, 'the first session is untouched');
        const page = await m.getActiveSessions();
        assert.deepStrictEqual(
          page.sessions.map((s) => s.id),
          ['life'],
        );
      },
    },
    {
      title: 'heartbeats keep an active session alive across an hour of sweeps',
      async run(ctx) {
        const holder = ctx.manager({ instanceId: 'holder' });
        const sweeper = ctx.manager({ instanceId: 'sweeper' });
        await holder.initialize('alive');
        await holder.saveAgentState('agent', 'alive', 'k', { n: 1 });
        await holder.initialize('left');
        await holder.markDisconnected('left');
        let expired = 0;
        for (let i = 1; i <= 120; i++) {
          ctx.clock.advance(heartbeatIntervalMs);
          assert.equal(await holder.tick(), 1, `tick ${i} touches the one held session`);
          if (i % 10 === 0) {
            const result = await sweeper.cleanupExpired();
            assert.equal(result.deleted, 0);
            expired += result.expired;
          }
        }
        const alive = await ctx.store.get('alive');
        assert.equal(alive?.status, 'active', 'an hour of heartbeats kept it alive');
        assert.equal(alive?.lastHeartbeatAt, ctx.clock.now());
        assert.deepStrictEqual(await holder.loadAgentState('agent', 'alive', 'k'), { n: 1 });
        assert.equal(expired, 1, 'the sweeps did run: the disconnected session expired');
        assert.equal((await ctx.store.get('left'))?.status, 'expired');
      },
    },
    {
      title: 'disconnect, grace, expire, tombstone, delete',
      async run(ctx) {
        const m = ctx.manager();
        await m.initialize('d', { principal: 'p' });
        await m.saveAgentState('agent', 'd', 'k', 'v');
        await ctx.store.appendEvent({
          sessionId: 'd',
          streamId: 's',
          message: 1,
          createdAt: ctx.clock.now(),
        });
        const t0 = ctx.clock.now();
        const disconnected = await m.markDisconnected('d');
        assert.equal(disconnected.status, 'disconnected');
        assert.equal(disconnected.graceExpiresAt, t0 + gracePeriodMs);
        assert.deepStrictEqual(await ctx.store.get('d'), disconnected);
        assert.equal(await m.loadAgentState('agent', 'd', 'k'), 'v', 'state stays during grace');

        ctx.clock.advance(gracePeriodMs - 1);
        assert.equal((await m.cleanupExpired()).expired, 0, 'not before the grace period ends');
        assert.deepStrictEqual(await m.canRecover('d', { principal: 'p' }), { ok: true });

        ctx.clock.advance(1);
        assert.equal((await m.cleanupExpired()).expired, 1);
        const expired = await ctx.store.get('d');
        assert.equal(expired?.status, 'expired');
        assert.equal(expired?.endedAt, ctx.clock.now());
        assert.equal(
          await m.loadAgentState('agent', 'd', 'k'),
          undefined,
          'state of an expired session is gone',
        );
        assert.deepStrictEqual(await m.listAgentState('d'), []);
        assert.deepStrictEqual(await ctx.store.readEvents({ sessionId: 'd', afterSeq: 0 }), []);
        await rejectsWith(
          m.saveAgentState('agent', 'd', 'k', 'again'),
          SessionNotFoundError,
          'save after expiry',
        );
        await rejectsWith(
          ctx.store.appendEvent({ sessionId: 'd', streamId: 's', message: 2, createdAt: ctx.clock.now() }),
          SessionNotFoundError,
          'append after expiry',
        );
        await expectRefusal(m.recover('d', { principal: 'p' }), 'expired');

        ctx.clock.advance(tombstoneMs - 1);
        assert.equal((await m.cleanupExpired()).deleted, 0, 'the tombstone stays for tombstoneMs');
        assert.equal((await ctx.store.get('d'))?.status, 'expired');
        ctx.clock.advance(1);
        assert.equal((await m.cleanupExpired()).deleted, 1);
        assert.equal(await ctx.store.get('d'), undefined);
        await expectRefusal(m.recover('d', { principal: 'p' }), 'not_found');
      },
    },
    {
      title: "a crashed owner's session is recovered by another manager after staleAfterMs",
      async run(ctx) {
        const a = ctx.manager({ instanceId: 'a' });
        const b = ctx.manager({ instanceId: 'b' });
        await a.initialize('s', { principal: 'p' });
        await a.saveAgentState('agent', 's', 'k', 'v');
        ctx.clock.advance(heartbeatIntervalMs);
        assert.equal(await a.tick(), 1);
        await a.dispose(); // crash: no more heartbeats, no disconnect

        ctx.clock.advance(staleAfterMs - 1);
        await expectRefusal(b.recover('s', { principal: 'p' }), 'still_active');
        assert.equal((await b.cleanupExpired()).expired, 0);
        ctx.clock.advance(1);
        const recovered = await b.recover('s', { principal: 'p' });
        assert.equal(recovered.status, 'active');
        assert.equal(recovered.ownerId, 'b');
        assert.equal(recovered.recoveryAttempts, 1);
        assert.deepStrictEqual(await ctx.store.get('s'), recovered);
        assert.equal(await b.loadAgentState('agent', 's', 'k'), 'v', 'state survives the crash');
        ctx.clock.advance(heartbeatIntervalMs);
        assert.equal(await b.tick(), 1, 'the new owner heartbeats it');
      },
    },
    {
      title: 'a stale session expires when grace from its last heartbeat runs out',
      async run(ctx) {
        const a = ctx.manager({ instanceId: 'a' });
        const sweeper = ctx.manager({ instanceId: 'sweeper' });
        await a.initialize('s');
        await a.saveAgentState('agent', 's', 'k', 'v');
        await a.dispose();
        const deadline = ctx.clock.now() + Math.max(staleAfterMs, gracePeriodMs);
        ctx.clock.set(deadline - 1);
        assert.equal((await sweeper.cleanupExpired()).expired, 0);
        ctx.clock.set(deadline);
        assert.equal((await sweeper.cleanupExpired()).expired, 1);
        assert.equal((await ctx.store.get('s'))?.status, 'expired');
        assert.deepStrictEqual(await ctx.store.listState('s', undefined, ctx.clock.now()), []);
      },
    },
    {
      title: 'recovery is limited to maxRecoveryAttempts',
      async run(ctx) {
        const m = ctx.manager();
        await m.initialize('r');
        for (let i = 1; i <= maxRecoveryAttempts; i++) {
          await m.markDisconnected('r');
          ctx.clock.advance(1000);
          assert.equal((await m.recover('r')).recoveryAttempts, i);
        }
        await m.markDisconnected('r');
        ctx.clock.advance(1000);
        assert.deepStrictEqual(await m.canRecover('r'), { ok: false, reason: 'attempts_exhausted' });
        await expectRefusal(m.recover('r'), 'attempts_exhausted');
        const record = await ctx.store.get('r');
        assert.equal(record?.recoveryAttempts, maxRecoveryAttempts);
        assert.equal(record?.status, 'disconnected');
        ctx.clock.advance(gracePeriodMs);
        assert.equal((await m.cleanupExpired()).expired, 1, 'it then expires as usual');
      },
    },
    {
      title: 'recovery with another principal is refused and not counted',
      async run(ctx) {
        const m = ctx.manager();
        await m.initialize('pm', { principal: 'alice' });
        await m.initialize('anon');
        await m.markDisconnected('pm');
        await m.markDisconnected('anon');
        ctx.clock.advance(1000);
        await expectRefusal(m.recover('pm', { principal: 'mallory' }), 'principal_mismatch');
        await expectRefusal(m.recover('pm'), 'principal_mismatch');
        await expectRefusal(m.recover('anon', { principal: 'alice' }), 'principal_mismatch');
        assert.equal((await ctx.store.get('pm'))?.recoveryAttempts, 0);
        assert.equal((await m.recover('pm', { principal: 'alice' })).recoveryAttempts, 1);
        assert.equal((await m.recover('anon')).recoveryAttempts, 1);
      },
    },
    {
      title: 'close deletes state and events and leaves a closed tombstone',
      async run(ctx) {
        const m = ctx.manager();
        await m.initialize('c');
        await m.saveAgentState('agent', 'c', 'k', 'v');
        await ctx.store.appendEvent({
          sessionId: 'c',
          streamId: 's',
          message: 1,
          createdAt: ctx.clock.now(),
        });
        const closed = await m.close('c');
        assert.equal(closed.status, 'closed');
        assert.deepStrictEqual(await ctx.store.get('c'), closed);
        assert.equal(await m.loadAgentState('agent', 'c', 'k'), undefined);
        assert.deepStrictEqual(await ctx.store.readEvents({ sessionId: 'c', afterSeq: 0 }), []);
        await rejectsWith(m.saveAgentState('agent', 'c', 'k', 'v'), SessionNotFoundError, 'save after close');
        await rejectsWith(m.heartbeat('c'), SessionNotLiveError, 'heartbeat after close');
        await expectRefusal(m.recover('c'), 'closed');
        assert.deepStrictEqual(await m.close('c'), closed, 'closing twice changes nothing');
        ctx.clock.advance(tombstoneMs);
        assert.equal((await m.cleanupExpired()).deleted, 1);
        assert.equal(await ctx.store.get('c'), undefined);
      },
    },
    {
      title: 'a session closed elsewhere is dropped by its holder on the next tick',
      async run(ctx) {
        const holder = ctx.manager({ instanceId: 'holder' });
        const other = ctx.manager({ instanceId: 'other' });
        await holder.initialize('kept');
        await holder.initialize('closed-elsewhere');
        const lost: string[] = [];
        holder.on('lost', (id) => lost.push(id));
        await other.close('closed-elsewhere');
        ctx.clock.advance(heartbeatIntervalMs);
        assert.equal(await holder.tick(), 1);
        assert.deepStrictEqual(lost, ['closed-elsewhere']);
        assert.deepStrictEqual([...holder.heldSessionIds], ['kept']);
      },
    },
    {
      title: 'agent state expires on the injected clock',
      async run(ctx) {
        const m = ctx.manager();
        await m.initialize('ttl');
        await m.saveAgentState('agent', 'ttl', 'short', 1, { ttlMs: 1000 });
        await m.saveAgentState('agent', 'ttl', 'long', 2, { expiresAt: ctx.clock.now() + 5000 });
        await m.saveAgentState('agent', 'ttl', 'forever', 3);
        ctx.clock.advance(999);
        assert.equal(await m.loadAgentState('agent', 'ttl', 'short'), 1);
        ctx.clock.advance(1);
        assert.equal(await m.loadAgentState('agent', 'ttl', 'short'), undefined);
        assert.deepStrictEqual(
          (await m.listAgentState('ttl')).map((e) => e.key),
          ['forever', 'long'],
        );
        ctx.clock.advance(4000);
        const { stateEntriesPurged } = await m.cleanupExpired();
        assert.ok(stateEntriesPurged <= 2, `purged ${stateEntriesPurged} of 2 expired entries`);
        assert.deepStrictEqual(
          (await m.listAgentState('ttl')).map((e) => e.key),
          ['forever'],
        );
      },
    },
    {
      title: 'getActiveSessions pages through live sessions only',
      async run(ctx) {
        const m = ctx.manager();
        const ids = Array.from({ length: 25 }, (_, i) => sessionId('live', i));
        for (const [i, id] of ids.entries()) {
          if (i % 3 === 0) ctx.clock.advance(1);
          await m.initialize(id);
        }
        for (const id of ids.slice(0, 3)) await m.close(id);
        for (const id of ids.slice(3, 7)) await m.markDisconnected(id);
        const expected = (await Promise.all(ids.slice(3).map((id) => ctx.store.get(id))))
          .map((r) => r!)
          .sort(compareListOrder)
          .map((r) => r.id);
        const seen = await allPages(m, 10);
        assert.deepStrictEqual(seen, expected);
      },
    },
  ],
};

async function allPages(m: SessionManager, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await m.getActiveSessions({ limit, cursor });
    ids.push(...page.sessions.map((s) => s.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  assert.fail('getActiveSessions never returned a last page');
}

async function expectRefusal(work: Promise<unknown>, reason: string): Promise<void> {
  const error = await rejectsWith(work, RecoveryRefusedError, `recover (expecting ${reason})`);
  assert.equal(error.reason, reason);
}
