import {
  InvalidArgumentError,
  SessionExistsError,
  SessionManager,
  SessionNotFoundError,
  type SessionRecord,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  createRecord,
  createTask,
  type LifecyclePolicy,
  type TaskPolicy,
  type TaskRecord,
} from '@mcp-sessions/core/adapter';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/services';
import { migrationSql, PostgresSessionStore, SCHEMA_VERSION } from '../src/index';
import { MIGRATIONS, tableNames, versionTableSql } from '../src/sql';
import { fileSchema, uniqueName, url, warnIfNoServer } from './support';

warnIfNoServer('store.test.ts');

const policy: LifecyclePolicy = {
  gracePeriodMs: 60_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};
const T0 = 1_700_000_000_000;

function record(id: string, patch: Partial<SessionRecord> = {}): SessionRecord {
  return { ...createRecord({ id, ownerId: 'test' }, T0, policy), ...patch };
}

const taskPolicy: TaskPolicy = { leaseMs: 30_000, defaultTtlMs: 3_600_000 };

function task(id: string, patch: Partial<TaskRecord> = {}): TaskRecord {
  const request = { method: 'tools/call', params: { name: 'echo' } };
  return { ...createTask({ id, request, workerId: 'w1' }, T0, taskPolicy), ...patch };
}

describe.skipIf(!url)('PostgresSessionStore', () => {
  const db = fileSchema('store_test');
  const opened: PostgresSessionStore[] = [];
  const open = (...args: Parameters<typeof db.store>) => {
    const store = db.store(...args);
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  afterAll(() => db.drop());

  it('round-trips a record with times as exact numbers and JSON as fresh copies', async () => {
    const store = open();
    const r = record('a', {
      principal: 'user-1',
      metadata: { b: 1, a: [1, 'x', null], nested: { z: true } },
      initializeParams: { protocolVersion: '2025-06-18', capabilities: {} },
      workingDirectory: '/tmp/x',
      graceExpiresAt: 2 ** 52,
    });
    await store.insert(r);
    const got = await store.get('a');
    expect(got).toEqual(r);
    // json (not jsonb) keeps key order as written
    expect(Object.keys(got!.metadata!)).toEqual(['b', 'a', 'nested']);
    expect(await store.get('missing')).toBeUndefined();
    await expect(store.insert(record('a'))).rejects.toBeInstanceOf(SessionExistsError);
  });

  it('compare-and-set writes only over the expected version', async () => {
    const store = open();
    await store.insert(record('a'));
    expect(await store.compareAndSet('a', record('a', { version: 2, status: 'disconnected' }), 1)).toBe(true);
    expect(await store.compareAndSet('a', record('a', { version: 3, status: 'closed' }), 1)).toBe(false);
    expect(await store.compareAndSet('nope', record('nope', { version: 2 }), 1)).toBe(false);
    expect((await store.get('a'))?.status).toBe('disconnected');
  });

  it('compare-and-set writes the liveness only, even when handed a whole record', async () => {
    const store = open();
    const identity = {
      principal: 'alice',
      createdAt: T0,
      metadata: { m: 1 },
      initializeParams: { p: 1 },
      workingDirectory: '/w',
    };
    await store.insert(record('a', identity));
    const next = record('a', {
      version: 2,
      status: 'closed',
      ownerId: 'other',
      lastHeartbeatAt: T0 + 20,
      disconnectedAt: T0 + 5,
      graceExpiresAt: T0 + 6,
      recoveryAttempts: 3,
      recoveredAt: T0 + 7,
      endedAt: T0 + 20,
      dueAt: T0 + 90,
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

  it('touch heartbeats active records only, in one statement, in input order', async () => {
    const store = open();
    await store.insert(record('a'));
    await store.insert(record('b', { status: 'disconnected' }));
    await store.insert(record('c'));
    expect(await store.touch(['c', 'b', 'a', 'zz'], { now: T0 + 5, dueAt: T0 + 99 })).toEqual(['c', 'a']);
    const a = await store.get('a');
    expect(a).toMatchObject({ lastHeartbeatAt: T0 + 5, dueAt: T0 + 99, version: 2 });
    expect((await store.get('b'))?.version).toBe(1);
  });

  it('lists by creation, then binary order of id, keyset pages that heartbeats do not move', async () => {
    const store = open();
    // Binary order: 'B' < 'a' < 'b' < 'é'; a linguistic collation would put 'a' before 'B'.
    for (const id of ['a', 'B', 'b', '\u00e9']) await store.insert(record(id));
    await store.insert(record('late', { createdAt: T0 + 1 }));
    await store.insert(record('gone', { status: 'closed', endedAt: T0 }));
    const all = await store.list({ statuses: ['active', 'disconnected'], limit: 10 });
    expect(all.map((r) => r.id)).toEqual(['late', '\u00e9', 'b', 'a', 'B']);
    const first = await store.list({ statuses: ['active'], limit: 2 });
    // A heartbeat between pages changes nothing the order depends on.
    await store.touch(['B', 'a'], { now: T0 + 50, dueAt: T0 + 99 });
    const last = first[1]!;
    const next = await store.list({
      statuses: ['active'],
      limit: 10,
      after: { createdAt: last.createdAt, id: last.id },
    });
    expect([...first, ...next].map((r) => r.id)).toEqual(['late', '\u00e9', 'b', 'a', 'B']);
    expect((await store.list({ statuses: ['closed'], limit: 10 })).map((r) => r.id)).toEqual(['gone']);
  });

  it('claims due records earliest first, leased, and never twice', async () => {
    const store = open();
    await store.insert(record('late', { dueAt: T0 + 30 }));
    await store.insert(record('early', { dueAt: T0 + 10 }));
    await store.insert(record('future', { dueAt: T0 + 1000 }));
    const claimed = await store.claimDue({ now: T0 + 50, limit: 10, leaseMs: 500 });
    expect(claimed.map((r) => [r.id, r.dueAt, r.version])).toEqual([
      ['early', T0 + 550, 2],
      ['late', T0 + 550, 2],
    ]);
    expect(await store.claimDue({ now: T0 + 50, limit: 10, leaseMs: 500 })).toEqual([]);
  });

  it('state: live sessions only, expiry by the given now, binary order, purge by index', async () => {
    const store = open();
    await store.insert(record('s'));
    const put = (agentId: string, key: string, expiresAt: number | null = null) =>
      store.setState({ sessionId: 's', agentId, key, value: { agentId, key }, updatedAt: T0, expiresAt });
    await put('b', 'k');
    await put('a', 'z');
    await put('a', 'Z', T0 + 10);
    expect((await store.listState('s', undefined, T0)).map((e) => `${e.agentId}/${e.key}`)).toEqual([
      'a/Z',
      'a/z',
      'b/k',
    ]);
    expect(await store.getState({ sessionId: 's', agentId: 'a', key: 'Z' }, T0 + 10)).toBeUndefined();
    expect(await store.purgeExpiredState(T0 + 10)).toBe(1);
    await expect(
      store.setState({ sessionId: 'none', agentId: 'a', key: 'k', value: 1, updatedAt: T0, expiresAt: null }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    // Live is `endedAt === null`: the guard reads no status name (so an active status with an
    // end time set is refused too, as is an expired one).
    await store.compareAndSet('s', record('s', { version: 2, endedAt: T0 + 1 }), 1);
    await expect(put('a', 'k')).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(
      store.appendEvent({ sessionId: 's', streamId: 'x', message: 1, createdAt: T0 }),
    ).rejects.toBeInstanceOf(SessionNotFoundError);
    await store.compareAndSet('s', record('s', { status: 'expired', version: 3, endedAt: T0 + 1 }), 2);
    await expect(put('a', 'k')).rejects.toBeInstanceOf(SessionNotFoundError);
  });

  it('events: seq per session never reused after trim or purge; delete cascades', async () => {
    const store = open();
    await store.insert(record('s'));
    await store.insert(record('t'));
    const append = (sessionId: string, streamId: string, n: number) =>
      store.appendEvent({ sessionId, streamId, message: { n }, createdAt: T0 + n });
    expect(await append('s', 'x', 1)).toBe(1);
    expect(await append('t', 'x', 1)).toBe(1);
    expect(await append('s', 'y', 2)).toBe(2);
    expect(await append('s', 'x', 3)).toBe(3);
    expect(
      (await store.readEvents({ sessionId: 's', afterSeq: 1, streamId: 'x' })).map((e) => e.seq),
    ).toEqual([3]);
    expect(await store.getEventStream('s', 2)).toBe('y');
    expect(await store.trimEvents({ sessionId: 's', maxEvents: 1 })).toBe(2);
    await store.purgeSessionData('s');
    expect(await append('s', 'x', 4)).toBe(4);
    expect(await store.delete('s')).toBe(true);
    expect(await store.delete('s')).toBe(false);
    await expect(append('s', 'x', 5)).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await store.readEvents({ sessionId: 't', afterSeq: 0 })).toHaveLength(1);
  });

  it('stores values containing U+0000 faithfully; rejects it in names Postgres text cannot hold', async () => {
    const store = open();
    const value = { 'k\u0000ey': 'a\u0000b', list: ['\u0000'] };
    await store.insert(record('s', { metadata: value }));
    expect((await store.get('s'))?.metadata).toEqual(value);
    await store.setState({ sessionId: 's', agentId: 'a', key: 'k', value, updatedAt: T0, expiresAt: null });
    expect((await store.getState({ sessionId: 's', agentId: 'a', key: 'k' }, T0))?.value).toEqual(value);
    const seq = await store.appendEvent({ sessionId: 's', streamId: 'x', message: value, createdAt: T0 });
    expect((await store.readEvents({ sessionId: 's', afterSeq: seq - 1 }))[0]?.message).toEqual(value);
    await expect(
      store.setState({ sessionId: 's', agentId: 'a\u0000', key: 'k', value, updatedAt: T0, expiresAt: null }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await store.getState({ sessionId: 's', agentId: 'a\u0000', key: 'k' }, T0)).toBeUndefined();
  });

  it('opens version 1 tables and uses them: exact event sizes added, list index by creation', async () => {
    const schema = uniqueName('v1');
    const t = tableNames({ schema, tablePrefix: 'v_' });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // The tables as version 1 made them: a released migration's statements never change.
      await client.query(`CREATE SCHEMA ${t.schema}`);
      await client.query(versionTableSql(t));
      for (const sql of MIGRATIONS.find((m) => m.version === 1)!.statements(t)) await client.query(sql);
      await client.query(`INSERT INTO ${t.versions} (version) VALUES (1)`);
      // 'old' was created first but heartbeats last: the v1 list order (by heartbeat) differs.
      await client.query(
        `INSERT INTO ${t.sessions} (id, status, version, principal, owner_id, created_at, last_heartbeat_at,
           disconnected_at, grace_expires_at, recovery_attempts, recovered_at, ended_at, due_at,
           working_directory, metadata, initialize_params, last_event_seq)
         VALUES ('old', 'active', 4, 'alice', 'i1', ${T0}, ${T0 + 9000}, NULL, NULL, 0, NULL, NULL, ${T0 + 20_000},
             '/w', '{"team":"a"}', '{"protocolVersion":"2025-06-18"}', 3),
           ('new', 'disconnected', 2, NULL, 'i1', ${T0 + 2000}, ${T0 + 2500}, ${T0 + 2500}, ${T0 + 12_500}, 0,
             NULL, NULL, ${T0 + 12_500}, NULL, NULL, NULL, 0),
           ('gone', 'closed', 3, NULL, 'i1', ${T0 - 500}, ${T0 - 400}, NULL, NULL, 0, NULL, ${T0 - 300},
             ${T0 + 50_000}, NULL, NULL, NULL, 0)`,
      );
      await client.query(
        `INSERT INTO ${t.state} (session_id, agent_id, key, value, updated_at, expires_at)
         VALUES ('old', 'planner', 'plan', '{"step":2}', ${T0}, NULL)`,
      );
      // Three messages of 100 UTF-8 bytes each as JSON text (1, 2 and 4 bytes per character).
      const messages = ['x'.repeat(98), 'é'.repeat(49), { e: `${'😀'.repeat(22)}abcd` }];
      for (const [i, message] of messages.entries()) {
        await client.query(
          `INSERT INTO ${t.events} (session_id, seq, stream_id, message, created_at) VALUES ('old', $1, 's', $2, $3)`,
          [i + 1, JSON.stringify(message), T0],
        );
      }

      const infos: unknown[] = [];
      const logger = { debug() {}, info: (_: string, f: unknown) => infos.push(f), warn() {}, error() {} };
      const store = new PostgresSessionStore({ connectionString: url!, schema, tablePrefix: 'v_', logger });
      opened.push(store);
      await store.migrate();
      expect(infos.map((f) => (f as { version: number }).version)).toEqual([2, 3, 4]);
      const versions = await client.query(`SELECT version FROM ${t.versions} ORDER BY version`);
      expect(versions.rows.map((r) => r.version)).toEqual(
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
      const indexes = await client.query(
        `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'v_sessions' ORDER BY indexname`,
        [schema],
      );
      expect(indexes.rows.map((r) => r.indexname)).toEqual([
        'v_sessions_created_idx',
        'v_sessions_due_idx',
        'v_sessions_pkey',
      ]);

      expect(await store.get('old')).toMatchObject({
        principal: 'alice',
        version: 4,
        workingDirectory: '/w',
        metadata: { team: 'a' },
        initializeParams: { protocolVersion: '2025-06-18' },
      });
      const page = await store.list({ statuses: ['active', 'disconnected'], limit: 1 });
      expect(page.map((r) => r.id)).toEqual(['new']);
      const rest = await store.list({ statuses: ['active', 'disconnected'], limit: 5, after: page[0]! });
      expect(rest.map((r) => r.id)).toEqual(['old']);

      // The lifecycle through a manager: recover, state, events (seq after v1's), sweep.
      let now = T0 + 3000;
      const manager = new SessionManager({ store, timers: false, clock: { now: () => now } });
      expect(await manager.recover('new')).toMatchObject({
        status: 'active',
        recoveryAttempts: 1,
        version: 3,
      });
      expect(await manager.loadAgentState('planner', 'old', 'plan')).toEqual({ step: 2 });
      await manager.saveAgentState('planner', 'new', 'plan', { step: 1 });
      await expect(manager.saveAgentState('planner', 'gone', 'plan', 1)).rejects.toBeInstanceOf(
        SessionNotFoundError,
      );
      expect(await store.trimEvents({ sessionId: 'old', maxBytes: 300 })).toBe(0);
      expect(await store.trimEvents({ sessionId: 'old', maxBytes: 299 })).toBe(1);
      expect(await store.appendEvent({ sessionId: 'old', streamId: 's', message: 1, createdAt: now })).toBe(
        4,
      );
      expect((await store.readEvents({ sessionId: 'old', afterSeq: 0 })).map((e) => e.seq)).toEqual([
        2, 3, 4,
      ]);
      // Long after every grace and tombstone: the due index finds them all.
      now = T0 + 10 ** 10;
      expect(await manager.cleanupExpired()).toMatchObject({ expired: 2, deleted: 1 });
      await manager.dispose();
    } finally {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await client.query(`DROP SCHEMA ${t.schema} CASCADE`);
      await client.end();
    }
  });

  it('opens version 3 tables: sessions, state and events kept, the tasks table and its indexes added', async () => {
    const schema = uniqueName('v3');
    const t = tableNames({ schema, tablePrefix: 'v_' });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // The tables as version 3 made them, with data in each.
      await client.query(`CREATE SCHEMA ${t.schema}`);
      await client.query(versionTableSql(t));
      for (const m of MIGRATIONS.filter((m) => m.version <= 3)) {
        for (const sql of m.statements(t)) await client.query(sql);
        await client.query(`INSERT INTO ${t.versions} (version) VALUES ($1)`, [m.version]);
      }
      const old = record('old', { principal: 'alice', metadata: { team: 'a' } });
      const setup = new PostgresSessionStore({
        connectionString: url!,
        schema,
        tablePrefix: 'v_',
        migrate: false,
      });
      opened.push(setup);
      await setup.insert(old);
      await setup.setState({
        sessionId: 'old',
        agentId: 'a',
        key: 'k',
        value: [1],
        updatedAt: T0,
        expiresAt: null,
      });
      expect(
        await setup.appendEvent({ sessionId: 'old', streamId: 's', message: { m: 1 }, createdAt: T0 }),
      ).toBe(1);
      // A version 3 store keeps no tasks: the table is not there yet.
      await expect(setup.getTask('t1')).rejects.toMatchObject({ cause: { code: '42P01' } });

      const infos: unknown[] = [];
      const logger = { debug() {}, info: (_: string, f: unknown) => infos.push(f), warn() {}, error() {} };
      const store = new PostgresSessionStore({ connectionString: url!, schema, tablePrefix: 'v_', logger });
      opened.push(store);
      await store.migrate();
      expect(infos.map((f) => (f as { version: number }).version)).toEqual([4]);
      const indexes = await client.query(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'v_tasks' ORDER BY indexname`,
        [schema],
      );
      expect(indexes.rows.map((r) => r.indexname)).toEqual([
        'v_tasks_created_idx',
        'v_tasks_expires_idx',
        'v_tasks_lease_idx',
        'v_tasks_pkey',
      ]);
      // Partial: terminal tasks (no lease) and tasks without a ttl are in neither.
      const defs = Object.fromEntries(indexes.rows.map((r) => [r.indexname, String(r.indexdef)]));
      expect(defs.v_tasks_lease_idx).toContain('WHERE (lease_until IS NOT NULL)');
      expect(defs.v_tasks_expires_idx).toContain('WHERE (expires_at IS NOT NULL)');

      expect(await store.get('old')).toEqual(old);
      expect(await store.getState({ sessionId: 'old', agentId: 'a', key: 'k' }, T0)).toMatchObject({
        value: [1],
      });
      expect((await store.readEvents({ sessionId: 'old', afterSeq: 0 })).map((e) => e.message)).toEqual([
        { m: 1 },
      ]);
      const t1 = task('t1');
      expect(await store.insertTask(t1)).toBe(true);
      expect(await store.getTask('t1')).toEqual(t1);
    } finally {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await client.query(`DROP SCHEMA ${t.schema} CASCADE`);
      await client.end();
    }
  });

  it('tasks: JSON kept as written, U+0000 names refused, a session delete leaves tasks alone', async () => {
    const store = open();
    const request = { method: 'tools/call', params: { z: 1, a: 'nul \u0000 inside', é: [null] } };
    const t1 = task('t1', { request, principal: 'alice', rerunnable: true });
    expect(await store.insertTask(t1)).toBe(true);
    const got = await store.getTask('t1');
    expect(got).toEqual(t1);
    // json (not jsonb) keeps key order and U+0000 in strings.
    expect(Object.keys(got!.request.params as object)).toEqual(['z', 'a', 'é']);
    await expect(store.insertTask(task('t2', { principal: 'a\u0000' }))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(store.insertTask(task('t\u0000'))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await store.getTask('t\u0000')).toBeUndefined();
    expect(await store.compareAndSetTask('t\u0000', t1, 1)).toBe(false);
    expect(await store.renewTaskLeases(['t1'], 'w\u0000', T0)).toEqual([]);
    await expect(
      store.claimLapsedTasks({ now: T0, limit: 1, workerId: 'w\u0000', leaseUntil: T0 }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    // Tasks have no foreign key to sessions: a task outlives the session that started it.
    await store.insert(record('t1'));
    expect(await store.delete('t1')).toBe(true);
    expect(await store.getTask('t1')).toEqual(t1);
    expect(await store.listTasks({ limit: 0 })).toEqual([]);
    expect(await store.deleteExpiredTasks(T0 + 10 ** 10, 0)).toBe(0);
  });

  it('ten stores on ten pools migrate one fresh schema at once: no error, one version row', async () => {
    const schema = uniqueName('race');
    const stores = Array.from(
      { length: 10 },
      () =>
        new PostgresSessionStore({
          connectionString: url!,
          schema,
          tablePrefix: 'r_',
          poolConfig: { max: 1 },
        }),
    );
    opened.push(...stores);
    await Promise.all(stores.map((s) => s.migrate()));
    await Promise.all(stores.map((s, i) => s.insert(record(`id${i}`))));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT version FROM "${schema}".r_schema_version ORDER BY version`,
      );
      // Each version applied once, in order.
      expect(rows).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));
    } finally {
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
  });

  it('the exported migration SQL builds the same tables; migrate: false then uses them', async () => {
    const schema = uniqueName('manual');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(migrationSql({ schema, tablePrefix: 'm_' }));
      const store = new PostgresSessionStore({
        pool: new pg.Pool({ connectionString: url }),
        schema,
        tablePrefix: 'm_',
        migrate: false,
      });
      await store.insert(record('a'));
      // Migrating again finds the version recorded by the script and does nothing.
      await store.migrate();
      expect((await store.get('a'))?.id).toBe('a');
      await store.pool.end();
    } finally {
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
  });

  it('leaves a pool passed in open on close', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const store = new PostgresSessionStore({ pool, schema: db.schema, tablePrefix: 'userpool_' });
    await store.insert(record('a'));
    await store.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('rejects bad identifiers before connecting', () => {
    expect(() => new PostgresSessionStore({ connectionString: url!, schema: 'a"; drop' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new PostgresSessionStore({ connectionString: url!, tablePrefix: 'x-y' })).toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses missing options, unknown keys and connection strings that are no postgres URL', () => {
    const refusal = (make: () => unknown): InvalidArgumentError => {
      try {
        make();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return error as InvalidArgumentError;
      }
      throw new Error('expected InvalidArgumentError');
    };
    const Store = PostgresSessionStore as unknown as new (options?: unknown) => PostgresSessionStore;
    expect(refusal(() => new Store()).argument).toBe('options');
    expect(refusal(() => new Store({})).argument).toBe('options');
    const typo = refusal(() => new Store({ connectionString: url, queryTimeout: 5 }));
    expect(typo.argument).toBe('queryTimeout');
    expect(typo.message).toContain('did you mean "queryTimeoutMs"');
    for (const connectionString of [
      'not a url',
      'postgress://u@localhost/db',
      'mysql://u@localhost/db',
      '',
    ]) {
      expect(refusal(() => new Store({ connectionString })).argument, connectionString).toBe(
        'connectionString',
      );
    }
    const ok = new PostgresSessionStore({ connectionString: 'postgres://u:p%40ss@db.example:5432/app' });
    opened.push(ok);
  });

  it('an unreachable server: the first operation rejects with StoreUnavailableError, nothing unhandled', async () => {
    const port = await freePort();
    const store = new PostgresSessionStore({
      connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    });
    opened.push(store);
    const error = await store.get('a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).cause).toBeDefined();
    await expect(store.migrate()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('a statement timeout is StoreUnavailableError; an SQL error is StoreError', async () => {
    const store = open({ statementTimeoutMs: 100, tablePrefix: 'timeout_' });
    await store.insert(record('a'));
    // Another connection holds the row, so the store's update waits until the server cancels it.
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${db.schema}".timeout_sessions WHERE id = 'a' FOR UPDATE`);
      const error = await store.compareAndSet('a', record('a', { version: 2 }), 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).cause).toMatchObject({ code: '57014' });
    } finally {
      await locker.end();
    }
    const broken = new PostgresSessionStore({
      pool: store.pool,
      schema: db.schema,
      tablePrefix: 'never_created_',
      migrate: false,
    });
    const error = await broken.get('a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toMatchObject({ code: '42P01' });
  });
});
