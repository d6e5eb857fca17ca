/**
 * Bounded by activity (issue #21), on real SQLite, Redis and Postgres stores with real timers set
 * short (heartbeats 100 ms, sweeps ~100 ms, release after 400 ms idle, idle timeout 2.5 s) and real
 * SDK clients over HTTP: abandoned sessions are released from the instance that served them,
 * resumed on another instance with their state and no recovery counted, and expire once nobody
 * used them for `idleTimeoutMs`; a session with a request streaming and one with an open GET
 * stream are never released or expired meanwhile. Redis and Postgres come from the root global
 * setup and skip loudly without it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager, type SessionStore } from '@mcp-sessions/core';
import { PostgresSessionStore } from '@mcp-sessions/postgres';
import { RedisSessionStore } from '@mcp-sessions/redis';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  listen,
  loadSdk,
  parseResult,
  type RunningHttp,
  type Sdk,
  serve,
} from './fixtures/http-app';

const IDLE_RELEASE_MS = 400;
const IDLE_TIMEOUT_MS = 2_500;
const TOMBSTONE_MS = 500;

const redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
const postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
const sqliteDir = mkdtempSync(join(tmpdir(), 'mcp-sessions-idle-'));
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));

interface Backend {
  name: string;
  skip: string | undefined;
  /** A function opening one more store object on the same fresh backend namespace. */
  namespace(): () => SessionStore;
}

const backends: Backend[] = [
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
      const prefix = `idle${randomBytes(4).toString('hex')}:`;
      return () => new RedisSessionStore({ url: redisUrl!, prefix, logger: false });
    },
  },
  {
    name: 'postgres',
    skip: postgresUrl ? undefined : 'MCP_SESSIONS_TEST_POSTGRES_URL is not set (no Postgres)',
    namespace: () => {
      const schema = `idle${randomBytes(4).toString('hex')}`;
      return () => new PostgresSessionStore({ connectionString: postgresUrl!, schema, logger: false });
    },
  },
];
for (const backend of backends) {
  if (backend.skip) console.warn(`!!! idle.test.ts: ${backend.name} skipped: ${backend.skip}`);
}

let sdk: Sdk;
beforeAll(async () => {
  sdk = await loadSdk('1.32.2');
});

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

interface Instance {
  manager: SessionManager;
  store: SessionStore;
  handler: ReturnType<typeof serve>;
  http: RunningHttp;
}

async function instance(open: () => SessionStore, name: string): Promise<Instance> {
  const store = open();
  await store.get('warm-up'); // the first store object creates the schema alone
  const manager = new SessionManager({
    store,
    instanceId: name,
    logger: false,
    // A held session's deadline is a grace period past its last heartbeat: generous, so that a
    // tick delayed on a loaded machine never expires a session in use.
    heartbeatIntervalMs: 100,
    staleAfterMs: 1_000,
    gracePeriodMs: 5_000,
    cleanupIntervalMs: 100,
    tombstoneMs: TOMBSTONE_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
  });
  const handler = serve(sdk, manager, { idleReleaseMs: IDLE_RELEASE_MS, logger: false });
  const http = await listen(handler);
  cleanup.push(() => store.close());
  cleanup.push(() => manager.dispose());
  cleanup.push(() => handler.close());
  cleanup.push(() => http.close());
  return { manager, store, handler, http };
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 8_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const POST_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

/** A `tools/call` by plain HTTP, for a session whose client holds no GET stream. */
function rawCall(url: string, sessionId: string, id: number, name: string, args: object): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
  });
}

