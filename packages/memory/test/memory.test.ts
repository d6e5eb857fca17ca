/**
 * What is particular to the memory adapter: its due index (per-dueAt lists through the rows)
 * against a naive model under random operations, bounded index memory under endless
 * heartbeats, and copies in and out. The contract itself is checked by the conformance suite
 * (packages/conformance/test/memory.conformance.test.ts).
 */

import {
  InvalidValueError,
  type JsonObject,
  type LifecyclePolicy,
  SessionManager,
  type SessionRecord,
} from '@mcp-sessions/core';
import { createRecord } from '@mcp-sessions/core/adapter';
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

/** The store's private index sizes, to prove they stay bounded. */
function indexSize(store: MemorySessionStore): { buckets: number; times: number } {
  const inner = store as unknown as { due: Map<number, unknown>; dueTimes: { size: number } };
  return { buckets: inner.due.size, times: inner.dueTimes.size };
}

describe('due index', () => {
  it.each([1, 2, 3, 4, 5])('claims exactly what a naive model would (random run %i)', async (seed) => {
    const rnd = random(seed);
    const store = new MemorySessionStore();
    const model = new Map<string, SessionRecord>();
    let now = T0;
    // A long batch reused across calls (as the manager does) and sometimes edited in place.
    const big = Array.from({ length: 80 }, (_, i) => `s${i * 2}`);
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
        if (rnd(4) === 0) big[rnd(big.length)] = `s${rnd(200)}`;
        const ids = rnd(2) ? big : Array.from({ length: 1 + rnd(30) }, () => `s${rnd(200)}`);
        const touched = await store.touch(ids, { now, dueAt: at });
        const expected = ids.filter((i) => model.get(i)?.status === 'active');
        expect(touched).toEqual(expected);
        for (const i of expected) {
          const m = model.get(i)!;
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
        expect(await store.compareAndSet(next, m.version)).toBe(true);
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

  it('touches the right records through a batch array reused after deletes, re-inserts and edits', async () => {
    const store = new MemorySessionStore();
    const batch = Array.from({ length: 100 }, (_, i) => `s${i}`);
    for (const id of [...batch, 'other']) await store.insert(record(id, T0));
    expect(await store.touch(batch, { now: T0 + 1, dueAt: T0 + 10 })).toHaveLength(100);
    await store.delete('s5');
    await store.insert(record('s5', T0, { version: 7 }));
    batch[3] = 'other';
    const s7 = (await store.get('s7'))!;
    await store.compareAndSet({ ...s7, status: 'disconnected', version: s7.version + 1 }, s7.version);
    const touched = await store.touch(batch, { now: T0 + 2, dueAt: T0 + 20 });
    expect(touched).toHaveLength(99);
    expect(touched).not.toContain('s7');
    expect(await store.get('s5')).toMatchObject({ version: 8, lastHeartbeatAt: T0 + 2, dueAt: T0 + 20 });
    expect(await store.get('other')).toMatchObject({ lastHeartbeatAt: T0 + 2 });
    expect(await store.get('s3')).toMatchObject({ lastHeartbeatAt: T0 + 1, dueAt: T0 + 10 });
    const due = await store.claimDue({ now: T0 + 10, limit: 100, leaseMs: 1 });
    expect(due.map((r) => r.id).sort()).toEqual(['s3', 's7']); // the two left behind at T0 + 10
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
    const size = indexSize(store);
    // Every record was last touched at the same instant: one bucket, however many ticks ran.
    expect(size.buckets).toBe(1);
    expect(size.times).toBeLessThanOrEqual(2 * size.buckets + 1024);
    // And the index still answers: everything falls due at the end of grace from the last tick.
    clock.t += 600_000;
    expect((await manager.cleanupExpired()).expired).toBe(2000);
    await manager.dispose();
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
    await store.insert(record('s1', T0));
    const next = {
      ...record('s1', T0),
      version: 2,
      initializeParams: { d: new Date() } as unknown as JsonObject,
    };
    await expect(store.compareAndSet(next, 1)).rejects.toBeInstanceOf(InvalidValueError);
    expect((await store.get('s1'))?.version).toBe(1);
  });
});
