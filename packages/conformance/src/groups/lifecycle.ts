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
        assert.deepStrictEqual(
          await ctx.store.get('life'),
          created,
          'initialize stores the record it returns',
        );
        assert.equal(created.status, 'active', 'initialize creates an active session');
        assert.equal(created.version, 1, 'a new session starts at version 1');
        assert.equal(created.principal, 'alice', 'initialize binds the session to its principal');
        assert.equal(created.ownerId, 'alpha', 'initialize records the initializing manager as owner');
        assert.deepStrictEqual(
          created.initializeParams,
          initializeParams,
          "initialize stores the client's initialize params whole",
        );
        await rejectsWith(m.initialize('life'), SessionExistsError, 'initialize of a taken id');
        assert.deepStrictEqual(await ctx.store.get('life'), created, 'the first session is untouched');
        const page = await m.getActiveSessions();
        assert.deepStrictEqual(
          page.sessions.map((s) => s.id),
          ['life'],
          'getActiveSessions lists the new session',
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
            assert.equal(result.deleted, 0, `sweep ${i / 10}: a heartbeated session is never deleted`);
            expired += result.expired;
          }
        }
        const alive = await ctx.store.get('alive');
        assert.equal(alive?.status, 'active', 'an hour of heartbeats kept it alive');
        assert.equal(
          alive?.lastHeartbeatAt,
          ctx.clock.now(),
          'the last heartbeat set lastHeartbeatAt to now',
        );
        assert.deepStrictEqual(
          await holder.loadAgentState('agent', 'alive', 'k'),
          { n: 1 },
          'agent state of a heartbeated session stays',
        );
        assert.equal(expired, 1, 'the sweeps did run: the disconnected session expired');
        assert.equal(
          (await ctx.store.get('left'))?.status,
          'expired',
          'a disconnected session expires after its grace period',
        );
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
        assert.equal(disconnected.status, 'disconnected', 'markDisconnected sets status disconnected');
        assert.equal(
          disconnected.graceExpiresAt,
          t0 + gracePeriodMs,
          'markDisconnected sets graceExpiresAt = now + gracePeriodMs',
        );
        assert.deepStrictEqual(
          await ctx.store.get('d'),
          disconnected,
          'markDisconnected stores the record it returns',
        );
        assert.equal(await m.loadAgentState('agent', 'd', 'k'), 'v', 'agent state stays during grace');

        ctx.clock.advance(gracePeriodMs - 1);
        assert.equal((await m.cleanupExpired()).expired, 0, 'not before the grace period ends');
        assert.deepStrictEqual(
          await m.canRecover('d', { principal: 'p' }),
          { ok: true },
          'a disconnected session can be recovered during grace',
        );

        ctx.clock.advance(1);
        assert.equal((await m.cleanupExpired()).expired, 1, 'a disconnected session expires when grace ends');
        const expired = await ctx.store.get('d');
        assert.equal(expired?.status, 'expired', 'the sweep leaves an expired tombstone');
        assert.equal(expired?.endedAt, ctx.clock.now(), 'an expired tombstone records endedAt = now');
        assert.equal(
          await m.loadAgentState('agent', 'd', 'k'),
          undefined,
          'agent state of an expired session is gone',
        );
        assert.deepStrictEqual(
          await m.listAgentState('d'),
          [],
          'listAgentState of an expired session is empty',
        );
        assert.deepStrictEqual(
          await ctx.store.readEvents({ sessionId: 'd', afterSeq: 0 }),
          [],
          "an expired session's events are gone",
        );
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
        assert.equal(
          (await ctx.store.get('d'))?.status,
          'expired',
          'the expired tombstone stays until tombstoneMs',
        );
        ctx.clock.advance(1);
        assert.equal(
          (await m.cleanupExpired()).deleted,
          1,
          'the sweep deletes the tombstone after tombstoneMs',
        );
        assert.equal(await ctx.store.get('d'), undefined, 'a deleted tombstone leaves no record');
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
        assert.equal(await a.tick(), 1, 'tick heartbeats the held session');
        await a.dispose(); // crash: no more heartbeats, no disconnect

        ctx.clock.advance(staleAfterMs - 1);
        await expectRefusal(b.recover('s', { principal: 'p' }), 'still_active');
        assert.equal(
          (await b.cleanupExpired()).expired,
          0,
          'the sweep does not expire a session before staleAfterMs',
        );
        ctx.clock.advance(1);
        const recovered = await b.recover('s', { principal: 'p' });
        assert.equal(recovered.status, 'active', 'a recovered session is active');
        assert.equal(recovered.ownerId, 'b', 'recover makes the recovering manager the owner');
        assert.equal(recovered.recoveryAttempts, 1, 'a recovery counts one attempt');
        assert.deepStrictEqual(await ctx.store.get('s'), recovered, 'recover stores the record it returns');
        assert.equal(
          await b.loadAgentState('agent', 's', 'k'),
          'v',
          "agent state survives the owner's crash",
        );
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
        assert.equal(
          (await sweeper.cleanupExpired()).expired,
          0,
          'a stale session does not expire before grace from its last heartbeat',
        );
        ctx.clock.set(deadline);
        assert.equal(
          (await sweeper.cleanupExpired()).expired,
          1,
          'a stale session expires when grace from its last heartbeat runs out',
        );
        assert.equal(
          (await ctx.store.get('s'))?.status,
          'expired',
          'the expired session stays as a tombstone',
        );
        assert.deepStrictEqual(
          await ctx.store.listState('s', undefined, ctx.clock.now()),
          [],
          "an expired session's agent state is gone",
        );
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
          assert.equal((await m.recover('r')).recoveryAttempts, i, `recovery ${i} counts attempt ${i}`);
        }
        await m.markDisconnected('r');
        ctx.clock.advance(1000);
        assert.deepStrictEqual(
          await m.canRecover('r'),
          { ok: false, reason: 'attempts_exhausted' },
          'canRecover refuses past maxRecoveryAttempts',
        );
        await expectRefusal(m.recover('r'), 'attempts_exhausted');
        const record = await ctx.store.get('r');
        assert.equal(record?.recoveryAttempts, maxRecoveryAttempts, 'a refused recovery is not counted');
        assert.equal(record?.status, 'disconnected', 'a refused recovery leaves the session disconnected');
        ctx.clock.advance(gracePeriodMs);
        assert.equal(
          (await m.cleanupExpired()).expired,
          1,
          'a session refused recovery then expires as usual',
        );
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
        assert.equal(
          (await ctx.store.get('pm'))?.recoveryAttempts,
          0,
          'a recovery refused for another principal is not counted',
        );
        assert.equal(
          (await m.recover('pm', { principal: 'alice' })).recoveryAttempts,
          1,
          'the owning principal recovers, counting one attempt',
        );
        assert.equal(
          (await m.recover('anon')).recoveryAttempts,
          1,
          'an unauthenticated session is recovered without a principal',
        );
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
        assert.equal(closed.status, 'closed', 'close returns a closed record');
        assert.deepStrictEqual(await ctx.store.get('c'), closed, 'close stores the record it returns');
        assert.equal(
          await m.loadAgentState('agent', 'c', 'k'),
          undefined,
          "close deletes the session's agent state",
        );
        assert.deepStrictEqual(
          await ctx.store.readEvents({ sessionId: 'c', afterSeq: 0 }),
          [],
          "close deletes the session's events",
        );
        await rejectsWith(m.saveAgentState('agent', 'c', 'k', 'v'), SessionNotFoundError, 'save after close');
        await rejectsWith(m.heartbeat('c'), SessionNotLiveError, 'heartbeat after close');
        await expectRefusal(m.recover('c'), 'closed');
        assert.deepStrictEqual(await m.close('c'), closed, 'closing twice changes nothing');
        ctx.clock.advance(tombstoneMs);
        assert.equal(
          (await m.cleanupExpired()).deleted,
          1,
          'the sweep deletes a closed tombstone after tombstoneMs',
        );
        assert.equal(await ctx.store.get('c'), undefined, 'a deleted tombstone leaves no record');
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
        assert.equal(await holder.tick(), 1, 'tick heartbeats only the sessions still live');
        assert.deepStrictEqual(
          lost,
          ['closed-elsewhere'],
          'the holder emits lost for a session closed elsewhere',
        );
        assert.deepStrictEqual(
          [...holder.heldSessionIds],
          ['kept'],
          'the holder stops holding a session closed elsewhere',
        );
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
        assert.equal(
          await m.loadAgentState('agent', 'ttl', 'short'),
          1,
          'agent state is readable until its ttl ends',
        );
        ctx.clock.advance(1);
        assert.equal(
          await m.loadAgentState('agent', 'ttl', 'short'),
          undefined,
          'agent state is gone at its expiry',
        );
        assert.deepStrictEqual(
          (await m.listAgentState('ttl')).map((e) => e.key),
          ['forever', 'long'],
          'listAgentState lists only unexpired entries, ordered by key',
        );
        ctx.clock.advance(4000);
        const { stateEntriesPurged } = await m.cleanupExpired();
        assert.ok(stateEntriesPurged <= 2, `purged ${stateEntriesPurged} of 2 expired entries`);
        assert.deepStrictEqual(
          (await m.listAgentState('ttl')).map((e) => e.key),
          ['forever'],
          'after the sweep, only the entry without expiry is listed',
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
        assert.deepStrictEqual(
          seen,
          expected,
          'getActiveSessions pages through every live session once, in list order',
        );
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
  assert.equal(error.reason, reason, `recover is refused with reason ${reason}`);
}
