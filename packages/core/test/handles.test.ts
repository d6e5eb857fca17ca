/**
 * Handles and consume-once through `SessionManager`, on the memory store and on real SQLite,
 * Redis and Postgres stores (several managers, each with its own store object on one backend,
 * as several instances would be). Time is an injected clock shared by the managers; sweeps are
 * called by hand. Redis and Postgres come from the root global setup and skip loudly without it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HandleExpiredError,
  InvalidArgumentError,
  RecoveryRefusedError,
  SessionManager,
  SessionNotFoundError,
  SessionNotLiveError,
  type SessionStore,
} from '@mcp-sessions/core';
import { RECORD_KIND_KEY } from '@mcp-sessions/core/adapter';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { PostgresSessionStore } from '@mcp-sessions/postgres';
import { RedisSessionStore } from '@mcp-sessions/redis';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const HOUR = 3_600_000;
const TTL = 60_000;
const TOMBSTONE = HOUR;

const redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
const postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
const sqliteDir = mkdtempSync(join(tmpdir(), 'mcp-sessions-handles-'));
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));

interface Backend {
  name: string;
  skip: string | undefined;
  /** A function opening one more store object on the same fresh backend namespace. */
  namespace(): () => SessionStore;
}

const backends: Backend[] = [
  {
    name: 'memory',
    skip: undefined,
    namespace: () => {
      const shared = new MemorySessionStore();
      return () => shared;
    },
  },
  {
    name: 'sqlite',
    skip: undefined,
    namespace: () => {
      const filename = join(sqliteDir, `${randomBytes(4).toString('hex')}.db`);
      return () => new SqliteSessionStore({ filename, logger: false });
    },
  },
  {
    name: 'redis',
    skip: redisUrl ? undefined : 'MCP_SESSIONS_TEST_REDIS_URL is not set (no redis-server)',
    namespace: () => {
      const prefix = `h${randomBytes(4).toString('hex')}:`;
      return () => new RedisSessionStore({ url: redisUrl!, prefix, logger: false });
    },
  },
  {
    name: 'postgres',
    skip: postgresUrl ? undefined : 'MCP_SESSIONS_TEST_POSTGRES_URL is not set (no Postgres)',
    namespace: () => {
      const schema = `h${randomBytes(4).toString('hex')}`;
      return () => new PostgresSessionStore({ connectionString: postgresUrl!, schema, logger: false });
    },
  },
];

for (const backend of backends) {
  if (backend.skip) console.warn(`!!! handles.test.ts: ${backend.name} skipped: ${backend.skip}`);
}

const opened: Array<{ manager: SessionManager; store: SessionStore }> = [];
afterEach(async () => {
  const all = opened.splice(0);
  await Promise.all(all.map(({ manager }) => manager.dispose()));
  await Promise.all([...new Set(all.map(({ store }) => store))].map((store) => store.close()));
});

