/**
 * The MCP HTTP integration in one process, over real HTTP, with the official SDK client; run
 * against SDK 1.32.2, 1.25.2 and 2.4.0 (v2's transport, McpServer and client). Process-level tests (SIGKILL, SQLite) live in examples/server.
 */
import { MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { createEventStore } from '../src/http/index';
import { SessionManager, type SessionStore } from '../src/index';
import {
  bearerPrincipal,
  connectClient,
  listen,
  loadSdk,
  parseResult,
  type RunningHttp,
  SDK_VERSIONS,
  type Sdk,
  serve,
} from './fixtures/http-app';
import { startProxy } from './fixtures/http-proxy';

// Real processes and sockets on a shared 2-core machine: generous, never a speed assertion.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const HOUR = 3_600_000;

/** Counts store calls, so a test can prove that a request never reached the store. */
function counting(store: SessionStore): { store: SessionStore; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls: () => calls };
}

describe.each(SDK_VERSIONS)('MCP HTTP integration, SDK %s', (version) => {
  let sdk: Sdk;
  let now = Date.now();
  const clock = { now: () => now };
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    sdk = await loadSdk(version);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  function instance(store: SessionStore, id: string, extra: Parameters<typeof serve>[2] = {}) {
    const manager = new SessionManager({ store, clock, timers: false, instanceId: id });
    const handler = serve(sdk, manager, {
      eventStore: createEventStore(manager, { clock }),
      principal: bearerPrincipal,
      ...extra,
    });
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

  it('restart: a new process on the same store serves the same client and session', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    const { client: c, transport } = await client(httpA.url);
    const sessionId = transport.sessionId;
    await c.callTool({ name: 'remember', arguments: { key: 'color', value: 'teal' } });

    // Crash: connections cut, nothing marked disconnected, the manager gone.
    await httpA.close();
    await a.manager.dispose();

    const b = instance(store, 'b');
    await up(b.handler, httpA.port);
    const recalled = parseResult(await c.callTool({ name: 'recall', arguments: { key: 'color' } }));
    expect(recalled.value).toBe('teal');
    expect(transport.sessionId).toBe(sessionId);
    const info = parseResult(await c.callTool({ name: 'session_info', arguments: {} }));
    // Active and fresh: attached, no recovery counted.
    expect(info).toMatchObject({ sessionId, instanceId: 'b', mode: 'attached', recoveryAttempts: 0 });
  });

  it('shutdown that disconnects, then recovery elsewhere: counted, and the client capabilities are known again', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    const { client: c, transport } = await client(httpA.url, { answer: 'blue' });
    await c.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
    await a.handler.close({ disconnect: true });
    expect((await store.get(transport.sessionId!))?.status).toBe('disconnected');
    await httpA.close();

    const b = instance(store, 'b');
    await up(b.handler, httpA.port);
    const info = parseResult(await c.callTool({ name: 'session_info', arguments: {} }));
    expect(info).toMatchObject({ mode: 'recovered', recoveryAttempts: 1, instanceId: 'b' });
    // `ask` needs the client's sampling capability, which only the replayed initialize restores.
    const asked = parseResult(await c.callTool({ name: 'ask', arguments: { question: 'color?' } }));
    expect(asked.answer).toBe('blue');
    expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('v');
  });

  it('rolling restart: close() hands the session off; the next instance attaches uncounted, even once stale', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    const { client: c, transport } = await client(httpA.url);
    await c.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
    await a.handler.close();
    const sessionId = transport.sessionId!;
    expect(await store.get(sessionId)).toMatchObject({ status: 'active', ownerId: null });
    expect(a.manager.heldSessionIds.has(sessionId)).toBe(false);
    await httpA.close();
    // The fleet takes longer than staleAfterMs to come back: still no recovery counted.
    now += a.manager.policy.staleAfterMs + 1;

    const b = instance(store, 'b');
    await up(b.handler, httpA.port);
    const info = parseResult(await c.callTool({ name: 'session_info', arguments: {} }));
    expect(info).toMatchObject({ mode: 'attached', recoveryAttempts: 0, instanceId: 'b' });
    expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('v');
  });

  it('two instances behind a round-robin proxy: 200 alternating calls on one session', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const b = instance(store, 'b');
    const httpA = await up(a.handler);
    const httpB = await up(b.handler);
    const proxy = await startProxy([httpA.port, httpB.port]);
    cleanups.push(() => proxy.close());
    const { client: c, transport } = await client(proxy.url);
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const info = parseResult(await c.callTool({ name: 'session_info', arguments: {} }));
      expect(info.sessionId).toBe(transport.sessionId);
      seen.set(String(info.instanceId), (seen.get(String(info.instanceId)) ?? 0) + 1);
    }
    // The proxy alternates per HTTP request: each instance served half of the calls.
    expect(seen.get('a')).toBe(100);
    expect(seen.get('b')).toBe(100);
    // State written through one instance is read through the other.
    await c.callTool({ name: 'remember', arguments: { key: 'n', value: 'via one' } });
    expect(parseResult(await c.callTool({ name: 'recall', arguments: { key: 'n' } })).value).toBe('via one');
    const record = await store.get(transport.sessionId!);
    expect(record).toMatchObject({ status: 'active', recoveryAttempts: 0 });
  });

  it('concurrent first requests for one session in a process share one rebuild', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    const { transport } = await client(httpA.url);
    const sessionId = transport.sessionId!;
    const managerB = new SessionManager({ store, clock, timers: false, instanceId: 'b' });
    cleanups.push(() => managerB.dispose());
    let built = 0;
    const handlerB = serve(sdk, managerB, {
      createServer: () => {
        built++;
        return new sdk.McpServer({ name: 'x', version: '1' }, { capabilities: { tools: {} } })
          .server as never;
      },
    });
    const httpB = await up(handlerB);
    const ping = (id: number) =>
      fetch(httpB.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }),
      }).then(async (r) => ({ status: r.status, body: await r.text() }));
    const results = await Promise.all([1, 2, 3, 4, 5].map(ping));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(built).toBe(1);
  });

  it('answers 404 for unknown, closed (on every instance) and expired sessions, with a JSON-RPC body', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const b = instance(store, 'b');
    const httpA = await up(a.handler);
    const httpB = await up(b.handler);
    const post = (url: string, sessionId: string, token?: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });

    const unknown = await post(httpA.url, 'no-such-session');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: null });

    // Closed through A, while B serves the session too: B answers 404 on its next request.
    const { transport } = await client(httpA.url);
    const sessionId = transport.sessionId!;
    expect((await post(httpB.url, sessionId)).status).toBe(200);
    await transport.terminateSession();
    expect((await post(httpA.url, sessionId)).status).toBe(404);
    expect((await post(httpB.url, sessionId)).status).toBe(404);
    expect(b.handler.web.liveSessionIds()).not.toContain(sessionId);

    // Expired: handed off by a planned stop, then unused for idleTimeoutMs (24 h), swept.
    const { transport: t2 } = await client(httpA.url);
    const expiring = t2.sessionId!;
    await a.handler.close();
    now += 25 * HOUR;
    expect((await b.manager.cleanupExpired()).expired).toBeGreaterThanOrEqual(1);
    expect((await post(httpB.url, expiring)).status).toBe(404);
  });

  it('with revalidate: heartbeat, a session closed elsewhere is dropped at the next tick', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const b = instance(store, 'b', { revalidate: 'heartbeat' });
    const httpA = await up(a.handler);
    const httpB = await up(b.handler);
    const { transport } = await client(httpA.url);
    const { client: viaB } = await client(httpB.url, { sessionId: transport.sessionId });
    // ping, not listTools: a v2 client joining a session by id knows no server capabilities and
    // answers listTools with [] without asking the server.
    await viaB.ping();
    expect(b.handler.web.liveSessionIds()).toContain(transport.sessionId);
    await transport.terminateSession();
    await b.manager.tick();
    expect(b.handler.web.liveSessionIds()).not.toContain(transport.sessionId);
    await expect(viaB.ping()).rejects.toThrow(/404|not found/i);
  });

  it("refuses another principal's session (404) and binds the session to its principal", async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const b = instance(store, 'b');
    const httpA = await up(a.handler);
    const httpB = await up(b.handler);
    const { client: alice, transport } = await client(httpA.url, { token: 'alice' });
    await alice.callTool({ name: 'remember', arguments: { key: 'secret', value: 's3' } });
    expect((await store.get(transport.sessionId!))?.principal).toBe('alice');
    for (const url of [httpA.url, httpB.url]) {
      const mallory = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
          authorization: 'Bearer mallory',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'recall', arguments: { key: 'secret' } },
        }),
      });
      expect(mallory.status).toBe(404);
    }
    // The failed hijack cost alice nothing.
    expect(parseResult(await alice.callTool({ name: 'recall', arguments: { key: 'secret' } })).value).toBe(
      's3',
    );
    expect((await store.get(transport.sessionId!))?.recoveryAttempts).toBe(0);
  });

  it('400 for a missing id, a malformed or 10 KB id, without a store query', async () => {
    now = Date.now();
    const counted = counting(new MemorySessionStore());
    const a = instance(counted.store, 'a');
    const httpA = await up(a.handler);
    const before = counted.calls();
    const request = (headers: Record<string, string>) =>
      fetch(httpA.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const missing = await request({});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: -32000 } });
    expect((await request({ 'mcp-session-id': 'x'.repeat(10 * 1024) })).status).toBe(400);
    expect((await request({ 'mcp-session-id': 'has space' })).status).toBe(400);
    expect((await request({ 'mcp-session-id': 'ünïcode' })).status).toBe(400);
    const get = await fetch(httpA.url, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(400);
    expect(counted.calls()).toBe(before);
  });

  it("refuses another session's event id on resume", async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    const { transport: victim } = await client(httpA.url);
    const { transport: attacker } = await client(httpA.url);
    const victimEvents = createEventStore(store, { clock }).forSession(victim.sessionId!);
    const eventId = await victimEvents.storeEvent('_GET_stream', {
      jsonrpc: '2.0',
      method: 'notifications/message',
      params: { level: 'info', data: 'victim-only' },
    });
    const response = await fetch(httpA.url, {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': attacker.sessionId!,
        'last-event-id': eventId,
      },
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await response.text()).not.toContain('victim-only');
  });

  it('resumption: a countdown cut mid-stream is resumed with Last-Event-ID, every step once, in order', async () => {
    now = Date.now();
    const store = new MemorySessionStore();
    const a = instance(store, 'a');
    const httpA = await up(a.handler);
    // Cuts the response of the countdown call after its 4th SSE event (priming + 3 steps).
    const proxy = await startProxy([httpA.port], {
      cutSseAfterEvents: 4,
      cutWhen: (body) => body.includes('countdown'),
    });
    cleanups.push(() => proxy.close());
    const { client: c, notifications } = await client(proxy.url);
    const result = parseResult(
      await c.callTool({ name: 'countdown', arguments: { from: 10, intervalMs: 15 } }),
    );
    expect(result.done).toBe(true);
    expect(proxy.cuts()).toBe(1);
    if (version === '1.25.2') {
      // SDK 1.25 stores a request stream's events only while that stream is connected: what is
      // sent between the cut and the resume is lost in the SDK, before any EventStore sees it.
      // Still: no duplicates, in order, and the result arrives.
      const got = notifications as number[];
      expect(got).toEqual([...got].sort((x, y) => y - x));
      expect(new Set(got).size).toBe(got.length);
    } else {
      expect(notifications).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    }
  });

  if (version === '1.25.2') {
    console.warn(
      '!!! skipped on SDK 1.25.2 "resumption across instances": that SDK drops a request stream\'s ' +
        'events while the stream is disconnected, so there is nothing to replay on another instance',
    );
  }
  it.skipIf(version === '1.25.2')(
    'resumption across instances: the resumed GET lands elsewhere, replays and ends; the client polls to completion',
    async () => {
      now = Date.now();
      const store = new MemorySessionStore();
      const a = instance(store, 'a');
      const b = instance(store, 'b');
      const httpA = await up(a.handler);
      const httpB = await up(b.handler);
      const proxy = await startProxy([httpA.port, httpB.port], {
        cutSseAfterEvents: 3,
        cutWhen: (body) => body.includes('countdown'),
      });
      cleanups.push(() => proxy.close());
      const { client: c, notifications } = await client(proxy.url);
      const result = parseResult(
        await c.callTool({ name: 'countdown', arguments: { from: 12, intervalMs: 10 } }),
      );
      expect(result.done).toBe(true);
      expect(proxy.cuts()).toBe(1);
      expect(new Set(proxy.resumedOn())).toEqual(new Set([httpA.port, httpB.port]));
      expect(notifications).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    },
  );
});
