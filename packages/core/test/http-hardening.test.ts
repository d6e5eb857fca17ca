/**
 * The HTTP handler against what a deploy, an attacker or an outage throws at it: concurrent
 * resumes, DNS-rebinding protection across rebuilds, oversized and hostile bodies, refused
 * initializes, a store that goes away mid-request. Real HTTP, the official SDK client.
 */
import { request as httpRequest } from 'node:http';
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { RedisSessionStore } from '@mcp-sessions/redis';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { startRedis } from '../../../test/services';
import { createEventStore } from '../src/http/index';
import { SessionManager, type SessionStore } from '../src/index';
import {
  connectClient,
  listen,
  loadSdk,
  parseResult,
  type RunningHttp,
  type Sdk,
  type SdkVersion,
  serve,
} from './fixtures/http-app';
import { startProxy } from './fixtures/http-proxy';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Newest v1 and v2 (1.25.2 adds nothing here that http.test.ts does not cover). */
const HARDENED_SDKS: SdkVersion[] = ['1.32.2', '2.4.0'];
let sdk: Sdk;

function instance(store: SessionStore, id: string, extra: Parameters<typeof serve>[2] = {}) {
  const manager = new SessionManager({ store, timers: false, instanceId: id });
  const handler = serve(sdk, manager, { eventStore: createEventStore(manager), ...extra });
  cleanups.push(() => manager.dispose());
  return { manager, handler };
}

async function up(handler: Parameters<typeof listen>[0], port?: number): Promise<RunningHttp> {
  const http = await listen(handler, port);
  cleanups.push(() => http.close());
  return http;
}