/** `count` managers on one fresh namespace of the backend, one store object each, one clock. */
async function setup(backend: Backend, count = 1) {
  const open = backend.namespace();
  const clock = { t: Date.now(), now: () => clock.t };
  const managers: SessionManager[] = [];
  for (let i = 0; i < count; i++) {
    const store = open();
    const manager = new SessionManager({
      store,
      clock,
      timers: false,
      logger: false,
      tombstoneMs: TOMBSTONE,
      instanceId: `inst-${i}`,
    });
    opened.push({ manager, store });
    // The first store creates the schema alone; the others then find it.
    if (i === 0) await store.get('warm-up');
    managers.push(manager);
  }
  return { managers, manager: managers[0]!, clock, T0: clock.t };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.each(backends)('handles on $name', (backend) => {
  it.skipIf(backend.skip !== undefined)(
    'mint a >= 128-bit id with the default TTL; state under it reaches another instance',
    async () => {
      const { managers, T0 } = await setup(backend, 2);
      const [a, b] = managers as [SessionManager, SessionManager];
      const minted = await a.mintHandle({ principal: 'alice' });
      expect(minted.expiresAt).toBe(T0 + HOUR);
      expect(Buffer.from(minted.handle, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      expect(await a.mintHandle({ principal: 'alice' })).not.toEqual(minted);

      const notes = await a.handleState(minted.handle, 'notebook', { principal: 'alice' });
      expect(notes.sessionId).toBe(minted.handle);
      await notes.save('todo', ['write tests']);
      const elsewhere = await b.handleState(minted.handle, 'notebook', { principal: 'alice' });
      expect(await elsewhere.load('todo')).toEqual(['write tests']);
      expect((await elsewhere.list()).map((e) => e.key)).toEqual(['todo']);
      expect(await b.checkHandle(minted.handle, { principal: 'alice' })).toEqual(minted);

      const anonymous = await b.mintHandle({ ttlMs: TTL });
      expect(anonymous.expiresAt).toBe(T0 + TTL);
      await (await a.handleState(anonymous.handle, 'notebook')).save('k', 1);
      expect(await (await b.handleState(anonymous.handle, 'notebook', { principal: null })).load('k')).toBe(
        1,
      );
    },
  );

  it.skipIf(backend.skip !== undefined)(
    "refuse another principal's handle as not found, and are never a session",
    async () => {
      const { manager } = await setup(backend);
      const { handle } = await manager.mintHandle({ principal: 'alice' });
      for (const principal of ['bob', null, undefined]) {
        expect(await rejection(manager.checkHandle(handle, { principal }))).toBeInstanceOf(
          SessionNotFoundError,
        );
        expect(await rejection(manager.handleState(handle, 'notebook', { principal }))).toBeInstanceOf(
          SessionNotFoundError,
        );
        expect(await rejection(manager.touchHandle(handle, { principal }))).toBeInstanceOf(
          SessionNotFoundError,
        );
      }
      // A session id is not a handle, and a handle is not a session.
      const session = await manager.initialize('a-session-id', { principal: 'alice' });
      expect(await rejection(manager.checkHandle(session.id, { principal: 'alice' }))).toBeInstanceOf(
        SessionNotFoundError,
      );
      const recover = await rejection(manager.recover(handle, { principal: 'alice' }));
      expect(recover).toBeInstanceOf(RecoveryRefusedError);
      expect((recover as RecoveryRefusedError).reason).toBe('not_found');
      expect(await rejection(manager.resume(handle, { principal: 'alice' }))).toBeInstanceOf(
        RecoveryRefusedError,
      );
      expect(await rejection(manager.heartbeat(handle))).toBeInstanceOf(SessionNotLiveError);
      expect(await rejection(manager.close(handle, { principal: 'alice' }))).toBeInstanceOf(
        SessionNotFoundError,
      );
      expect(await manager.checkHandle(handle, { principal: 'alice' })).toMatchObject({ handle });
      expect(await rejection(manager.checkHandle('no such handle', {}))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejection(manager.checkHandle('unknown', {}))).toBeInstanceOf(SessionNotFoundError);
      expect(await rejection(manager.mintHandle({ ttlMs: 0 }))).toBeInstanceOf(InvalidArgumentError);
    },
  );

  it.skipIf(backend.skip !== undefined)(
    'expire at their deadline (HandleExpiredError), extend when touched, and the sweep deletes their state',
    async () => {
      const { managers, clock, T0 } = await setup(backend, 2);
      const [a, b] = managers as [SessionManager, SessionManager];
      const { handle } = await a.mintHandle({ principal: 'alice', ttlMs: TTL });
      await (await a.handleState(handle, 'notebook', { principal: 'alice' })).save('page', 'one');

      clock.t = T0 + TTL / 2;
      expect(await b.touchHandle(handle, { principal: 'alice', ttlMs: TTL })).toEqual({
        handle,
        expiresAt: T0 + TTL / 2 + TTL,
      });
      clock.t = T0 + TTL;
      expect(await a.checkHandle(handle, { principal: 'alice' })).toEqual({
        handle,
        expiresAt: T0 + TTL / 2 + TTL,
      });
      expect(await a.cleanupExpired()).toMatchObject({ expired: 0, deleted: 0 });

      clock.t = T0 + TTL / 2 + TTL;
      // Refused at the deadline already, before any sweep ran.
      expect(await rejection(a.checkHandle(handle, { principal: 'alice' }))).toBeInstanceOf(
        HandleExpiredError,
      );
      expect(await rejection(b.touchHandle(handle, { principal: 'alice' }))).toBeInstanceOf(
        HandleExpiredError,
      );
      const error = await rejection(b.handleState(handle, 'notebook', { principal: 'alice' }));
      expect(error).toBeInstanceOf(HandleExpiredError);
      expect((error as HandleExpiredError).code).toBe('HANDLE_EXPIRED');
      // Another principal still learns nothing.
      expect(await rejection(a.checkHandle(handle, { principal: 'bob' }))).toBeInstanceOf(
        SessionNotFoundError,
      );

      expect(await b.cleanupExpired()).toMatchObject({ expired: 1 });
      expect(await a.store.listState(handle, undefined, clock.t)).toEqual([]);
      expect(
        await a.store.getState({ sessionId: handle, agentId: 'notebook', key: 'page' }, clock.t),
      ).toBeUndefined();
      expect(await rejection(a.checkHandle(handle, { principal: 'alice' }))).toBeInstanceOf(
        HandleExpiredError,
      );

      clock.t += TOMBSTONE;
      expect(await a.cleanupExpired()).toMatchObject({ deleted: 1 });
      expect(await a.store.get(handle)).toBeUndefined();
      expect(await rejection(a.checkHandle(handle, { principal: 'alice' }))).toBeInstanceOf(
        SessionNotFoundError,
      );
    },
  );

  it.skipIf(backend.skip !== undefined)(
    'consume-once: of 8 managers racing on one key exactly one wins; the key is free again after its TTL and a sweep',
    async () => {
      const { managers, manager, clock, T0 } = await setup(backend, 8);
      const key = `mrtr:${randomBytes(8).toString('hex')}`;
      const results = await Promise.all(managers.map((m) => m.consumeOnce(key, { ttlMs: TTL })));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await manager.consumeOnce(key, { ttlMs: TTL })).toBe(false);
      expect(await manager.consumeOnce(`${key}-other`, { ttlMs: TTL })).toBe(true);
      // A key longer than a session id is fine: only its hash is stored.
      expect(await manager.consumeOnce('x'.repeat(5_000), { ttlMs: TTL })).toBe(true);

      clock.t = T0 + TTL - 1;
      expect(await manager.cleanupExpired()).toMatchObject({ deleted: 0 });
      expect(await managers[3]!.consumeOnce(key, { ttlMs: TTL })).toBe(false);
      clock.t = T0 + TTL;
      // Past its TTL but not swept yet: still consumed (fails closed).
      expect(await managers[3]!.consumeOnce(key, { ttlMs: TTL })).toBe(false);
      expect(await manager.cleanupExpired()).toMatchObject({ deleted: 3, expired: 0 });
      const again = await Promise.all(managers.map((m) => m.consumeOnce(key, { ttlMs: TTL })));
      expect(again.filter(Boolean)).toHaveLength(1);

      expect(await rejection(manager.consumeOnce('', { ttlMs: TTL }))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejection(manager.consumeOnce('k', { ttlMs: 0 }))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejection(manager.consumeOnce('\uD800', { ttlMs: TTL }))).toBeInstanceOf(
        InvalidArgumentError,
      );
    },
  );
});

describe('the reserved record kind', () => {
  it('cannot be set in a session’s metadata', async () => {
    const { manager } = await setup(backends[0]!);
    const error = await rejection(manager.initialize('s-1', { metadata: { [RECORD_KIND_KEY]: 'handle' } }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(await manager.getSession('s-1')).toBeUndefined();
  });
});
