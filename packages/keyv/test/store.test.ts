/**
 * Focused behaviour of KeyvSessionStore over every promised backend: what the bridge adds on top
 * of Keyv (indexes, per-session serialisation, counters, key hashing) is where it can go wrong.
 */

import {
  InvalidArgumentError,
  InvalidValueError,
  SessionExistsError,
  SessionManager,
  SessionNotFoundError,
  type SessionRecord,
  StoreError,
} from '@mcp-sessions/core';
import {
  createRecord,
  createTask,
  type LifecyclePolicy,
  type TaskPolicy,
  type TaskRecord,
  taskStateOf,
} from '@mcp-sessions/core/adapter';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import Keyv from 'keyv';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  memoryKeyv,
  POSTGRES_URL,
  postgresKeyv,
  REDIS_URL,
  redisKeyv,
  type SqliteFile,
  sqliteFile,
  uniquePrefix,
} from './backends';

if (!REDIS_URL) console.warn('!!! MCP_SESSIONS_TEST_REDIS_URL unset: the keyv+redis tests are SKIPPED');
if (!POSTGRES_URL)
  console.warn('!!! MCP_SESSIONS_TEST_POSTGRES_URL unset: the keyv+postgres tests are SKIPPED');

const policy: LifecyclePolicy = {
  gracePeriodMs: 10_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 3_000,
  tombstoneMs: 60_000,
};
const T0 = 1_000_000;

function rec(id: string, patch: Partial<SessionRecord> = {}): SessionRecord {
  return { ...createRecord({ id, ownerId: 'test' }, T0, policy), ...patch };
}

const taskPolicy: TaskPolicy = { leaseMs: 1_000, defaultTtlMs: 60_000 };

/** A task created at `at` by worker w1: its lease lapses at `at + 1 s`, its ttl at `at + 60 s`. */
function task(id: string, at = T0): TaskRecord {
  return createTask({ id, request: { method: 'tools/call' }, workerId: 'w1' }, at, taskPolicy);
}

interface Backend {
  name: string;
  skip?: boolean;
  /** A Keyv for one test, and how to dispose of it afterwards. */
  open(): Promise<{ keyv: Keyv; dispose(): Promise<void> }>;
  afterAll?(): Promise<void>;
}

