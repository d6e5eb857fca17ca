import {
  InvalidArgumentError,
  InvalidValueError,
  SessionExistsError,
  SessionManager,
  SessionNotFoundError,
  type SessionStatus,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { compareNames } from '@mcp-sessions/core/adapter';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { record, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteSessionStore;

beforeEach(() => {
  tmp = tempDir();
  store = new SqliteSessionStore({ filename: tmp.file() });
});

afterEach(async () => {
  await store.close();
  tmp.cleanup();
});

describe('session records', () => {
  it('declares what it keeps', () => {
    expect(store.capabilities).toEqual({ atomic: true, durable: true, crossProcess: true, tasks: true });
    expect(store.name).toBe('sqlite');
  });

  it('round-trips a record and hands out unshared copies', async () => {
    const r = record('a', {
      principal: 'alice',
      metadata: { tags: ['x'], nested: { n: 1.5 } },
      initializeParams: { protocolVersion: '2025-06-18', capabilities: {} },
      workingDirectory: '/tmp/w',
    });
    await store.insert(r);
    const got = await store.get('a');
    expect(got).toEqual(r);
    (got!.metadata!.tags as string[]).push('mutated');
    expect((await store.get('a'))!.metadata).toEqual({ tags: ['x'], nested: { n: 1.5 } });
    expect(await store.get('missing')).toBeUndefined();
  });

  it('refuses a taken id, tombstones included', async () => {
    await store.insert(record('a', { status: 'expired', endedAt: 5 }));
    await expect(store.insert(record('a'))).rejects.toBeInstanceOf(SessionExistsError);
  });

  it('rejects metadata JSON cannot round-trip before writing', async () => {
    await expect(
      store.insert(record('bad', { metadata: { when: new Date() as never } })),
    ).rejects.toBeInstanceOf(InvalidValueError);
    expect(await store.get('bad')).toBeUndefined();
  });

  it('compare-and-set writes only over the expected version', async () => {
    await store.insert(record('a'));
    expect(await store.compareAndSet('a', record('a', { version: 2, status: 'disconnected' }), 2)).toBe(
      false,
    );
    expect(await store.compareAndSet('a', record('a', { version: 2, status: 'disconnected' }), 1)).toBe(true);
    expect(await store.get('a')).toMatchObject({ version: 2, status: 'disconnected' });
    expect(await store.compareAndSet('a', record('a', { version: 3 }), 1)).toBe(false);
    expect(await store.compareAndSet('nope', record('nope', { version: 2 }), 1)).toBe(false);
  });

  it('compare-and-set writes the liveness only, even when handed a whole record', async () => {
    const identity = {
      principal: 'alice',
      createdAt: 1000,
      metadata: { m: 1 },
      initializeParams: { p: 1 },
      workingDirectory: '/w',
    };
    await store.insert(record('a', identity));
    const next = record('a', {
      version: 2,
      status: 'closed',
      ownerId: 'other',
      lastHeartbeatAt: 2000,
      disconnectedAt: 1500,
      graceExpiresAt: 1600,
      recoveryAttempts: 3,
      recoveredAt: 1700,
      endedAt: 2000,
      dueAt: 9000,
    });
    // A JS caller passing more than the liveness: the extra fields are not written.
    const carrying = {
      ...next,
      principal: 'mallory',
      createdAt: 1,
      metadata: { m: 2 },
      workingDirectory: null,
    };
    expect(await store.compareAndSet('a', carrying, 1)).toBe(true);
    expect(await store.get('a')).toEqual({ ...next, ...identity });
    // The id is the argument's, not a field of `next`.
    expect(await store.compareAndSet('a', record('b', { version: 3 }), 2)).toBe(true);
    expect(await store.get('a')).toMatchObject({ id: 'a', version: 3 });
    expect(await store.get('b')).toBeUndefined();
  });

  it('touches only active records, one or many, bumping the version', async () => {
    await store.insert(record('a'));
    await store.insert(record('b'));
    await store.insert(record('c', { status: 'disconnected' }));
    expect(await store.touch(['a'], { now: 2000, dueAt: 9000 })).toEqual(['a']);
    expect(await store.touch(['c', 'b', 'a', 'zz'], { now: 3000, dueAt: 9500 })).toEqual(['b', 'a']);
    expect(await store.get('a')).toMatchObject({ lastHeartbeatAt: 3000, dueAt: 9500, version: 3 });
    expect(await store.get('b')).toMatchObject({ lastHeartbeatAt: 3000, dueAt: 9500, version: 2 });
    expect(await store.get('c')).toMatchObject({ lastHeartbeatAt: 1000, version: 1 });
    expect(await store.touch(['c'], { now: 4000, dueAt: 1 })).toEqual([]);
    expect(await store.touch([], { now: 4000, dueAt: 1 })).toEqual([]);
  });

  it('lists by creation then id, descending, a keyset page at a time; heartbeats move nothing', async () => {
    const statuses: SessionStatus[] = ['active', 'disconnected', 'closed'];
    const ids = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    for (const [i, id] of ids.entries()) {
      await store.insert(record(id, { createdAt: 1000 + (i % 7), status: statuses[i % 3] }));
    }
    const live = (await Promise.all(ids.map((id) => store.get(id))))
      .filter((r) => r!.status !== 'closed')
      .sort((a, b) => b!.createdAt - a!.createdAt || compareNames(b!.id, a!.id))
      .map((r) => r!.id);
    const seen: string[] = [];
    let after: { createdAt: number; id: string } | undefined;
    for (let page = 0; ; page++) {
      const rows = await store.list({ statuses: ['active', 'disconnected'], limit: 7, after });
      seen.push(...rows.map((r) => r.id));
      if (rows.length < 7) break;
      const last = rows[rows.length - 1]!;
      after = { createdAt: last.createdAt, id: last.id };
      // A heartbeat between pages changes nothing the order depends on.
      if (page === 1) await store.touch(ids, { now: 5000 + page, dueAt: 99_999 });
    }
    expect(seen).toEqual(live);
    expect((await store.list({ statuses: ['closed'], limit: 100 })).every((r) => r.status === 'closed')).toBe(
      true,
    );
    expect(await store.list({ statuses: [], limit: 10 })).toEqual([]);
  });

  it('claims due records earliest first, leased so a second sweeper skips them', async () => {
    for (const [id, dueAt] of [
      ['late', 5000],
      ['b', 2000],
      ['a', 2000],
      ['first', 1000],
      ['future', 9000],
    ] as const) {
      await store.insert(record(id, { dueAt }));
    }
    const claimed = await store.claimDue({ now: 5000, limit: 3, leaseMs: 100 });
    expect(claimed.map((r) => r.id)).toEqual(['first', 'a', 'b']);
    expect(claimed.every((r) => r.dueAt === 5100 && r.version === 2)).toBe(true);
    expect(await store.get('a')).toEqual(claimed[1]);
    expect((await store.claimDue({ now: 5000, limit: 10, leaseMs: 100 })).map((r) => r.id)).toEqual(['late']);
    expect(await store.claimDue({ now: 5000, limit: 10, leaseMs: 100 })).toEqual([]);
  });

  it('delete cascades to state and events; purgeSessionData keeps the record', async () => {
    await store.insert(record('a'));
    await store.setState({ sessionId: 'a', agentId: 'g', key: 'k', value: 1, updatedAt: 1, expiresAt: null });
    await store.appendEvent({ sessionId: 'a', streamId: 's', message: { n: 1 }, createdAt: 1 });
    await store.purgeSessionData('a');
    expect(await store.get('a')).toBeDefined();
    expect(await store.listState('a', undefined, 0)).toEqual([]);
    expect(await store.readEvents({ sessionId: 'a', afterSeq: 0 })).toEqual([]);
    await store.setState({ sessionId: 'a', agentId: 'g', key: 'k', value: 1, updatedAt: 1, expiresAt: null });
    expect(await store.appendEvent({ sessionId: 'a', streamId: 's', message: 2, createdAt: 2 })).toBe(2);
    expect(await store.delete('a')).toBe(true);
    expect(await store.delete('a')).toBe(false);
    const rows = store.db
      .prepare(
        'SELECT (SELECT count(*) FROM mcp_sessions_agent_state) AS s, (SELECT count(*) FROM mcp_sessions_events) AS e',
      )
      .get();
    expect(rows).toEqual({ s: 0, e: 0 });
  });
});

describe('agent state', () => {
  beforeEach(async () => {
    await store.insert(record('live'));
    await store.insert(record('gone', { status: 'disconnected' }));
  });

  it('writes only for live sessions', async () => {
    await store.setState({
      sessionId: 'gone',
      agentId: 'g',
      key: 'k',
      value: 1,
      updatedAt: 1,
      expiresAt: null,
    });
    for (const status of ['expired', 'closed'] as const) {
      await store.insert(record(status, { status, endedAt: 1 }));
      await expect(
        store.setState({
          sessionId: status,
          agentId: 'g',
          key: 'k',
          value: 1,
          updatedAt: 1,
          expiresAt: null,
        }),
      ).rejects.toBeInstanceOf(SessionNotFoundError);
    }
    // Live is `endedAt === null`, whatever the status says: the guard reads no status name.
    await store.insert(record('ended', { endedAt: 1 }));
    await expect(
      store.setState({ sessionId: 'ended', agentId: 'g', key: 'k', value: 1, updatedAt: 1, expiresAt: null }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(
      store.appendEvent({ sessionId: 'ended', streamId: 's', message: 1, createdAt: 1 }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(
      store.setState({
        sessionId: 'nobody',
        agentId: 'g',
        key: 'k',
        value: 1,
        updatedAt: 1,
        expiresAt: null,
      }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(store.db.prepare('SELECT count(*) AS n FROM mcp_sessions_agent_state').get()).toEqual({ n: 1 });
  });

  it('upserts, expires by the caller clock, purges through the index', async () => {
    const base = { sessionId: 'live', agentId: 'g', updatedAt: 1 };
    await store.setState({ ...base, key: 'k', value: { v: 1 }, expiresAt: 100 });
    await store.setState({ ...base, key: 'k', value: { v: 2 }, expiresAt: 200 });
    await store.setState({ ...base, key: 'forever', value: [1, 'two', null], expiresAt: null });
    expect((await store.getState({ ...base, key: 'k' }, 199))?.value).toEqual({ v: 2 });
    expect(await store.getState({ ...base, key: 'k' }, 200)).toBeUndefined();
    expect((await store.listState('live', undefined, 200)).map((e) => e.key)).toEqual(['forever']);
    expect(await store.purgeExpiredState(200)).toBe(1);
    expect(await store.purgeExpiredState(200)).toBe(0);
    expect(await store.deleteState({ ...base, key: 'forever' })).toBe(true);
    expect(await store.deleteState({ ...base, key: 'forever' })).toBe(false);
  });

  it('lists in code point order, unicode and NUL included', async () => {
    const keys = ['b', 'a', '\u{1F600}', '\uFF5E', 'a\u0000b', 'ä'];
    for (const key of keys) {
      await store.setState({
        sessionId: 'live',
        agentId: 'g',
        key,
        value: key,
        updatedAt: 1,
        expiresAt: null,
      });
    }
    await store.setState({
      sessionId: 'live',
      agentId: 'f',
      key: 'z',
      value: 0,
      updatedAt: 1,
      expiresAt: null,
    });
    const listed = await store.listState('live', undefined, 0);
    expect(listed.map((e) => [e.agentId, e.key])).toEqual([
      ['f', 'z'],
      ...[...keys].sort(compareNames).map((k) => ['g', k]),
    ]);
    expect(listed.find((e) => e.key === 'a\u0000b')?.value).toBe('a\u0000b');
    expect((await store.listState('live', 'g', 0)).map((e) => e.key)).toEqual([...keys].sort(compareNames));
  });

  it('rejects an unstorable value before writing anything', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(
      store.setState({
        sessionId: 'live',
        agentId: 'g',
        key: 'k',
        value: cyclic as never,
        updatedAt: 1,
        expiresAt: null,
      }),
    ).rejects.toBeInstanceOf(InvalidValueError);
    expect(await store.listState('live', undefined, 0)).toEqual([]);
  });
});

describe('event log', () => {
  beforeEach(async () => {
    await store.insert(record('a'));
    await store.insert(record('b'));
  });

  it('numbers per session from 1 and never reuses a seq after a trim', async () => {
    for (let i = 1; i <= 5; i++) {
      expect(
        await store.appendEvent({
          sessionId: 'a',
          streamId: i % 2 ? 'odd' : 'even',
          message: { i },
          createdAt: i,
        }),
      ).toBe(i);
    }
    expect(await store.appendEvent({ sessionId: 'b', streamId: 'x', message: 'b1', createdAt: 1 })).toBe(1);
    expect(await store.trimEvents({ sessionId: 'a', maxEvents: 2 })).toBe(3);
    expect(
      await store.appendEvent({ sessionId: 'a', streamId: 'odd', message: { i: 6 }, createdAt: 6 }),
    ).toBe(6);
    expect((await store.readEvents({ sessionId: 'a', afterSeq: 0 })).map((e) => e.seq)).toEqual([4, 5, 6]);
    expect(
      (await store.readEvents({ sessionId: 'a', afterSeq: 0, streamId: 'odd' })).map((e) => e.seq),
    ).toEqual([5, 6]);
    expect(await store.readEvents({ sessionId: 'a', afterSeq: 4, limit: 1 })).toEqual([
      { sessionId: 'a', streamId: 'odd', seq: 5, message: { i: 5 }, createdAt: 5 },
    ]);
    expect(await store.getEventStream('a', 4)).toBe('even');
    expect(await store.getEventStream('a', 1)).toBeUndefined();
    expect(await store.getEventStream('b', 4)).toBeUndefined();
    expect(await store.trimEvents({ sessionId: 'a', createdBefore: 6 })).toBe(2);
    expect(await store.trimEvents({ sessionId: 'a', maxEvents: 0 })).toBe(1);
    expect(await store.readEvents({ sessionId: 'b', afterSeq: 0 })).toHaveLength(1);
  });

  it('appends only to live sessions', async () => {
    await store.insert(record('c', { status: 'closed', endedAt: 1 }));
    await expect(
      store.appendEvent({ sessionId: 'c', streamId: 's', message: 1, createdAt: 1 }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(
      store.appendEvent({ sessionId: 'missing', streamId: 's', message: 1, createdAt: 1 }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
  });
});

describe('connection handling', () => {
  it('shares one file between prefixes without mixing them', async () => {
    const other = new SqliteSessionStore({ filename: tmp.file(), prefix: 'app2_' });
    await store.insert(record('same'));
    expect(await other.get('same')).toBeUndefined();
    await other.insert(record('same', { principal: 'p2' }));
    expect((await store.get('same'))!.principal).toBeNull();
    await other.close();
  });

  it('validates its options', () => {
    for (const prefix of ['1abc', 'a-b', 'x; DROP TABLE y', '']) {
      expect(() => new SqliteSessionStore({ filename: ':memory:', prefix })).toThrow(InvalidArgumentError);
    }
    expect(() => new SqliteSessionStore({ filename: ':memory:', busyTimeoutMs: -1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new SqliteSessionStore({ filename: ':memory:', synchronous: 'OFF' as never })).toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses missing options and unknown keys at construction, naming the nearest option', () => {
    const refusal = (make: () => unknown): InvalidArgumentError => {
      try {
        make();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return error as InvalidArgumentError;
      }
      throw new Error('expected InvalidArgumentError');
    };
    const Store = SqliteSessionStore as unknown as new (options?: unknown) => SqliteSessionStore;
    expect(refusal(() => new Store()).argument).toBe('options');
    expect(refusal(() => new Store({})).argument).toBe('filename');
    expect(refusal(() => new Store({ prefix: 'x_' })).argument).toBe('filename');
    const typo = refusal(() => new Store({ filename: ':memory:', busyTimeout: 10 }));
    expect(typo.argument).toBe('busyTimeout');
    expect(typo.message).toContain('did you mean "busyTimeoutMs"');
    expect(refusal(() => new Store({ filenme: ':memory:' })).message).toContain('"filename"');
  });

  it('runs in WAL mode with the chosen synchronous level', async () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    const full = new SqliteSessionStore({
      filename: tmp.file('full.db'),
      synchronous: 'FULL',
      busyTimeoutMs: 250,
    });
    expect(full.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(full.db.pragma('busy_timeout', { simple: true })).toBe(250);
    await full.close();
  });

  it('tells the logger when it creates the schema, and only then', async () => {
    const infos: string[] = [];
    const logger = { debug() {}, info: (m: string) => infos.push(m), warn() {}, error() {} };
    const fresh = new SqliteSessionStore({ filename: tmp.file('logged.db'), logger });
    await fresh.close();
    expect(infos).toEqual(['sqlite session store schema ready']);
    const again = new SqliteSessionStore({ filename: tmp.file('logged.db'), logger });
    await again.close();
    expect(infos).toHaveLength(1);
  });

  it('works in memory', async () => {
    const mem = new SqliteSessionStore({ filename: ':memory:' });
    await mem.insert(record('m'));
    expect((await mem.get('m'))?.id).toBe('m');
    await mem.close();
  });

  it('leaves a database passed in open', async () => {
    const db = new Database(tmp.file('mine.db'));
    const mine = new SqliteSessionStore({ database: db });
    await mine.insert(record('x'));
    await mine.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT id FROM mcp_sessions_sessions').all()).toEqual([{ id: 'x' }]);
    await expect(mine.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
    db.close();
  });

  it('closes what it opened; later calls are StoreUnavailableError', async () => {
    const db = store.db;
    await store.close();
    expect(db.open).toBe(false);
    await expect(store.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it('turns a lock held past busy_timeout into StoreUnavailableError', async () => {
    const impatient = new SqliteSessionStore({ filename: tmp.file(), busyTimeoutMs: 20 });
    const holder = new Database(tmp.file());
    holder.exec('BEGIN IMMEDIATE');
    try {
      const error = await impatient.insert(record('blocked')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).cause).toMatchObject({ code: 'SQLITE_BUSY' });
      // Reads still work under WAL while another connection writes.
      expect(await impatient.get('blocked')).toBeUndefined();
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    await impatient.insert(record('blocked'));
    await impatient.close();
  });

  it('wraps other driver failures as StoreError with the cause', async () => {
    store.db.exec('DROP TABLE mcp_sessions_events');
    const error = await store.getEventStream('a', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toBeInstanceOf(Database.SqliteError);
  });
});

describe('through SessionManager', () => {
  it('survives disconnect, recover and reopen with agent state', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const manager = new SessionManager({ store, timers: false, clock });
    await manager.initialize('sess-1', { principal: 'alice', initializeParams: { protocolVersion: 'x' } });
    await manager.saveAgentState('planner', 'sess-1', 'plan', { step: 2 }, { ttlMs: 60_000 });
    await manager.markDisconnected('sess-1');
    await manager.dispose();
    await store.close();

    store = new SqliteSessionStore({ filename: tmp.file() });
    const again = new SessionManager({ store, timers: false, clock });
    now += 1000;
    const recovered = await again.recover('sess-1', { principal: 'alice' });
    expect(recovered).toMatchObject({ status: 'active', recoveryAttempts: 1 });
    expect(await again.loadAgentState('planner', 'sess-1', 'plan')).toEqual({ step: 2 });
    now += 60_000;
    expect(await again.loadAgentState('planner', 'sess-1', 'plan')).toBeUndefined();
    expect((await again.cleanupExpired()).stateEntriesPurged).toBe(1);
    await again.dispose();
  });
});