async function client(url: string, options: Parameters<typeof connectClient>[2] = {}) {
  const c = await connectClient(sdk, url, options);
  cleanups.push(() => c.client.close());
  return c;
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const POST_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

async function allRecords(store: SessionStore) {
  return store.list({ statuses: ['active', 'disconnected', 'expired', 'closed'], limit: 100 });
}

describe.each(HARDENED_SDKS)('SDK %s', (version) => {
  beforeAll(async () => {
    sdk = await loadSdk(version);
  });

  describe('resume race: every concurrent first request for a live session is served', () => {
    it('eight managers resume one disconnected session at once: all succeed, one recovery counted', async () => {
      const store = new MemorySessionStore();
      const owner = new SessionManager({ store, timers: false, instanceId: 'owner' });
      await owner.initialize('s1');
      await owner.markDisconnected('s1');
      const managers = Array.from(
        { length: 8 },
        (_, i) => new SessionManager({ store, timers: false, instanceId: `m${i}` }),
      );
      const results = await Promise.all(managers.map((m) => m.resume('s1')));
      expect(results.filter((r) => r.mode === 'recovered')).toHaveLength(1);
      expect(results.filter((r) => r.mode === 'attached')).toHaveLength(7);
      expect(await store.get('s1')).toMatchObject({ status: 'active', recoveryAttempts: 1 });
    });

    it('a handed-off session resumed by eight managers at once: all attach, none counted', async () => {
      const store = new MemorySessionStore();
      const owner = new SessionManager({ store, timers: false, instanceId: 'owner' });
      await owner.initialize('s1');
      await owner.handOff('s1');
      const managers = Array.from(
        { length: 8 },
        (_, i) => new SessionManager({ store, timers: false, instanceId: `m${i}` }),
      );
      const results = await Promise.all(managers.map((m) => m.resume('s1')));
      expect(results.every((r) => r.mode === 'attached')).toBe(true);
      const record = await store.get('s1');
      expect(record).toMatchObject({ status: 'active', recoveryAttempts: 0 });
      expect(record?.ownerId).toMatch(/^m\d$/);
    });

    it('two instances get the first requests of 20 disconnected sessions at the same moment: no 404', async () => {
      const store = new MemorySessionStore();
      const a = instance(store, 'a');
      const httpA = await up(a.handler);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await fetch(httpA.url, {
          method: 'POST',
          headers: POST_HEADERS,
          body: JSON.stringify(INITIALIZE),
        });
        await res.body?.cancel();
        ids.push(res.headers.get('mcp-session-id')!);
      }
      await a.handler.close({ disconnect: true });
      await httpA.close();
      const b = instance(store, 'b');
      const c = instance(store, 'c');
      const [httpB, httpC] = [await up(b.handler), await up(c.handler)];
      const ping = (url: string, id: string) =>
        fetch(url, {
          method: 'POST',
          headers: { ...POST_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
        }).then(async (res) => {
          await res.text();
          return res.status;
        });
      const statuses = await Promise.all(ids.flatMap((id) => [ping(httpB.url, id), ping(httpC.url, id)]));
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      for (const id of ids) expect((await store.get(id))?.recoveryAttempts).toBe(1);
    });
  });

  describe('DNS-rebinding protection survives rebuilds', () => {
    it('with allowedHosts on: a restart and a second instance serve the session; a foreign Host gets 403', async () => {
      const store = new MemorySessionStore();
      const port = await freePortFor();
      const host = `127.0.0.1:${port}`;
      const transportOptions = {
        enableDnsRebindingProtection: true,
        allowedHosts: [host],
        allowedOrigins: ['http://allowed.example'],
      };
      const a = instance(store, 'a', { transportOptions });
      const httpA = await up(a.handler, port);
      const { client: c, transport } = await client(httpA.url);
      await c.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
      await a.handler.close();
      await httpA.close();

      // Restart on the same port: the rebuild replays initialize with the client's own Host.
      const b = instance(store, 'b', { transportOptions });
      const httpB = await up(b.handler, port);
      expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('v');

      // A second instance behind a proxy that keeps the Host the balancer was reached by.
      const d = instance(store, 'd', { transportOptions });
      const httpD = await up(d.handler);
      const viaD = await rawRequest(
        httpD.port,
        {
          ...POST_HEADERS,
          host,
          origin: 'http://allowed.example',
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': '2025-06-18',
        },
        { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'recall', arguments: { key: 'k' } } },
      );
      expect(viaD.status).toBe(200);
      expect(viaD.body).toContain('\\"value\\":\\"v\\"');

      // Foreign Host or Origin: the SDK's own 403, and the session is left alone.
      const foreign: Record<string, string>[] = [
        { host: 'evil.example' },
        { host, origin: 'http://evil.example' },
      ];
      for (const headers of foreign) {
        const before = await store.get(transport.sessionId!);
        const refused = await rawRequest(httpD.port, {
          ...headers,
          ...POST_HEADERS,
          'mcp-session-id': transport.sessionId!,
        });
        expect(refused.status).toBe(403);
        expect(await store.get(transport.sessionId!)).toEqual(before);
      }
      expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('v');
      void httpB;
    });
  });

  describe('bodies', () => {
    it('a 100 MB chunked initialize body is cut at the limit: 413, memory stays flat', async () => {
      const store = new MemorySessionStore();
      const a = instance(store, 'a');
      const http = await up(a.handler);
      const before = process.memoryUsage().rss;
      const status = await chunkedPost(http.port, 100 * 1024 * 1024);
      expect(status).toBe(413);
      expect(process.memoryUsage().rss - before).toBeLessThan(20 * 1024 * 1024);
      expect(await allRecords(store)).toEqual([]);
    });

    it('a POST to a session over maxBodyBytes is cut too: 413', async () => {
      const store = new MemorySessionStore();
      const a = instance(store, 'a', { maxBodyBytes: 64 * 1024 });
      const http = await up(a.handler);
      const { transport } = await client(http.url);
      const status = await chunkedPost(http.port, 10 * 1024 * 1024, {
        'mcp-session-id': transport.sessionId!,
      });
      expect(status).toBe(413);
    });

    it('initialize params nested 5000 deep: 400, nothing stored', async () => {
      const store = new MemorySessionStore();
      const a = instance(store, 'a');
      const http = await up(a.handler);
      const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
      const body = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"x":${deep}},"clientInfo":{"name":"d","version":"1"}}}`;
      const res = await fetch(http.url, { method: 'POST', headers: POST_HEADERS, body });
      expect(res.status).toBe(400);
      expect(await allRecords(store)).toEqual([]);
    });

    it('an initialize the transport refuses (406, 415) leaves no session and no tombstone', async () => {
      const store = new MemorySessionStore();
      const a = instance(store, 'a');
      const http = await up(a.handler);
      const notAcceptable = await fetch(http.url, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify(INITIALIZE),
      });
      expect(notAcceptable.status).toBe(406);
      const unsupported = await fetch(http.url, {
        method: 'POST',
        headers: { accept: POST_HEADERS.accept, 'content-type': 'application/json', 'x-ignore': '1' },
        body: JSON.stringify([INITIALIZE, INITIALIZE]),
      });
      expect(unsupported.status).toBeGreaterThanOrEqual(400);
      expect(await allRecords(store)).toEqual([]);
      expect(a.handler.web.liveSessionIds()).toEqual([]);
    });
  });

  describe('posted responses and the live bus', () => {
    /** A session on a handler with a live bus, and what the handler published on it. */
    async function withBus() {
      const bus = new MemorySessionBus();
      cleanups.push(() => bus.close());
      const routed: string[] = [];
      const a = instance(new MemorySessionStore(), 'a', {
        bus,
        logger: false,
        observer: { routed: (kind) => routed.push(kind) },
      });
      const http = await up(a.handler);
      const { transport } = await client(http.url);
      const post = (body: string) =>
        fetch(http.url, {
          method: 'POST',
          headers: {
            ...POST_HEADERS,
            'mcp-session-id': transport.sessionId!,
            'mcp-protocol-version': '2025-11-25',
          },
          body,
        });
      return { routed, post };
    }
    const answer = (id: string | number) => ({ jsonrpc: '2.0', id, result: {} });
    const errorOf = async (res: Response) =>
      ((await res.json()) as { error: { code: number; message: string } }).error;

    it('a batch of 100,000 answers is refused as the SDK refuses 101 requests: 400, nothing published', async () => {
      const { routed, post } = await withBus();
      // Under the 4 MiB body limit, as the POST that flooded the bus was.
      const answers = Array.from({ length: 100_000 }, (_, n) => answer(n % 10));
      const res = await post(JSON.stringify(answers));
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toEqual({
        code: -32600,
        message: 'Invalid Request: Batch must not exceed 100 messages',
      });
      const requests = Array.from({ length: 101 }, (_, n) => ({ jsonrpc: '2.0', id: n, method: 'ping' }));
      const sdkAnswer = await post(JSON.stringify(requests));
      expect(sdkAnswer.status).toBe(400);
      expect((await errorOf(sdkAnswer)).code).toBe(-32600);
      expect(routed).toEqual([]);
    });

    it('an invalid message is refused before routing: 400, not even its valid neighbours published', async () => {
      const { routed, post } = await withBus();
      const res = await post(JSON.stringify([answer('AbCdEfGh.1'), { jsonrpc: '2.0', id: 2, result: [] }]));
      expect(res.status).toBe(400);
      expect((await errorOf(res)).code).toBe(-32700);
      expect(routed).toEqual([]);
    });

    it('only answers whose id a link could have issued are published; others stay as on one instance', async () => {
      const { routed, post } = await withBus();
      const huge = answer('x'.repeat(100 * 1024));
      const res = await post(JSON.stringify([huge, answer(7), answer('elsewhere.1')]));
      expect(res.status).toBe(202);
      expect(routed).toEqual([]);
      const progress = {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 'x'.repeat(1000), progress: 1 },
      };
      expect((await post(JSON.stringify(progress))).status).toBe(202);
      expect(routed).toEqual([]);
      expect((await post(JSON.stringify(answer('AbCdEfGh.12')))).status).toBe(202);
      expect(routed).toEqual(['answer']);
    });
  });

  describe('a store outage during a request', () => {
    it('is a 503 with Retry-After and no driver message, then served again once the store is back', async () => {
      const redis = await startRedis({ appendonly: true });
      cleanups.push(() => redis.stop());
      const store = new RedisSessionStore({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 });
      cleanups.push(() => store.close());
      const a = instance(store, 'a');
      const http = await up(a.handler);
      const { client: c, transport } = await client(http.url);
      await c.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
      await redis.stop();
      const headers = {
        ...POST_HEADERS,
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-11-25',
      };
      for (let i = 0; i < 2; i++) {
        const res = await fetch(http.url, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 5,
            method: 'tools/call',
            params: { name: 'recall', arguments: { key: 'k' } },
          }),
        });
        const text = await res.text();
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(text).not.toMatch(/ECONN|127\.0\.0\.1|redis/i);
      }
      await redis.start();
      await vi.waitFor(
        async () => {
          expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('v');
        },
        { timeout: 15_000, interval: 200 },
      );
    });

    it('is a 503 when the event store fails inside the transport (no 400 "Parse error" with internals)', async () => {
      const redis = await startRedis();
      cleanups.push(() => redis.stop());
      const store = new RedisSessionStore({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 });
      cleanups.push(() => store.close());
      // The record is read from the session revalidation cache-free path only via the heartbeat
      // mode, so the first store call of the request is the transport's priming event.
      const a = instance(store, 'a', { revalidate: 'heartbeat' });
      const http = await up(a.handler);
      const { client: c, transport } = await client(http.url);
      await c.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
      await redis.stop();
      const res = await fetch(http.url, {
        method: 'POST',
        headers: {
          ...POST_HEADERS,
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/list' }),
      });
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(text).not.toMatch(/ECONN|127\.0\.0\.1|Parse error/i);
    });
  });

  describe('rolling restarts never spend recovery attempts', () => {
    it('five rolling restarts of three instances behind a round-robin proxy, under load: no 404, nothing counted', async () => {
      const store = new MemorySessionStore();
      const ports = [await freePortFor(), await freePortFor(), await freePortFor()];
      const running = new Map<number, Awaited<ReturnType<typeof drainable>>>();
      let generation = 0;
      const start = async (port: number) => {
        const node = instance(store, `n${port}-${generation++}`);
        running.set(port, await drainable(node.handler, port));
      };
      for (const port of ports) await start(port);
      const proxy = await startProxy(ports);
      cleanups.push(() => proxy.close());
      const clients = await Promise.all(Array.from({ length: 6 }, () => client(proxy.url)));
      for (const [i, { client: c }] of clients.entries()) {
        await c.callTool({ name: 'remember', arguments: { key: 'k', value: `v${i}` } });
      }
      let stop = false;
      let calls = 0;
      const failures: unknown[] = [];
      const load = Promise.all(
        clients.map(async ({ client: c }, i) => {
          while (!stop && failures.length === 0) {
            try {
              const got = parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } }));
              if (got.value !== `v${i}`) failures.push(got);
              calls++;
            } catch (error) {
              failures.push(error);
            }
          }
        }),
      );
      for (let round = 0; round < 5 && failures.length === 0; round++) {
        for (const port of ports) {
          // As a balancer and an orchestrator do: drain, let in-flight calls finish, SIGTERM.
          proxy.drain(port);
          await new Promise((resolve) => setTimeout(resolve, 50)); // requests already routed arrive
          await running.get(port)!.shutdown();
          await start(port);
          proxy.restore(port);
        }
      }
      stop = true;
      await load;
      expect(failures).toEqual([]);
      expect(calls).toBeGreaterThan(15);
      for (const { transport } of clients) {
        expect(await store.get(transport.sessionId!)).toMatchObject({
          status: 'active',
          recoveryAttempts: 0,
        });
      }
    });
  });
});

// --- Internal helpers ---

/** A server whose shutdown waits for in-flight POSTs (long-lived GET streams are cut), then closes the handler. */
async function drainable(handler: Parameters<typeof listen>[0], port: number) {
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const counted = Object.assign(
    async (req: Parameters<typeof handler>[0], res: Parameters<typeof handler>[1]) => {
      if (req.method !== 'POST') return handler(req, res);
      inFlight++;
      res.once('close', () => {
        if (--inFlight === 0) idle?.();
      });
      return handler(req, res);
    },
    { web: handler.web, close: handler.close },
  );
  const http = await up(counted, port);
  return {
    async shutdown() {
      http.server.close();
      if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
      await handler.close();
      await http.close();
    },
  };
}

async function freePortFor(): Promise<number> {
  const { freePort } = await import('../../../test/services');
  return freePort();
}

/** A request whose Host header is set by hand (fetch would use the URL's). */
function rawRequest(
  port: number,
  headers: Record<string, string>,
  body: unknown = { jsonrpc: '2.0', id: 1, method: 'ping' },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** POSTs up to `total` bytes in 64 KiB chunks without Content-Length; resolves with the status. */
function chunkedPost(port: number, total: number, extra: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...POST_HEADERS, ...extra } },
      (res) => {
        answered = true;
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    req.write('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"');
    let sent = 0;
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end('"}}');
    };
    pump();
  });
}