let pgKeyv: Keyv | undefined;
const backends: Backend[] = [
  {
    name: 'memory',
    open: async () => ({ keyv: memoryKeyv(), dispose: async () => {} }),
  },
  {
    name: 'sqlite',
    open: async () => {
      const db: SqliteFile = sqliteFile();
      const keyv = await db.open();
      return {
        keyv,
        dispose: async () => {
          await keyv.disconnect();
          db.remove();
        },
      };
    },
  },
  {
    name: 'redis',
    skip: !REDIS_URL,
    open: async () => {
      const keyv = redisKeyv(REDIS_URL!);
      return { keyv, dispose: () => keyv.disconnect() };
    },
  },
  {
    name: 'postgres',
    skip: !POSTGRES_URL,
    open: async () => {
      pgKeyv ??= postgresKeyv(POSTGRES_URL!, 'keyv_store_test');
      return { keyv: pgKeyv, dispose: async () => {} };
    },
    afterAll: async () => {
      await pgKeyv?.disconnect();
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`KeyvSessionStore over ${backend.name}`, () => {
    let store: KeyvSessionStore;
    let dispose: () => Promise<void>;

    beforeEach(async () => {
      const opened = await backend.open();
      dispose = opened.dispose;
      store = new KeyvSessionStore(opened.keyv, { prefix: uniquePrefix(), bucketMs: 1_000, indexShards: 4 });
    });
    afterEach(async () => {
      await store.close();
      await dispose();
    });
    afterAll(async () => {
      await backend.afterAll?.();
    });

    it('declares what it cannot promise', () => {
      expect(store.capabilities).toEqual({ atomic: false, durable: false, crossProcess: false, tasks: true });
    });

    it('inserts once, and hands out copies', async () => {
      const record = rec('s1', { metadata: { a: [1] } });
      await store.insert(record);
      await expect(store.insert(rec('s1'))).rejects.toBeInstanceOf(SessionExistsError);
      const got = await store.get('s1');
      expect(got).toEqual(record);
      (got!.metadata!.a as number[]).push(2);
      expect((await store.get('s1'))!.metadata).toEqual({ a: [1] });
      expect(await store.get('nope')).toBeUndefined();
    });

    it('rejects a value JSON cannot carry before writing anything', async () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(store.insert(rec('bad', { metadata: cyclic as never }))).rejects.toBeInstanceOf(
        InvalidValueError,
      );
      expect(await store.get('bad')).toBeUndefined();
    });

    it('compare-and-set wins only against the version it read, also under concurrency', async () => {
      await store.insert(rec('s1'));
      const base = (await store.get('s1'))!;
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.compareAndSet(
            's1',
            { ...base, version: base.version + 1, recoveryAttempts: i + 1 },
            base.version,
          ),
        ),
      );
      expect(attempts.filter(Boolean)).toHaveLength(1);
      expect((await store.get('s1'))!.version).toBe(base.version + 1);
      expect(await store.compareAndSet('s1', { ...base, version: 9 }, base.version)).toBe(false);
      expect(await store.compareAndSet('ghost', rec('ghost'), 1)).toBe(false);
    });

    it('compare-and-set writes the liveness only, whatever else a caller passes', async () => {
      await store.insert(rec('s1', { metadata: { kept: true } }));
      const next = {
        ...rec('s1'),
        metadata: { changed: true },
        createdAt: 5,
        status: 'disconnected',
        version: 2,
      };
      expect(await store.compareAndSet('s1', next as SessionRecord, 1)).toBe(true);
      expect(await store.get('s1')).toEqual({
        ...rec('s1', { metadata: { kept: true } }),
        status: 'disconnected',
        version: 2,
      });
    });

    it('touches only active records, in one call', async () => {
      await store.insert(rec('a'));
      await store.insert(rec('b', { status: 'disconnected' }));
      const touched = await store.touch(['a', 'b', 'missing', 'a'], { now: T0 + 5, dueAt: T0 + 500 });
      expect(touched).toEqual(['a', 'a']); // input order, a duplicate as often as given
      const a = (await store.get('a'))!;
      expect(a).toMatchObject({ lastHeartbeatAt: T0 + 5, dueAt: T0 + 500, version: 2 });
      expect((await store.get('b'))!.version).toBe(1);
    });

    it('lists by creation desc then id desc, in keyset pages, across buckets', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const id = `s${String(i).padStart(2, '0')}`;
        ids.push(id);
        // Three records share each creation time; those spread over several 1 s buckets.
        await store.insert(rec(id, { createdAt: T0 + Math.floor(i / 3) * 1_500 }));
      }
      await store.insert(rec('closed1', { status: 'closed', createdAt: T0 + 99_000 }));
      const expected = [...ids].sort((x, y) => {
        const hx = Math.floor(Number(x.slice(1)) / 3);
        const hy = Math.floor(Number(y.slice(1)) / 3);
        return hy - hx || (y < x ? -1 : 1);
      });
      const seen: string[] = [];
      let after: { createdAt: number; id: string } | undefined;
      for (;;) {
        const page = await store.list({ statuses: ['active', 'disconnected'], limit: 5, after });
        seen.push(...page.map((r) => r.id));
        if (page.length < 5) break;
        const last = page[page.length - 1]!;
        after = { createdAt: last.createdAt, id: last.id };
      }
      expect(seen).toEqual(expected);
      // A heartbeat moves nothing.
      await store.touch(['s00'], { now: T0 + 50_000, dueAt: T0 + 60_000 });
      const first = await store.list({ statuses: ['active'], limit: 20 });
      expect(first.map((r) => r.id)).toEqual(expected);
      expect((await store.list({ statuses: ['closed'], limit: 5 })).map((r) => r.id)).toEqual(['closed1']);
    });

    it('claims due records earliest first, leased, through the index', async () => {
      await store.insert(rec('late', { dueAt: T0 + 5_000 }));
      await store.insert(rec('early', { dueAt: T0 + 100 }));
      await store.insert(rec('mid', { dueAt: T0 + 2_500 }));
      await store.insert(rec('future', { dueAt: T0 + 90_000 }));
      expect(await store.claimDue({ now: T0, limit: 10, leaseMs: 1_000 })).toEqual([]);
      const two = await store.claimDue({ now: T0 + 6_000, limit: 2, leaseMs: 1_000 });
      expect(two.map((r) => r.id)).toEqual(['early', 'mid']);
      expect(two[0]).toMatchObject({ dueAt: T0 + 7_000, version: 2 });
      expect((await store.get('early'))!.dueAt).toBe(T0 + 7_000);
      const rest = await store.claimDue({ now: T0 + 6_000, limit: 10, leaseMs: 1_000 });
      expect(rest.map((r) => r.id)).toEqual(['late']);
      // Leased records come back once the lease has run out; a moved record is found at its new time.
      await store.touch(['future'], { now: T0, dueAt: T0 + 6_500 });
      const again = await store.claimDue({ now: T0 + 7_000, limit: 10, leaseMs: 0 });
      // early, mid and late now share a dueAt (their lease end): ties go by id.
      expect(again.map((r) => r.id)).toEqual(['future', 'early', 'late', 'mid']);
    });

    it('never claims a record twice in one call, even with a zero lease', async () => {
      await store.insert(rec('x', { dueAt: T0 }));
      const claimed = await store.claimDue({ now: T0, limit: 5, leaseMs: 0 });
      expect(claimed.map((r) => r.id)).toEqual(['x']);
    });

    it('keeps state only for live sessions, filtered by now, ordered, purged through the index', async () => {
      await store.insert(rec('s'));
      await expect(
        store.setState({
          sessionId: 'nope',
          agentId: 'a',
          key: 'k',
          value: 1,
          updatedAt: T0,
          expiresAt: null,
        }),
      ).rejects.toBeInstanceOf(SessionNotFoundError);
      const put = (agentId: string, key: string, value: number, expiresAt: number | null) =>
        store.setState({ sessionId: 's', agentId, key, value, updatedAt: T0, expiresAt });
      await put('b', 'k:1', 1, null);
      await put('a', 'z%', 2, T0 + 1_000);
      await put('a', 'k', 3, T0 + 5_000);
      await put('a', 'k', 4, T0 + 3_000); // overwrite with an earlier expiry
      expect(
        (await store.listState('s', undefined, T0)).map((e) => [e.agentId, e.key, e.value, e.expiresAt]),
      ).toEqual([
        ['a', 'k', 4, T0 + 3_000],
        ['a', 'z%', 2, T0 + 1_000],
        ['b', 'k:1', 1, null],
      ]);
      expect(await store.getState({ sessionId: 's', agentId: 'a', key: 'z%' }, T0 + 1_000)).toBeUndefined();
      expect((await store.listState('s', 'a', T0 + 1_000)).map((e) => e.key)).toEqual(['k']);
      expect(await store.purgeExpiredState(T0 + 2_000)).toBe(1);
      expect(await store.purgeExpiredState(T0 + 4_000)).toBe(1);
      expect(await store.purgeExpiredState(T0 + 10_000)).toBe(0);
      expect((await store.listState('s', undefined, T0)).map((e) => e.key)).toEqual(['k:1']);
      expect(await store.deleteState({ sessionId: 's', agentId: 'b', key: 'k:1' })).toBe(true);
      expect(await store.deleteState({ sessionId: 's', agentId: 'b', key: 'k:1' })).toBe(false);
      // Live is `endedAt` null, whatever the status says.
      await store.compareAndSet('s', { ...(await store.get('s'))!, endedAt: T0, version: 2 }, 1);
      await expect(put('a', 'k', 1, null)).rejects.toBeInstanceOf(SessionNotFoundError);
    });

    it('numbers events per session, never reusing a seq after trims and purges', async () => {
      await store.insert(rec('s'));
      await store.insert(rec('t'));
      const append = (sessionId: string, streamId: string, n: number) =>
        store.appendEvent({ sessionId, streamId, message: { n }, createdAt: T0 + n });
      for (let n = 1; n <= 6; n++) expect(await append('s', n % 2 ? 'odd' : 'even', n)).toBe(n);
      expect(await append('t', 'x', 100)).toBe(1);
      expect(
        (await store.readEvents({ sessionId: 's', afterSeq: 2, streamId: 'odd' })).map((e) => e.seq),
      ).toEqual([3, 5]);
      expect(
        (await store.readEvents({ sessionId: 's', afterSeq: 0, limit: 2 })).map((e) => e.message),
      ).toEqual([{ n: 1 }, { n: 2 }]);
      expect(await store.getEventStream('s', 4)).toBe('even');
      expect(await store.getEventStream('t', 4)).toBeUndefined();
      expect(await store.trimEvents({ sessionId: 's', createdBefore: T0 + 3 })).toBe(2);
      expect(await store.trimEvents({ sessionId: 's', maxEvents: 2 })).toBe(2);
      expect((await store.readEvents({ sessionId: 's', afterSeq: 0 })).map((e) => e.seq)).toEqual([5, 6]);
      await store.purgeSessionData('s');
      expect(await store.readEvents({ sessionId: 's', afterSeq: 0 })).toEqual([]);
      expect(await append('s', 'odd', 7)).toBe(7);
      expect(await store.get('s')).toBeDefined();
      expect(await store.delete('s')).toBe(true);
      expect(await store.delete('s')).toBe(false);
      expect(await store.readEvents({ sessionId: 's', afterSeq: 0 })).toEqual([]);
      expect(await store.claimDue({ now: T0 + 10 ** 9, limit: 10, leaseMs: 1 })).toHaveLength(1); // only 't'
      expect(await store.list({ statuses: ['active'], limit: 10 })).toHaveLength(1);
    });

    it('finds tasks by lease, expiry and creation across buckets, and drops leftover index entries', async () => {
      // 1 s buckets: leases, ttls and creation times spread over several.
      for (let i = 0; i < 6; i++) await store.insertTask(task(`t${i}`, T0 + i * 1_500));
      const claimed = await store.claimLapsedTasks({
        now: T0 + 3_000,
        limit: 10,
        workerId: 'w2',
        leaseUntil: T0 + 3_000, // a zero lease: still one claim per call
      });
      expect(claimed.map((t) => t.id)).toEqual(['t0', 't1']);
      // A lease moved by a state write is found at its new time only.
      const t2 = (await store.getTask('t2'))!;
      const moved = { ...taskStateOf(t2), leaseUntil: T0 + 20_000, version: t2.version + 1 };
      expect(await store.compareAndSetTask('t2', moved, t2.version)).toBe(true);
      const next = await store.claimLapsedTasks({
        now: T0 + 20_000,
        limit: 10,
        workerId: 'w3',
        leaseUntil: T0 + 90_000,
      });
      expect(next.map((t) => t.id)).toEqual(['t0', 't1', 't3', 't4', 't5', 't2']);
      const page = await store.listTasks({ limit: 4, after: { createdAt: T0 + 6_000, id: 't4' } });
      expect(page.map((t) => t.id)).toEqual(['t3', 't2', 't1', 't0']);
      expect(await store.deleteExpiredTasks(T0 + 60_000 + 3_000, 100)).toBe(3);
      expect((await store.listTasks({ limit: 10 })).map((t) => t.id)).toEqual(['t5', 't4', 't3']);
      // Tasks and sessions keep apart: deleting a session with a task's id touches no task.
      await store.insert(rec('t3'));
      expect(await store.delete('t3')).toBe(true);
      expect((await store.getTask('t3'))!.id).toBe('t3');
    });

    it('hashes keys too long for the backend (256-char ids, 1024-char state keys)', async () => {
      const id = 'i'.repeat(256);
      const key = 'é'.repeat(1024);
      await store.insert(rec(id));
      await store.setState({ sessionId: id, agentId: key, key, value: 'v', updatedAt: T0, expiresAt: null });
      await store.appendEvent({ sessionId: id, streamId: 's', message: null, createdAt: T0 });
      expect((await store.getState({ sessionId: id, agentId: key, key }, T0))!.value).toBe('v');
      expect((await store.readEvents({ sessionId: id, afterSeq: 0 })).map((e) => e.seq)).toEqual([1]);
      expect((await store.list({ statuses: ['active'], limit: 1 }))[0]!.id).toBe(id);
    });

    it('serves a SessionManager through a whole lifecycle', async () => {
      let now = T0;
      const manager = new SessionManager({
        store,
        timers: false,
        clock: { now: () => now },
        gracePeriodMs: 10_000,
        heartbeatIntervalMs: 1_000,
      });
      await manager.initialize('m1');
      await manager.saveAgentState('agent', 'm1', 'plan', { step: 1 }, { ttlMs: 60_000 });
      now += 500;
      await manager.tick();
      await manager.markDisconnected('m1');
      now += 5_000;
      await manager.recover('m1');
      expect(await manager.loadAgentState('agent', 'm1', 'plan')).toEqual({ step: 1 });
      await manager.markDisconnected('m1');
      now += 11_000;
      expect((await manager.cleanupExpired()).expired).toBe(1);
      expect((await manager.getSession('m1'))!.status).toBe('expired');
      expect(await manager.loadAgentState('agent', 'm1', 'plan')).toBeUndefined();
      await manager.dispose();
    });
  });
}

