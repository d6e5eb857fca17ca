/**
 * What is particular to the memory adapter: its time indexes (due records, expiring state)
 * against a naive model under random operations, bounded index memory under endless
 * heartbeats and rewrites, and copies in and out. The contract itself is checked by the
 * conformance suite (packages/conformance/test/memory.conformance.test.ts).
 */

import { InvalidValueError, type JsonObject, SessionManager, type SessionRecord } from '@mcp-sessions/core';
import { createRecord, type LifecyclePolicy } from '@mcp-sessions/core/adapter';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { describe, expect, it } from 'vitest';

const T0 = 1_700_000_000_000;
const policy: LifecyclePolicy = {
  gracePeriodMs: 600_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};

function record(id: string, dueAt: number, patch: Partial<SessionRecord> = {}): SessionRecord {
  return { ...createRecord({ id, ownerId: 'test' }, T0, policy), dueAt, ...patch };
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
function random(seed: number) {
  let a = seed;
  return (n: number) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** The private sizes of a time index (`due` or `expiry`, in the store's context), to prove they stay bounded. */
function indexSize(store: MemorySessionStore, index: 'due' | 'expiry') {
  const context = (store as unknown as { context: Record<string, unknown> }).context;
  const inner = context[index] as {
    slots: Map<number, { keys: unknown[] }>;
    times: { size: number };
  };
  const keys = [...inner.slots.values()].reduce((n, slot) => n + slot.keys.length, 0);
  return { slots: inner.slots.size, times: inner.times.size, keys };
}

describe('due index', () => {
  it.each([1, 2, 3, 4, 5])('claims exactly what a naive model would (random run %i)', async (seed) => {
    const rnd = random(seed);
    const store = new MemorySessionStore();
    const model = new Map<string, SessionRecord>();
    let now = T0;
    for (let step = 0; step < 3000; step++) {
      const id = `s${rnd(200)}`;
      const op = rnd(10);
      const at = now + rnd(50) * 10; // few distinct instants: many records share a bucket
      if (op < 3) {
        const r = record(id, at);
        if (model.has(id)) await expect(store.insert(r)).rejects.toThrow();
        else {
          await store.insert(r);
          model.set(id, r);
        }
      } else if (op < 5) {
        const ids = Array.from({ length: 1 + rnd(80) }, () => `s${rnd(200)}`);
        const touched = await store.touch(ids, { now, dueAt: at });
        const expected = ids.filter((i) => model.get(i)?.status === 'active');
        expect(touched).toEqual(expected);
        for (const i of expected) {
          const m = model.get(i)!; // a repeated id is touched once per occurrence
          model.set(i, { ...m, lastHeartbeatAt: now, dueAt: at, version: m.version + 1 });
        }
      } else if (op < 6) {
        const m = model.get(id);
        if (!m) continue;
        const next = {
          ...m,
          status: rnd(2) ? 'disconnected' : 'active',
          dueAt: at,
          version: m.version + 1,
        } as const;
        expect(await store.compareAndSet(id, next, m.version)).toBe(true);
        model.set(id, next);
      } else if (op < 7) {
        expect(await store.delete(id)).toBe(model.delete(id));
      } else if (op < 9) {
        now += rnd(100);
      } else {
        const limit = 1 + rnd(20);
        const leaseMs = rnd(3) === 0 ? 0 : 1000;
        const claimed = await store.claimDue({ now, limit, leaseMs });
        const due = [...model.values()].filter((r) => r.dueAt <= now);
        expect(claimed).toHaveLength(Math.min(limit, due.length));
        expect(new Set(claimed.map((r) => r.id)).size).toBe(claimed.length);
        const latest = Math.max(...claimed.map((r) => model.get(r.id)!.dueAt));
        for (const r of claimed) expect(model.get(r.id)!.dueAt).toBeLessThanOrEqual(now);
        // Earliest first: nothing left unclaimed was due before the latest one claimed.
        const ids = new Set(claimed.map((r) => r.id));
        for (const r of due) if (!ids.has(r.id)) expect(r.dueAt).toBeGreaterThanOrEqual(latest);
        for (const r of claimed) {
          const m = model.get(r.id)!;
          const leased = { ...m, dueAt: now + leaseMs, version: m.version + 1 };
          expect(r).toEqual(leased);
          model.set(r.id, leased);
        }
      }
    }
    for (const [id, m] of model) expect(await store.get(id)).toEqual(m);
  });

  it('claims a record that left an instant and came back once, and keeps a busy slot bounded', async () => {
    const store = new MemorySessionStore();
    await store.insert(record('keeper', T0)); // keeps the slot at T0 alive throughout
    await store.insert(record('mover', T0));
    let mover = (await store.get('mover'))!;
    for (let i = 0; i < 1000; i++) {
      for (const dueAt of [T0 + 1, T0]) {
        const next = { ...mover, dueAt, version: mover.version + 1 };
        expect(await store.compareAndSet('mover', next, mover.version)).toBe(true);
        mover = next;
      }
    }
    expect(indexSize(store, 'due').keys).toBeLessThanOrEqual(2 * 2 + 64 + 1);
    const claimed = await store.claimDue({ now: T0, limit: 10, leaseMs: 0 });
    expect(claimed.map((r) => r.id).sort()).toEqual(['keeper', 'mover']);
  });

  it('resumes a bucket cut by the limit without repeating or missing a record', async () => {
    const store = new MemorySessionStore();
    for (let i = 0; i < 25; i++) await store.insert(record(`s${i}`, T0));
    const seen: string[] = [];
    for (let call = 0; call < 3; call++) {
      const claimed = await store.claimDue({ now: T0, limit: 10, leaseMs: 60_000 });
      seen.push(...claimed.map((r) => r.id));
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect(await store.claimDue({ now: T0, limit: 10, leaseMs: 60_000 })).toEqual([]);
  });

  it('with a zero lease claims a record once per call and keeps it due', async () => {
    const store = new MemorySessionStore();
    await store.insert(record('a', T0));
    await store.insert(record('b', T0));
    const first = await store.claimDue({ now: T0, limit: 10, leaseMs: 0 });
    expect(first.map((r) => r.id).sort()).toEqual(['a', 'b']);
    const second = await store.claimDue({ now: T0, limit: 10, leaseMs: 0 });
    expect(second.map((r) => r.id).sort()).toEqual(['a', 'b']);
    expect(second[0]!.version).toBe(3);
  });

  it('stays bounded through endless heartbeats with no sweep', async () => {
    const clock = { t: T0, now: () => clock.t };
    const store = new MemorySessionStore();
    const manager = new SessionManager({ store, clock, timers: false, cleanupIntervalMs: 0 });
    for (let i = 0; i < 2000; i++) await manager.initialize(`s${i}`);
    for (let i = 0; i < 200; i++) {
      clock.t += 30_000;
      await manager.tick();
      await manager.heartbeat(`s${i}`); // single touches create and drop buckets too
    }
    const size = indexSize(store, 'due');
    // Every record was last touched at the same instant: one slot, however many ticks ran.
    expect(size.slots).toBe(1);
    expect(size.keys).toBe(2000);
    // Instants of dropped slots: at most twice the slots there were at the last push, plus the slack.
    expect(size.times).toBeLessThanOrEqual(2 * (size.slots + 1) + 64);
    // And the index still answers: everything falls due at the end of grace from the last tick.
    clock.t += 600_000;
    expect((await manager.cleanupExpired()).expired).toBe(2000);
    await manager.dispose();
  });
});

describe('expiry index', () => {
  it.each([1, 2, 3])('purges exactly what a naive model would (random run %i)', async (seed) => {
    const rnd = random(seed);
    const store = new MemorySessionStore();
    const sessions = ['a', 'b', 'c'];
    for (const id of sessions) await store.insert(record(id, T0));
    /** sessionId NUL agentId NUL key → expiresAt */
    const model = new Map<string, number | null>();
    let now = T0;
    for (let step = 0; step < 3000; step++) {
      const sessionId = sessions[rnd(3)]!;
      const agentId = `g${rnd(3)}`;
      const key = `k${rnd(5)}`;
      const slot = `${sessionId}\u0000${agentId}\u0000${key}`;
      const op = rnd(20);
      if (op < 10) {
        const expiresAt = rnd(4) === 0 ? null : now + rnd(20) * 10; // few instants: slots are shared
        await store.setState({ sessionId, agentId, key, value: step, updatedAt: now, expiresAt });
        model.set(slot, expiresAt);
      } else if (op < 13) {
        expect(await store.deleteState({ sessionId, agentId, key })).toBe(model.delete(slot));
      } else if (op < 14) {
        await store.purgeSessionData(sessionId);
        for (const k of [...model.keys()]) if (k.startsWith(`${sessionId}\u0000`)) model.delete(k);
      } else if (op < 15) {
        await store.delete(sessionId);
        await store.insert(record(sessionId, T0));
        for (const k of [...model.keys()]) if (k.startsWith(`${sessionId}\u0000`)) model.delete(k);
      } else if (op < 18) {
        now += rnd(60);
      } else {
        const expired = [...model].filter(([, at]) => at !== null && at <= now).map(([k]) => k);
        expect(await store.purgeExpiredState(now)).toBe(expired.length);
        for (const k of expired) model.delete(k);
      }
    }
    for (const sessionId of sessions) {
      const listed = await store.listState(sessionId, undefined, Number.NEGATIVE_INFINITY);
      const keys = listed.map((e) => `${sessionId}\u0000${e.agentId}\u0000${e.key}`).sort();
      expect(keys).toEqual([...model.keys()].filter((k) => k.startsWith(`${sessionId}\u0000`)).sort());
    }
    const size = indexSize(store, 'expiry');
    const expiring = [...model.values()].filter((at) => at !== null).length;
    expect(size.keys).toBeLessThanOrEqual(2 * expiring + 64 * size.slots + size.slots);
  });

  it('purges an entry rewritten with the same expiry once', async () => {
    const store = new MemorySessionStore();
    await store.insert(record('s', T0));
    const entry = { sessionId: 's', agentId: 'g', key: 'k', updatedAt: T0, expiresAt: T0 + 10 };
    await store.setState({ ...entry, key: 'other', value: 0 }); // keeps the instant's slot alive
    await store.setState({ ...entry, value: 1 });
    await store.setState({ ...entry, value: 2 });
    expect(await store.purgeExpiredState(T0 + 10)).toBe(2);
    expect(await store.purgeExpiredState(T0 + 10)).toBe(0);
  });
});

describe('copies in and out', () => {
  it('keeps no reference to an inserted or written record, and hands out fresh ones', async () => {
    const store = new MemorySessionStore();
    const metadata: JsonObject = { tags: ['a'] };
    const r = record('s1', T0, { metadata, initializeParams: { clientInfo: { name: 'c' } } });
    await store.insert(r);
    (metadata.tags as string[]).push('b');
    const got = (await store.get('s1'))!;
    expect(got.metadata).toEqual({ tags: ['a'] });
    (got.metadata!.tags as string[]).push('c');
    (got.initializeParams!.clientInfo as JsonObject).name = 'x';
    const again = (await store.get('s1'))!;
    expect(again).toEqual({ ...r, metadata: { tags: ['a'] } });
    expect(again).not.toBe(got);
    const [listed] = await store.list({ statuses: ['active'], limit: 1 });
    expect(listed).toEqual(again);
    expect(listed).not.toBe(again);
  });

  it('rejects a record whose JSON fields cannot round-trip before storing anything', async () => {
    const store = new MemorySessionStore();
    const bad = record('s1', T0, { metadata: { n: 1n } as unknown as JsonObject });
    await expect(store.insert(bad)).rejects.toBeInstanceOf(InvalidValueError);
    expect(await store.get('s1')).toBeUndefined();
    expect(await store.list({ statuses: ['active'], limit: 10 })).toEqual([]);
    expect(await store.claimDue({ now: T0, limit: 10, leaseMs: 0 })).toEqual([]);
  });

  it('compareAndSet takes the liveness fields by name and keeps no reference to them', async () => {
    const store = new MemorySessionStore();
    const r = record('s1', T0, { metadata: { a: 1 } });
    await store.insert(r);
    // A JS caller passing a whole record, identity changed and an unknown field added.
    const next = { ...r, status: 'disconnected', version: 2, metadata: { a: 2 }, principal: 'p', extra: 1 };
    expect(await store.compareAndSet('s1', next as unknown as SessionRecord, 1)).toBe(true);
    next.version = 99;
    expect(await store.get('s1')).toEqual({ ...r, status: 'disconnected', version: 2 });
  });
});