/** A session opened by plain HTTP: initialize and initialized, no GET stream. */
async function rawSession(url: string): Promise<string> {
  const init = await fetch(url, {
    method: 'POST',
    headers: POST_HEADERS,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  const sessionId = init.headers.get('mcp-session-id')!;
  await init.text();
  const initialized = await fetch(url, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  expect(initialized.status).toBe(202);
  return sessionId;
}

describe.each(backends)('bounded by activity on $name', (backend) => {
  it.skipIf(backend.skip)(
    'abandoned sessions are released, resumed uncounted on another instance, then expire; busy and streaming ones stay',
    async () => {
      const open = backend.namespace();
      const a = await instance(open, 'idle-a');
      const b = await instance(open, 'idle-b');

      // Five clients call a tool and go away without a DELETE (close aborts their GET streams).
      const abandoned: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { client, transport } = await connectClient(sdk, a.http.url, { name: `gone-${i}` });
        await client.callTool({ name: 'remember', arguments: { key: 'k', value: `v${i}` } });
        abandoned.push(transport.sessionId!);
        await client.close();
      }
      // One client keeps its GET stream open; one session (no GET stream) has a request streaming.
      const streamer = await connectClient(sdk, a.http.url, { name: 'streamer' });
      cleanup.push(() => streamer.client.close());
      const streamerId = streamer.transport.sessionId!;
      const busyId = await rawSession(a.http.url);
      const busyCall = rawCall(a.http.url, busyId, 1, 'countdown', { from: 14, intervalMs: 250 });
      const busyBody = busyCall.then((response) => response.text());
      busyBody.catch(() => undefined); // awaited below; a failure before then must not go unhandled

      // Released from A within a few release periods: held count falls, records handed off uncounted.
      await until('the abandoned sessions are released', () =>
        abandoned.every((id) => !a.handler.web.liveSessionIds().includes(id)),
      );
      expect(a.handler.web.liveSessionIds()).toEqual(expect.arrayContaining([streamerId, busyId]));
      expect([...a.manager.heldSessionIds].sort()).toEqual([streamerId, busyId].sort());
      // The hand-off is written just after the session is dropped from memory.
      await until('the abandoned sessions are handed off in the store', async () =>
        (await Promise.all(abandoned.map((id) => a.store.get(id)))).every((r) => r?.ownerId === null),
      );
      for (const id of abandoned) {
        expect(await a.store.get(id)).toMatchObject({ status: 'active', ownerId: null, recoveryAttempts: 0 });
      }

      // Resumed before the idle timeout, on the other instance: state intact, nothing counted.
      const back = await connectClient(sdk, b.http.url, { name: 'gone-0', sessionId: abandoned[0] });
      expect(parseResult(await back.client.callTool({ name: 'recall', arguments: { key: 'k' } }))).toEqual({
        value: 'v0',
      });
      expect(parseResult(await back.client.callTool({ name: 'session_info', arguments: {} }))).toMatchObject({
        instanceId: 'idle-b',
        recoveryAttempts: 0,
        mode: 'attached',
      });
      await back.client.close(); // abandoned again

      // Nobody uses them for idleTimeoutMs (watched in the store: a request would be a use): expired,
      // then 404 on every instance, rows gone after the tombstone.
      await until(
        'the abandoned sessions expire',
        async () =>
          (await Promise.all(abandoned.map((id) => a.store.get(id)))).every(
            (r) => r === undefined || r.status === 'expired',
          ),
        IDLE_TIMEOUT_MS * 8,
      );
      const goneOnB = await rawCall(b.http.url, abandoned[0]!, 9, 'recall', { key: 'k' });
      expect(goneOnB.status).toBe(404);
      await goneOnB.body?.cancel();
      const gone = await rawCall(a.http.url, abandoned[1]!, 9, 'recall', { key: 'k' });
      expect(gone.status).toBe(404);
      await gone.body?.cancel();
      await until(
        'their rows are deleted after the tombstone',
        async () => (await Promise.all(abandoned.map((id) => a.store.get(id)))).every((r) => r === undefined),
        TOMBSTONE_MS * 20,
      );
      for (const id of abandoned) {
        expect(await a.store.listState(id, undefined, Date.now())).toEqual([]);
        expect(await a.store.readEvents({ sessionId: id, afterSeq: 0 })).toEqual([]);
      }

      // The request that streamed all along finished normally, and its session is still served.
      const streamed = await busyBody;
      expect(streamed).toContain('"result"');
      expect(streamed).toContain('done');
      expect((await rawCall(a.http.url, busyId, 2, 'session_info', {})).status).toBe(200);
      // The GET stream kept its session held and alive past the idle timeout.
      expect(a.handler.web.liveSessionIds()).toContain(streamerId);
      expect(
        parseResult(await streamer.client.callTool({ name: 'session_info', arguments: {} })),
      ).toMatchObject({ instanceId: 'idle-a', recoveryAttempts: 0 });
      expect(await a.store.get(streamerId)).toMatchObject({ status: 'active', ownerId: 'idle-a' });
    },
    30_000,
  );
});
