/**
 * The SessionManager API over the reference memory store: every public method, its typed
 * errors, the events (each emitted once), option validation, paging, agent-state expiry.
 * Time is an injected clock; timers are off and ticks and sweeps are called by hand.
 */
import {
  type CleanupResult,
  InvalidArgumentError,
  InvalidValueError,
  type JsonObject,
  type JsonValue,
  RecoveryRefusedError,
  SessionExistsError,
  SessionManager,
  type SessionManagerOptions,
  SessionNotFoundError,
  SessionNotLiveError,
  type SessionRecord,
} from '@mcp-sessions/core';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, describe, expect, it, vi } from 'vitest';

const T0 = 1_700_000_000_000;
const GRACE = 600_000;
const STALE = 90_000;
const TOMBSTONE = 3_600_000;

const managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
  vi.restoreAllMocks();
});

function setup(options: Partial<SessionManagerOptions> = {}) {
  const clock = { t: T0, now: () => clock.t };
  const store = new MemorySessionStore();
  const manager = new SessionManager({ store, clock, timers: false, instanceId: 'inst-A', ...options });
  managers.push(manager);
  return { manager, store, clock };
}

/** Records every event the manager emits, by name. */
function recordEvents(manager: SessionManager) {
  const seen: Array<[string, string]> = [];
  for (const name of ['initialized', 'disconnected', 'recovered', 'expired', 'closed'] as const) {
    manager.on(name, (record: SessionRecord) => seen.push([name, record.id]));
  }
  manager.on('lost', (id) => seen.push(['lost', id]));
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('options', () => {
  it('has the documented defaults', () => {
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false });
    managers.push(manager);
    expect(manager.heartbeatIntervalMs).toBe(30_000);
    expect(manager.cleanupIntervalMs).toBe(300_000);
    expect(manager.policy).toEqual({
      gracePeriodMs: 600_000,
      maxRecoveryAttempts: 3,
      staleAfterMs: 90_000,
      tombstoneMs: 3_600_000,
      idleTimeoutMs: 86_400_000,
    });
    expect(manager.instanceId).toMatch(/.+:\d+:.+/);
  });

  it('derives staleAfterMs from the heartbeat interval (3 missed heartbeats)', () => {
    const { manager } = setup({ heartbeatIntervalMs: 10_000 });
    expect(manager.policy.staleAfterMs).toBe(30_000);
  });

  it('accepts cleanupIntervalMs 0 (sweep off) and maxRecoveryAttempts 0', () => {
    const { manager } = setup({ cleanupIntervalMs: 0, maxRecoveryAttempts: 0 });
    expect(manager.cleanupIntervalMs).toBe(0);
    expect(manager.policy.maxRecoveryAttempts).toBe(0);
  });

  it.each<[string, Partial<SessionManagerOptions>]>([
    ['gracePeriodMs 0', { gracePeriodMs: 0 }],
    ['gracePeriodMs NaN', { gracePeriodMs: Number.NaN }],
    ['gracePeriodMs Infinity', { gracePeriodMs: Number.POSITIVE_INFINITY }],
    ['heartbeatIntervalMs -1', { heartbeatIntervalMs: -1 }],
    ['heartbeatIntervalMs above the timer limit', { heartbeatIntervalMs: 2 ** 31, staleAfterMs: 2 ** 33 }],
    ['cleanupIntervalMs -5', { cleanupIntervalMs: -5 }],
    ['cleanupIntervalMs above the timer limit', { cleanupIntervalMs: 2 ** 31 }],
    ['maxRecoveryAttempts -1', { maxRecoveryAttempts: -1 }],
    ['maxRecoveryAttempts 1.5', { maxRecoveryAttempts: 1.5 }],
    ['staleAfterMs equal to the heartbeat', { heartbeatIntervalMs: 1000, staleAfterMs: 1000 }],
    ['staleAfterMs 0', { staleAfterMs: 0 }],
    ['tombstoneMs -1', { tombstoneMs: -1 }],
    ['heartbeatBatchSize 0', { heartbeatBatchSize: 0 }],
    ['cleanupBatchSize 2.5', { cleanupBatchSize: 2.5 }],
  ])('rejects %s with InvalidArgumentError', (_, options) => {
    expect(() => setup(options)).toThrow(InvalidArgumentError);
  });

  it('rejects a missing store', () => {
    const options = { timers: false } as unknown as SessionManagerOptions;
    expect(() => new SessionManager(options)).toThrow(InvalidArgumentError);
  });

  it('starts no timer with timers: false', () => {
    const interval = vi.spyOn(globalThis, 'setInterval');
    const timeout = vi.spyOn(globalThis, 'setTimeout');
    setup();
    expect(interval).not.toHaveBeenCalled();
    expect(timeout).not.toHaveBeenCalled();
  });
});