describe('KeyvSessionStore construction', () => {
  it('refuses a Keyv that would turn backend failures into undefined', () => {
    expect(() => new KeyvSessionStore(new Keyv())).toThrow(InvalidArgumentError);
    expect(() => new KeyvSessionStore(new Keyv({ throwOnErrors: true, emitErrors: false }))).toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses a missing Keyv and unknown option keys, naming the nearest option', () => {
    const Store = KeyvSessionStore as unknown as new (keyv?: unknown, options?: unknown) => KeyvSessionStore;
    expect(() => new Store()).toThrow(InvalidArgumentError);
    expect(() => new Store({})).toThrow(InvalidArgumentError);
    let error: unknown;
    try {
      new Store(memoryKeyv(), { prefx: 'p' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('prefx');
    expect((error as Error).message).toContain('did you mean "prefix"');
    expect(() => new Store(memoryKeyv(), 'p')).toThrow(InvalidArgumentError);
  });

  it('does not let a Map claim durability', () => {
    expect(() => new KeyvSessionStore(memoryKeyv(), { durable: true })).toThrow(InvalidArgumentError);
  });

  it('survives a reopen over the same SQLite file when declared durable', async () => {
    const db = sqliteFile();
    try {
      const k1 = await db.open();
      const s1 = new KeyvSessionStore(k1, { durable: true });
      expect(s1.capabilities.durable).toBe(true);
      await s1.insert(rec('d', { dueAt: T0 + 10 }));
      await s1.setState({
        sessionId: 'd',
        agentId: 'a',
        key: 'k',
        value: [1],
        updatedAt: T0,
        expiresAt: null,
      });
      await s1.close();
      await k1.disconnect();
      const k2 = await db.open();
      const s2 = new KeyvSessionStore(k2, { durable: true });
      expect((await s2.getState({ sessionId: 'd', agentId: 'a', key: 'k' }, T0))!.value).toEqual([1]);
      expect((await s2.claimDue({ now: T0 + 10, limit: 5, leaseMs: 5 })).map((r) => r.id)).toEqual(['d']);
      await s2.close();
      await k2.disconnect();
    } finally {
      db.remove();
    }
  });

  it('ignores a default TTL of the Keyv for its own records', async () => {
    const keyv = new Keyv({ throwOnErrors: true, ttl: 1 });
    const store = new KeyvSessionStore(keyv);
    await store.insert(rec('kept'));
    await new Promise((r) => setImmediate(r));
    // Keyv would have expired a 1 ms TTL entry on read: the store writes with no TTL.
    const map = keyv.store as Map<string, string>;
    const raw = [...map.values()].map((v) => JSON.parse(v) as { expires?: number });
    expect(raw.every((v) => v.expires === undefined)).toBe(true);
    await store.close();
  });

  it('refuses a prefix written before contract v2 (layout 1), writing nothing', async () => {
    const keyv = memoryKeyv();
    await keyv.set('p:ih:dir', JSON.stringify([[16, 1]])); // layout 1's heartbeat index
    const store = new KeyvSessionStore(keyv, { prefix: 'p' });
    await expect(store.get('s')).rejects.toThrow(/holds layout 1 \(from before contract v2\)/);
    await expect(store.insert(rec('s'))).rejects.toBeInstanceOf(StoreError);
    expect(await keyv.get('p:layout')).toBeUndefined();
    await store.close();
  });

  it('upgrades a layout 2 prefix in place: its sessions stay, tasks are added', async () => {
    const keyv = memoryKeyv();
    const first = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 1_000, indexShards: 4 });
    await first.insert(rec('s', { dueAt: T0 + 10 }));
    await first.close();
    // Layout 2's keys are layout 3's without the tasks': only the layout value differs.
    await keyv.set('p:layout', JSON.stringify({ v: 2, bucketMs: 1_000, shards: 4 }));
    const store = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 1_000, indexShards: 4 });
    expect((await store.get('s'))!.id).toBe('s');
    expect(await keyv.get('p:layout')).toBe(JSON.stringify({ v: 3, bucketMs: 1_000, shards: 4 }));
    expect(await store.insertTask(task('t'))).toBe(true);
    expect((await store.claimDue({ now: T0 + 10, limit: 5, leaseMs: 5 })).map((r) => r.id)).toEqual(['s']);
    expect((await store.listTasks({ limit: 5 })).map((t) => t.id)).toEqual(['t']);
    await store.close();
    const other = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 2_000, indexShards: 4 });
    await expect(other.get('s')).rejects.toThrow(/bucketMs and indexShards are fixed per prefix/);
  });

  it('refuses index geometry other than the one the prefix was written with', async () => {
    const keyv = memoryKeyv();
    const first = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 1_000 });
    await first.insert(rec('s'));
    await first.close();
    const other = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 2_000 });
    await expect(other.get('s')).rejects.toThrow(/bucketMs and indexShards are fixed per prefix/);
    await expect(other.get('s')).rejects.toBeInstanceOf(StoreError);
    const same = new KeyvSessionStore(keyv, { prefix: 'p', bucketMs: 1_000 });
    expect((await same.get('s'))!.id).toBe('s');
  });
});
