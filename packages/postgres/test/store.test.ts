import {
  InvalidArgumentError,
  type LifecyclePolicy,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { createRecord } from '@mcp-sessions/core/adapter';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/services';
import { migrationSql, PostgresSessionStore, SCHEMA_VERSION } from '../src/index';
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
    expect(await store.compareAndSet(record('a', { version: 2, status: 'disconnected' }), 1)).toBe(true);
    expect(await store.compareAndSet(record('a', { version: 3, status: 'closed' }), 1)).toBe(false);
    expect(await store.compareAndSet(record('nope', { version: 2 }), 1)).toBe(false);
    expect((await store.get('a'))?.status).toBe('disconnected');
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

  it('lists in binary order of id on equal heartbeats, keyset pages without overlap', async () => {
    const store = open();
    // Binary order: 'B' < 'a' < 'b' < 'é'; a linguistic collation would put 'a' before 'B'.
    for (const id of ['a', 'B', 'b', '\u00e9']) await store.insert(record(id));
    await store.insert(record('late', { lastHeartbeatAt: T0 + 1 }));
    await store.insert(record('gone', { status: 'closed' }));
    const all = await store.list({ statuses: ['active', 'disconnected'], limit: 10 });
    expect(all.map((r) => r.id)).toEqual(['late', '\u00e9', 'b', 'a', 'B']);
    const first = await store.list({ statuses: ['active'], limit: 2 });
    const last = first[1]!;
    const next = await store.list({
      statuses: ['active'],
      limit: 10,
      after: { lastHeartbeatAt: last.lastHeartbeatAt, id: last.id },
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
    await store.compareAndSet(record('s', { status: 'expired', version: 2 }), 1);
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

  it('version 1 tables gain exact event sizes (UTF-8 bytes of the JSON) when migrated', async () => {
    const schema = uniqueName('v1');
    const first = new PostgresSessionStore({ connectionString: url!, schema, tablePrefix: 'v_' });
    opened.push(first);
    await first.insert(record('a'));
    for (const message of ['x'.repeat(98), 'é'.repeat(49), { e: `${'😀'.repeat(22)}abcd` }]) {
      await first.appendEvent({ sessionId: 'a', streamId: 's', message, createdAt: T0 });
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // Back to the version 1 layout: no size column.
      await client.query(`ALTER TABLE "${schema}".v_events DROP COLUMN size`);
      await client.query(`DELETE FROM "${schema}".v_schema_version WHERE version > 1`);
      const store = new PostgresSessionStore({ connectionString: url!, schema, tablePrefix: 'v_' });
      opened.push(store);
      expect(await store.trimEvents({ sessionId: 'a', maxBytes: 300 })).toBe(0);
      expect(await store.trimEvents({ sessionId: 'a', maxBytes: 299 })).toBe(1);
      expect((await store.readEvents({ sessionId: 'a', afterSeq: 0 })).map((e) => e.seq)).toEqual([2, 3]);
      const { rows } = await client.query(
        `SELECT version FROM "${schema}".v_schema_version ORDER BY version`,
      );
      expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await client.query(`DROP SCHEMA "${schema}" CASCADE`);
      await client.end();
    }
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
      const error = await store.compareAndSet(record('a', { version: 2 }), 1).catch((e: unknown) => e);
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