describe('initialize', () => {
  it('stores an active record held by this instance and emits initialized once', async () => {
    const { manager, store } = setup();
    const events = recordEvents(manager);
    const record = await manager.initialize('s1', {
      principal: 'alice',
      workingDirectory: '/w',
      metadata: { tag: 'x' },
      initializeParams: { protocolVersion: '2025-06-18', clientInfo: { name: 'c', version: '1' } },
    });
    expect(record).toMatchObject({ id: 's1', status: 'active', principal: 'alice', ownerId: 'inst-A' });
    expect(await store.get('s1')).toEqual(record);
    expect(manager.heldSessionIds.has('s1')).toBe(true);
    expect(events).toEqual([['initialized', 's1']]);
  });

  it('throws SessionExistsError for a taken id, without a second event', async () => {
    const { manager } = setup();
    const events = recordEvents(manager);
    await manager.initialize('s1');
    await expect(manager.initialize('s1')).rejects.toBeInstanceOf(SessionExistsError);
    expect(events).toHaveLength(1);
  });

  it.each(['', 'has space', 'x'.repeat(257), 'naïve', 'tab\t'])('rejects the id %j', async (id) => {
    const { manager, store } = setup();
    const insert = vi.spyOn(store, 'insert');
    await expect(manager.initialize(id)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(insert).not.toHaveBeenCalled();
  });

  it('rejects metadata that is not JSON with InvalidValueError before any write', async () => {
    const { manager, store } = setup();
    const events = recordEvents(manager);
    const insert = vi.spyOn(store, 'insert');
    const metadata = { n: 10n } as unknown as JsonObject;
    await expect(manager.initialize('s1', { metadata })).rejects.toBeInstanceOf(InvalidValueError);
    const initializeParams = { when: new Date() } as unknown as JsonObject;
    await expect(manager.initialize('s1', { initializeParams })).rejects.toBeInstanceOf(InvalidValueError);
    expect(insert).not.toHaveBeenCalled();
    expect(await store.get('s1')).toBeUndefined();
    expect(events).toEqual([]);
  });
});

describe('heartbeat', () => {
  it('moves lastHeartbeatAt and the deadline to now', async () => {
    const { manager, clock } = setup();
    await manager.initialize('s1');
    clock.t += 20_000;
    await manager.heartbeat('s1');
    const record = await manager.getSession('s1');
    expect(record?.lastHeartbeatAt).toBe(clock.t);
    expect(record?.dueAt).toBe(clock.t + GRACE);
  });

  it('throws SessionNotFoundError for an unknown id', async () => {
    const { manager } = setup();
    await expect(manager.heartbeat('nope')).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it.each(['disconnected', 'closed'] as const)(
    'throws SessionNotLiveError for a %s session',
    async (status) => {
      const { manager } = setup();
      await manager.initialize('s1');
      if (status === 'disconnected') await manager.markDisconnected('s1');
      else await manager.close('s1');
      const error = await rejection(manager.heartbeat('s1'));
      expect(error).toBeInstanceOf(SessionNotLiveError);
      expect(error).toMatchObject({ code: 'SESSION_NOT_LIVE', status });
    },
  );
});

describe('markDisconnected', () => {
  it('starts grace, stops holding the session, and emits disconnected once', async () => {
    const { manager, clock } = setup();
    const events = recordEvents(manager);
    await manager.initialize('s1');
    clock.t += 1000;
    const record = await manager.markDisconnected('s1');
    expect(record).toMatchObject({
      status: 'disconnected',
      disconnectedAt: clock.t,
      graceExpiresAt: clock.t + GRACE,
    });
    expect(manager.heldSessionIds.has('s1')).toBe(false);
    clock.t += 1000;
    expect(await manager.markDisconnected('s1')).toEqual(record);
    expect(events).toEqual([
      ['initialized', 's1'],
      ['disconnected', 's1'],
    ]);
  });

  it('throws SessionNotFoundError for an unknown id and SessionNotLiveError for a closed one', async () => {
    const { manager } = setup();
    await expect(manager.markDisconnected('nope')).rejects.toBeInstanceOf(SessionNotFoundError);
    await manager.initialize('s1');
    await manager.close('s1');
    await expect(manager.markDisconnected('s1')).rejects.toBeInstanceOf(SessionNotLiveError);
  });
});

describe('release', () => {
  it('stops heartbeating without writing; another manager attaches uncounted, and it goes stale as if crashed', async () => {
    const { manager, store, clock } = setup();
    const other = new SessionManager({ store, clock, timers: false, instanceId: 'inst-B' });
    managers.push(other);
    const created = await manager.initialize('s1');
    expect(manager.release('s1')).toBe(true);
    expect(manager.release('s1')).toBe(false);
    clock.t += 1000;
    expect(await manager.tick()).toBe(0);
    expect(await store.get('s1')).toEqual(created);
    expect(await other.resume('s1')).toMatchObject({ mode: 'attached', record: { recoveryAttempts: 0 } });
    expect(() => manager.release('bad id')).toThrow(InvalidArgumentError);
  });
});

describe('idle: use, releaseIdle and idleTimeoutMs', () => {
  it('releases only sessions idle that long, emits released, hands off with the last use; others attach uncounted', async () => {
    const { manager, store, clock } = setup({ idleTimeoutMs: 120_000 });
    const other = new SessionManager({ store, clock, timers: false, instanceId: 'inst-B' });
    managers.push(other);
    const released: string[] = [];
    manager.on('released', (id) => released.push(id));
    await manager.initialize('idle');
    await manager.initialize('busy');
    await manager.initialize('late');
    const done = manager.use('busy');
    clock.t += 5_000;
    await manager.saveAgentState('a', 'late', 'k', 1); // counts as use
    clock.t += 5_000;
    expect(await manager.releaseIdle(8_000)).toBe(1);
    expect(released).toEqual(['idle']);
    expect([...manager.heldSessionIds].sort()).toEqual(['busy', 'late']);
    expect(await store.get('idle')).toMatchObject({
      status: 'active',
      ownerId: null,
      lastHeartbeatAt: T0,
      graceExpiresAt: T0 + 120_000,
      dueAt: T0 + 120_000,
      recoveryAttempts: 0,
    });
    expect(await other.resume('idle')).toMatchObject({ mode: 'attached', record: { recoveryAttempts: 0 } });
    // In use: never released, however long.
    clock.t += 100_000;
    expect(await manager.releaseIdle(8_000)).toBe(1);
    expect(released).toEqual(['idle', 'late']);
    expect([...manager.heldSessionIds]).toEqual(['busy']);
    done();
    done(); // a second call does nothing
    clock.t += 1_000;
    expect(await manager.releaseIdle(8_000)).toBe(0);
  });

  it('a released session nobody uses expires at its idle deadline, its state deleted; the tombstone goes later', async () => {
    const { manager, store, clock } = setup({ idleTimeoutMs: 120_000 });
    const events = recordEvents(manager);
    await manager.initialize('s1');
    await manager.saveAgentState('a', 's1', 'k', 'v');
    await manager.releaseIdle(0);
    clock.t += 119_999;
    expect(await manager.cleanupExpired()).toMatchObject({ expired: 0 });
    clock.t += 1;
    expect(await manager.cleanupExpired()).toMatchObject({ expired: 1 });
    expect(events).toContainEqual(['expired', 's1']);
    expect(await store.getState({ sessionId: 's1', agentId: 'a', key: 'k' }, clock.t)).toBeUndefined();
    await expect(manager.resume('s1')).rejects.toMatchObject({ reason: 'expired' });
    clock.t += TOMBSTONE;
    expect(await manager.cleanupExpired()).toMatchObject({ deleted: 1 });
    expect(await store.get('s1')).toBeUndefined();
  });

  it('the heartbeat tick lets go of held sessions idle past idleTimeoutMs, so the sweep expires them', async () => {
    const { manager, store, clock } = setup({ idleTimeoutMs: 100_000 });
    const released: string[] = [];
    manager.on('released', (id) => released.push(id));
    await manager.initialize('s1');
    await manager.initialize('s2');
    const done = manager.use('s2');
    clock.t += 100_000;
    expect(await manager.tick()).toBe(1);
    expect(released).toEqual(['s1']);
    expect(await store.get('s1')).toMatchObject({ ownerId: null, dueAt: T0 + 100_000 });
    expect(await manager.cleanupExpired()).toMatchObject({ expired: 1 });
    done();
  });

  it('explicit heartbeats count as use; idleTimeoutMs Infinity never lets go in the tick', async () => {
    const { manager, clock } = setup({ idleTimeoutMs: Number.POSITIVE_INFINITY });
    await manager.initialize('s1');
    clock.t += 365 * 86_400_000;
    await manager.tick();
    expect(manager.heldSessionIds.has('s1')).toBe(true);
    const timed = setup({ idleTimeoutMs: 10_000 });
    await timed.manager.initialize('s1');
    timed.clock.t += 9_000;
    await timed.manager.heartbeat('s1');
    timed.clock.t += 9_000;
    expect(await timed.manager.releaseIdle(10_000)).toBe(0);
  });

  it('a hand-off the store refuses is written again at the next tick; the session is not held meanwhile', async () => {
    const { manager, store, clock } = setup({ idleTimeoutMs: 120_000 });
    await manager.initialize('s1');
    const cas = vi.spyOn(store, 'compareAndSet').mockRejectedValueOnce(new Error('store down'));
    await expect(manager.releaseIdle(0)).rejects.toThrow('store down');
    expect(manager.heldSessionIds.has('s1')).toBe(false);
    expect(await store.get('s1')).toMatchObject({ ownerId: 'inst-A' });
    clock.t += 1_000;
    await manager.tick();
    expect(cas).toHaveBeenCalledTimes(2);
    expect(await store.get('s1')).toMatchObject({ ownerId: null, graceExpiresAt: T0 + 120_000 });
  });

  it('refuses an idleTimeoutMs that is not a positive number or Infinity', () => {
    for (const idleTimeoutMs of [0, -1, Number.NaN, '1' as unknown as number]) {
      expect(() => setup({ idleTimeoutMs })).toThrow(InvalidArgumentError);
    }
  });
});

describe('canRecover and recover', () => {
  it('recovers a disconnected session: active, held here, one attempt counted, event once', async () => {
    const { manager, clock } = setup();
    const events = recordEvents(manager);
    await manager.initialize('s1', { principal: 'alice' });
    await manager.markDisconnected('s1');
    clock.t += 5000;
    expect(await manager.canRecover('s1', { principal: 'alice' })).toEqual({ ok: true });
    const record = await manager.recover('s1', { principal: 'alice' });
    expect(record).toMatchObject({
      status: 'active',
      recoveryAttempts: 1,
      recoveredAt: clock.t,
      lastHeartbeatAt: clock.t,
      ownerId: 'inst-A',
    });
    expect(await manager.getSession('s1')).toEqual(record);
    expect(manager.heldSessionIds.has('s1')).toBe(true);
    expect(events.filter(([name]) => name === 'recovered')).toEqual([['recovered', 's1']]);
  });

  it('reports and throws each refusal reason, writing nothing', async () => {
    const { manager, store, clock } = setup({ maxRecoveryAttempts: 1 });
    const refusal = async (id: string, principal?: string) => {
      const before = await store.get(id);
      const check = await manager.canRecover(id, { principal });
      const error = await rejection(manager.recover(id, { principal }));
      expect(error).toBeInstanceOf(RecoveryRefusedError);
      expect(error).toMatchObject({ code: 'RECOVERY_REFUSED', sessionId: id });
      expect(check).toEqual({ ok: false, reason: (error as RecoveryRefusedError).reason });
      expect(await store.get(id)).toEqual(before);
      return check.ok ? 'ok' : check.reason;
    };

    expect(await refusal('unknown')).toBe('not_found');

    await manager.initialize('live', { principal: 'alice' });
    expect(await refusal('live', 'alice')).toBe('still_active');
    expect(await refusal('live', 'mallory')).toBe('principal_mismatch');
    expect(await refusal('live')).toBe('principal_mismatch');

    await manager.initialize('closed');
    await manager.close('closed');
    expect(await refusal('closed')).toBe('closed');

    await manager.initialize('used');
    await manager.markDisconnected('used');
    await manager.recover('used');
    await manager.markDisconnected('used');
    expect(await refusal('used')).toBe('attempts_exhausted');

    await manager.initialize('late');
    await manager.markDisconnected('late');
    clock.t += GRACE;
    expect(await refusal('late')).toBe('grace_expired');

    await manager.cleanupExpired();
    expect((await store.get('late'))?.status).toBe('expired');
    expect(await refusal('late')).toBe('expired');
  });

  it('recovers a stale session (its owner stopped heartbeating) but not a fresh one', async () => {
    const { manager, clock } = setup();
    await manager.initialize('s1');
    clock.t += STALE - 1;
    expect(await manager.canRecover('s1')).toEqual({ ok: false, reason: 'still_active' });
    clock.t += 1;
    expect((await manager.recover('s1')).recoveryAttempts).toBe(1);
  });
});

describe('resume', () => {
  it('attaches to a fresh active session without counting a recovery', async () => {
    const { store, clock } = setup();
    const a = new SessionManager({ store, clock, timers: false, instanceId: 'A' });
    const b = new SessionManager({ store, clock, timers: false, instanceId: 'B' });
    managers.push(a, b);
    await a.initialize('s1');
    const result = await b.resume('s1');
    expect(result.mode).toBe('attached');
    expect(result.record.recoveryAttempts).toBe(0);
    expect(b.heldSessionIds.has('s1')).toBe(true);
    await a.markDisconnected('s1');
    const again = await b.resume('s1');
    expect(again.mode).toBe('recovered');
    expect(again.record.recoveryAttempts).toBe(1);
  });
});

describe('close', () => {
  it('closes any live session, deletes its state, keeps a tombstone, emits closed once', async () => {
    const { manager, store } = setup();
    const events = recordEvents(manager);
    await manager.initialize('s1');
    await manager.saveAgentState('agent', 's1', 'k', 1);
    const record = await manager.close('s1');
    expect(record.status).toBe('closed');
    expect(await manager.close('s1')).toEqual(record);
    expect(events.filter(([name]) => name === 'closed')).toHaveLength(1);
    expect(manager.heldSessionIds.has('s1')).toBe(false);
    expect((await manager.getSession('s1'))?.status).toBe('closed');
    expect(await store.listState('s1', undefined, T0)).toEqual([]);
    expect(await manager.loadAgentState('agent', 's1', 'k')).toBeUndefined();
    await expect(manager.saveAgentState('agent', 's1', 'k', 2)).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it('closes a disconnected session too, and throws SessionNotFoundError for an unknown one', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    await manager.markDisconnected('s1');
    expect((await manager.close('s1')).status).toBe('closed');
    await expect(manager.close('nope')).rejects.toBeInstanceOf(SessionNotFoundError);
  });
});

describe('getSession', () => {
  it('returns undefined for an unknown id and a copy the caller cannot use to change the store', async () => {
    const { manager } = setup();
    expect(await manager.getSession('nope')).toBeUndefined();
    await manager.initialize('s1', { metadata: { a: 1 } });
    const record = await manager.getSession('s1');
    (record?.metadata as JsonObject).a = 2;
    expect((await manager.getSession('s1'))?.metadata).toEqual({ a: 1 });
  });

  it('rejects a malformed id', async () => {
    const { manager } = setup();
    await expect(manager.getSession('')).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('getActiveSessions', () => {
  async function seed(manager: SessionManager, clock: { t: number }, n: number) {
    for (let i = 0; i < n; i++) {
      clock.t += i % 3 === 0 ? 1 : 0; // ties on createdAt, broken by id
      await manager.initialize(`s${String(i).padStart(4, '0')}`);
    }
  }

  async function all(manager: SessionManager, limit: number) {
    const pages: SessionRecord[][] = [];
    let cursor: string | undefined;
    do {
      const page = await manager.getActiveSessions({ limit, cursor });
      pages.push(page.sessions);
      cursor = page.nextCursor;
    } while (cursor);
    return pages;
  }

  it('pages by cursor, newest first, ties by id descending, no cursor on the last page', async () => {
    const { manager, clock } = setup();
    await seed(manager, clock, 250);
    const pages = await all(manager, 100);
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    const flat = pages.flat();
    expect(new Set(flat.map((r) => r.id)).size).toBe(250);
    const sorted = [...flat].sort(
      (a, b) => b.createdAt - a.createdAt || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0),
    );
    expect(flat.map((r) => r.id)).toEqual(sorted.map((r) => r.id));
  });

  it('gives no cursor when the last page is exactly full', async () => {
    const { manager, clock } = setup();
    await seed(manager, clock, 200);
    expect((await all(manager, 100)).map((p) => p.length)).toEqual([100, 100]);
  });

  it('defaults to 100 live sessions and leaves out expired and closed ones', async () => {
    const { manager, clock } = setup();
    await seed(manager, clock, 120);
    await manager.markDisconnected('s0001');
    await manager.close('s0002');
    const page = await manager.getActiveSessions();
    expect(page.sessions).toHaveLength(100);
    const ids = (await all(manager, 1000)).flat().map((r) => r.id);
    expect(ids).toHaveLength(119);
    expect(ids).toContain('s0001');
    expect(ids).not.toContain('s0002');
    const closed = await manager.getActiveSessions({ statuses: ['closed'] });
    expect(closed.sessions.map((r) => r.id)).toEqual(['s0002']);
  });

  it('rejects a forged cursor and a bad limit', async () => {
    const { manager } = setup();
    await expect(manager.getActiveSessions({ cursor: 'garbage' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(manager.getActiveSessions({ limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(manager.getActiveSessions({ limit: 2.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('agent state', () => {
  it('saves, loads, overwrites, lists and deletes, per agent and key', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    expect(await manager.loadAgentState('a', 's1', 'k')).toBeUndefined();
    await manager.saveAgentState('b', 's1', 'z', 'last');
    await manager.saveAgentState('a', 's1', 'k', { step: 1 });
    await manager.saveAgentState('a', 's1', 'k', { step: 2 });
    await manager.saveAgentState('a', 's1', 'j', [1, 'two', null, true]);
    expect(await manager.loadAgentState('a', 's1', 'k')).toEqual({ step: 2 });
    expect((await manager.listAgentState('s1')).map((e) => [e.agentId, e.key])).toEqual([
      ['a', 'j'],
      ['a', 'k'],
      ['b', 'z'],
    ]);
    expect((await manager.listAgentState('s1', 'b')).map((e) => e.value)).toEqual(['last']);
    expect(await manager.deleteAgentState('a', 's1', 'k')).toBe(true);
    expect(await manager.deleteAgentState('a', 's1', 'k')).toBe(false);
    expect(await manager.loadAgentState('a', 's1', 'k')).toBeUndefined();
  });

  it('round-trips unicode, __proto__ and constructor keys exactly', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    const value = JSON.parse(
      '{"__proto__":{"x":1},"constructor":"c","ключ":"значение 🙂","n":[0,-1.5,1e300]}',
    );
    await manager.saveAgentState('агент', 's1', 'clé 🔑', value);
    const loaded = await manager.loadAgentState('агент', 's1', 'clé 🔑');
    expect(JSON.stringify(loaded)).toBe(JSON.stringify(value));
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
  });

  it('keeps no reference to what the caller saved or loaded', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    const value = { list: [1] };
    await manager.saveAgentState('a', 's1', 'k', value);
    value.list.push(2);
    const loaded = (await manager.loadAgentState('a', 's1', 'k')) as { list: number[] };
    loaded.list.push(3);
    expect(await manager.loadAgentState('a', 's1', 'k')).toEqual({ list: [1] });
  });

  it.each<[string, unknown]>([
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
    ],
    ['a BigInt', { n: 1n }],
    ['a function', { f: () => 1 }],
    ['undefined at the top', undefined],
    ['undefined in an array', [1, undefined]],
    ['NaN', { n: Number.NaN }],
    ['a Date', { d: new Date(0) }],
    ['a Map', new Map()],
    ['a symbol', Symbol('s')],
  ])('rejects %s with InvalidValueError before any write', async (_, value) => {
    const { manager, store } = setup();
    await manager.initialize('s1');
    await manager.saveAgentState('a', 's1', 'k', 'before');
    const setState = vi.spyOn(store, 'setState');
    await expect(manager.saveAgentState('a', 's1', 'k', value as JsonValue)).rejects.toBeInstanceOf(
      InvalidValueError,
    );
    expect(setState).not.toHaveBeenCalled();
    expect(await manager.loadAgentState('a', 's1', 'k')).toBe('before');
  });

  it('expires an entry at ttlMs or expiresAt, measured on the injected clock', async () => {
    const { manager, clock } = setup();
    await manager.initialize('s1');
    await manager.saveAgentState('a', 's1', 'ttl', 1, { ttlMs: 1000 });
    await manager.saveAgentState('a', 's1', 'at', 2, { expiresAt: T0 + 2000 });
    await manager.saveAgentState('a', 's1', 'date', 3, { expiresAt: new Date(T0 + 3000) });
    await manager.saveAgentState('a', 's1', 'forever', 4);
    expect((await manager.listAgentState('s1')).find((e) => e.key === 'ttl')?.expiresAt).toBe(T0 + 1000);
    clock.t = T0 + 999;
    expect(await manager.loadAgentState('a', 's1', 'ttl')).toBe(1);
    clock.t = T0 + 1000;
    expect(await manager.loadAgentState('a', 's1', 'ttl')).toBeUndefined();
    expect(await manager.loadAgentState('a', 's1', 'at')).toBe(2);
    clock.t = T0 + 3000;
    expect((await manager.listAgentState('s1')).map((e) => e.key)).toEqual(['forever']);
    const result = await manager.cleanupExpired();
    expect(result).toEqual<CleanupResult>({ expired: 0, deleted: 0, stateEntriesPurged: 3 });
  });

  it.each<[string, object]>([
    ['ttlMs 0', { ttlMs: 0 }],
    ['ttlMs -1', { ttlMs: -1 }],
    ['ttlMs NaN', { ttlMs: Number.NaN }],
    ['an invalid Date', { expiresAt: new Date('nope') }],
    ['both ttlMs and expiresAt', { ttlMs: 5, expiresAt: T0 + 5 }],
  ])('rejects %s with InvalidArgumentError', async (_, options) => {
    const { manager } = setup();
    await manager.initialize('s1');
    await expect(manager.saveAgentState('a', 's1', 'k', 1, options)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await manager.loadAgentState('a', 's1', 'k')).toBeUndefined();
  });

  it('rejects malformed agent ids and keys', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    await expect(manager.saveAgentState('', 's1', 'k', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(manager.saveAgentState('a', 's1', '', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(manager.loadAgentState('a', 's1', 'k'.repeat(1025))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('saves to a disconnected session, not to an unknown, expired or closed one', async () => {
    const { manager, clock } = setup();
    await manager.initialize('s1');
    await manager.markDisconnected('s1');
    await manager.saveAgentState('a', 's1', 'k', 1);
    await expect(manager.saveAgentState('a', 'nope', 'k', 1)).rejects.toBeInstanceOf(SessionNotFoundError);
    clock.t += GRACE;
    await manager.cleanupExpired();
    await expect(manager.saveAgentState('a', 's1', 'k', 1)).rejects.toBeInstanceOf(SessionNotFoundError);
  });
});

describe('cleanupExpired', () => {
  it('expires past grace, deletes past tombstone, emits expired once, and counts', async () => {
    const { manager, clock, store } = setup();
    const events = recordEvents(manager);
    await manager.initialize('gone');
    await manager.initialize('kept');
    await manager.saveAgentState('a', 'gone', 'k', 1);
    await manager.markDisconnected('gone');
    clock.t += GRACE;
    await manager.heartbeat('kept');
    expect(await manager.cleanupExpired()).toEqual({ expired: 1, deleted: 0, stateEntriesPurged: 0 });
    expect(await manager.cleanupExpired()).toEqual({ expired: 0, deleted: 0, stateEntriesPurged: 0 });
    expect(events.filter(([name]) => name === 'expired')).toEqual([['expired', 'gone']]);
    expect(await store.listState('gone', undefined, clock.t)).toEqual([]);
    clock.t += TOMBSTONE;
    await manager.heartbeat('kept');
    expect(await manager.cleanupExpired()).toEqual({ expired: 0, deleted: 1, stateEntriesPurged: 0 });
    expect(await manager.getSession('gone')).toBeUndefined();
    expect((await manager.getSession('kept'))?.status).toBe('active');
  });

  it('shares one run between overlapping calls', async () => {
    const { manager, store } = setup();
    const claimDue = vi.spyOn(store, 'claimDue');
    const [a, b] = [manager.cleanupExpired(), manager.cleanupExpired()];
    expect(a).toBe(b);
    await a;
    expect(claimDue).toHaveBeenCalledTimes(1);
  });

  it('claims due records in batches of cleanupBatchSize', async () => {
    const { manager, store, clock } = setup({ cleanupBatchSize: 10 });
    for (let i = 0; i < 35; i++) await manager.initialize(`s${i}`);
    clock.t += GRACE;
    const claimDue = vi.spyOn(store, 'claimDue');
    expect((await manager.cleanupExpired()).expired).toBe(35);
    expect(claimDue.mock.calls.map(([q]) => q.limit)).toEqual([10, 10, 10, 10]);
  });
});

describe('tick', () => {
  it('touches every held session in batches and returns the count', async () => {
    const { manager, store, clock } = setup({ heartbeatBatchSize: 4 });
    for (let i = 0; i < 10; i++) await manager.initialize(`s${i}`);
    const touch = vi.spyOn(store, 'touch');
    clock.t += 30_000;
    expect(await manager.tick()).toBe(10);
    expect(touch.mock.calls.map(([ids]) => ids.length)).toEqual([4, 4, 2]);
    expect((await manager.getSession('s9'))?.lastHeartbeatAt).toBe(clock.t);
  });

  it('sends every held id once, in sorted batches, across additions, removals and re-additions', async () => {
    const { manager, store } = setup({ heartbeatBatchSize: 7 });
    const touch = vi.spyOn(store, 'touch');
    const sent = () => touch.mock.calls.splice(0).flatMap(([ids]) => [...ids]);
    const expected = () => [...manager.heldSessionIds].sort();
    for (const i of [5, 3, 9, 1, 7, 2, 8, 0, 6, 4, 15, 11, 13, 12, 14, 10]) await manager.initialize(`s${i}`);
    await manager.tick();
    expect(sent()).toEqual(expected());
    await manager.markDisconnected('s3');
    await manager.markDisconnected('s12');
    await manager.initialize('s05');
    await manager.initialize('a');
    await manager.recover('s3');
    await manager.markDisconnected('s9');
    await manager.recover('s9');
    await manager.tick();
    const ids = sent();
    expect(ids).toEqual(expected());
    expect(ids).not.toContain('s12');
    expect(ids).toContain('s3');
    expect(new Set(ids).size).toBe(ids.length);
    await manager.tick();
    expect(sent()).toEqual(ids);
  });

  it('keeps batches sorted, complete and within heartbeatBatchSize through random churn', async () => {
    const { manager, store } = setup({ heartbeatBatchSize: 5, maxRecoveryAttempts: 1000 });
    const touch = vi.spyOn(store, 'touch');
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const created: string[] = [];
    for (let round = 0; round < 40; round++) {
      for (let op = rnd(12); op > 0; op--) {
        const id = created[rnd(created.length + 1)];
        if (id === undefined || rnd(3) === 0) {
          const fresh = `id-${rnd(10_000)}-${round}-${op}`;
          await manager.initialize(fresh);
          created.push(fresh);
        } else if (manager.heldSessionIds.has(id)) await manager.markDisconnected(id);
        else if ((await manager.getSession(id))?.status === 'disconnected') await manager.recover(id);
      }
      touch.mockClear();
      await manager.tick();
      const batches = touch.mock.calls.map(([ids]) => [...ids]);
      for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(5);
      expect(batches.flat()).toEqual([...manager.heldSessionIds].sort());
    }
  });

  it('drops a held session that was closed elsewhere and emits lost once', async () => {
    const { manager, store, clock } = setup();
    const other = new SessionManager({ store, clock, timers: false, instanceId: 'B' });
    managers.push(other);
    const events = recordEvents(manager);
    await manager.initialize('s1');
    await manager.initialize('s2');
    await other.close('s1');
    expect(await manager.tick()).toBe(1);
    expect(await manager.tick()).toBe(1);
    expect(events.filter(([name]) => name === 'lost')).toEqual([['lost', 's1']]);
    expect([...manager.heldSessionIds]).toEqual(['s2']);
  });

  it('does not report as lost a session this instance disconnects while a tick is in flight', async () => {
    const { manager, store } = setup();
    const events = recordEvents(manager);
    await manager.initialize('s1');
    await manager.initialize('s2');
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const touch = store.touch.bind(store);
    vi.spyOn(store, 'touch').mockImplementation(async (ids, patch) => {
      await gate;
      return touch(ids, patch);
    });
    const ticking = manager.tick();
    await manager.markDisconnected('s1');
    release();
    expect(await ticking).toBe(1);
    expect(events.filter(([name]) => name === 'lost')).toEqual([]);
  });

  it('shares one run between overlapping calls', async () => {
    const { manager } = setup();
    await manager.initialize('s1');
    const [a, b] = [manager.tick(), manager.tick()];
    expect(a).toBe(b);
    expect(await a).toBe(1);
  });
});

describe('dispose', () => {
  it('closes nothing, waits for a running tick, then refuses new work', async () => {
    const { manager, store } = setup();
    const close = vi.spyOn(store, 'close');
    await manager.initialize('s1');
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const touch = store.touch.bind(store);
    vi.spyOn(store, 'touch').mockImplementation(async (ids, patch) => {
      await gate;
      return touch(ids, patch);
    });
    const ticking = manager.tick();
    let disposed = false;
    const disposing = manager.dispose().then(() => {
      disposed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(disposed).toBe(false);
    release();
    await disposing;
    expect(await ticking).toBe(1);
    expect(close).not.toHaveBeenCalled();
    expect(manager.heldSessionIds.size).toBe(0);
    await expect(manager.initialize('s2')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await store.get('s1'))?.status).toBe('active');
  });

  it('stops the timers it started', async () => {
    const clearInterval = vi.spyOn(globalThis, 'clearInterval');
    const clearTimeout = vi.spyOn(globalThis, 'clearTimeout');
    const { manager } = setup({ timers: true });
    await manager.dispose();
    expect(clearInterval).toHaveBeenCalledTimes(1);
    expect(clearTimeout).toHaveBeenCalledTimes(1);
    expect(clearInterval.mock.calls[0]?.[0]).toBeDefined();
    expect(clearTimeout.mock.calls[0]?.[0]).toBeDefined();
  });
});

describe('names', () => {
  it('refuses U+0000 in agent ids and keys with InvalidArgumentError, before any write', async () => {
    const { manager, store } = setup();
    await manager.initialize('s1');
    const setState = vi.spyOn(store, 'setState');
    for (const [agentId, key] of [
      ['a\u0000', 'k'],
      ['a', '\u0000k'],
    ] as const) {
      await expect(manager.saveAgentState(agentId, 's1', key, 1)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(manager.loadAgentState(agentId, 's1', key)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(manager.deleteAgentState(agentId, 's1', key)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(manager.listAgentState('s1', 'a\u0000')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(setState).not.toHaveBeenCalled();
  });
});
