/**
 * One endpoint, both protocol eras, over real HTTP: a 2025 client (SDK v1 and SDK v2 in its
 * default legacy mode) gets a session through the session handler; a 2026-07-28 client (SDK v2,
 * pinned) is served statelessly by SDK v2's `createMcpHandler`, and leaves nothing in the store.
 */
import { MemorySessionStore } from '@mcp-sessions/memory';
import { RedisSessionStore } from '@mcp-sessions/redis';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { createMcpHandler, McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { startRedis } from '../../../test/services';
import { InvalidArgumentError, StoreUnavailableError } from '../src/errors';
import { createDualEraHandler, createEventStore, createNodeSessionHandler } from '../src/http/index';
import { SessionManager } from '../src/index';
import { connectClient, listen, loadSdk, parseResult, serve } from './fixtures/http-app';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** The 2026-07-28 leg's server: one tool that says which era served it, with a notification. */
function statelessServer() {
  const server = new McpServerV2(
    { name: 'dual-era-test', version: '1.0.0' },
    { capabilities: { logging: {} } },
  );
  server.registerTool('era', { inputSchema: z.object({ echo: z.string() }) }, async ({ echo }, ctx) => {
    await ctx.mcpReq.notify({ method: 'notifications/message', params: { level: 'info', data: 'modern' } });
    return {
      content: [
        {
          type: 'text' as const,
          text: JSON.stringify({ era: 'modern', echo, sessionId: ctx.sessionId ?? null }),
        },
      ],
    };
  });
  return server;
}

async function endpoint(options: { maxBodyBytes?: number } = {}) {
  const store = new MemorySessionStore();
  const manager = new SessionManager({ store, timers: false, instanceId: 'a' });
  cleanups.push(() => manager.dispose());
  const v1 = await loadSdk('1.32.2');
  const sessions = serve(v1, manager, {
    eventStore: createEventStore(manager),
    logger: false,
    ...options,
  }).web;
  const stateless = createMcpHandler(statelessServer, { legacy: 'reject' });
  const dual = createDualEraHandler({ sessions, stateless });
  const http = await listen(createNodeSessionHandler(dual));
  cleanups.push(
    () => http.close(),
    () => dual.close(),
  );
  return { store, manager, dual, http, v1 };
}

async function modernClient(url: string) {
  const client = new ClientV2(
    { name: 'modern-agent', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  const notes: unknown[] = [];
  client.setNotificationHandler('notifications/message', (n) => {
    notes.push(n.params.data);
  });
  await client.connect(new TransportV2(new URL(url)));
  cleanups.push(() => client.close());
  return { client, notes };
}

describe('createDualEraHandler: one URL, both eras', () => {
  it('a 2025 client gets a session; a 2026-07-28 client is served statelessly on the same URL', async () => {
    const { store, http, v1 } = await endpoint();

    const legacy = await connectClient(v1, http.url);
    cleanups.push(() => legacy.client.close());
    expect(legacy.transport.sessionId).toBeDefined();
    await legacy.client.callTool({ name: 'remember', arguments: { key: 'k', value: 'v' } });
    expect(parseResult(await legacy.client.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe(
      'v',
    );

    const before = await store.list({
      statuses: ['active', 'disconnected', 'expired', 'closed'],
      limit: 100,
    });
    expect(before).toHaveLength(1);

    const modern = await modernClient(http.url);
    expect(modern.client.getProtocolEra()).toBe('modern');
    expect(modern.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const answer = parseResult(await modern.client.callTool({ name: 'era', arguments: { echo: 'hi' } }));
    expect(answer).toEqual({ era: 'modern', echo: 'hi', sessionId: null });
    expect(modern.notes).toEqual(['modern']);
    // The 2025 tools are not the modern leg's: each era sees its own server.
    const modernTools = (await modern.client.listTools()).tools.map((t) => t.name);
    expect(modernTools).toEqual(['era']);

    // The modern calls wrote nothing to the store; the 2025 session still works.
    const after = await store.list({ statuses: ['active', 'disconnected', 'expired', 'closed'], limit: 100 });
    expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
    expect(parseResult(await legacy.client.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe(
      'v',
    );
  });

  it('an SDK v2 client in its default (legacy) mode is a 2025 client: it gets a session', async () => {
    const { http, manager } = await endpoint();
    const v2 = await loadSdk('2.4.0');
    const c = await connectClient(v2, http.url);
    cleanups.push(() => c.client.close());
    const sessionId = c.transport.sessionId!;
    expect(await manager.getSession(sessionId)).toMatchObject({ status: 'active' });
    const info = parseResult(await c.client.callTool({ name: 'session_info', arguments: {} }));
    expect(info.sessionId).toBe(sessionId);
  });

  it('requests without an envelope claim go to the sessions (400 without a session id), GET and DELETE too', async () => {
    const { http } = await endpoint();
    const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    const post = await fetch(http.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(post.status).toBe(400);
    expect(await post.json()).toMatchObject({ error: { message: expect.stringMatching(/Mcp-Session-Id/) } });
    const get = await fetch(http.url, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(400);
    // A modern protocol-version header without the envelope: the modern leg's own answer.
    const modernish = await fetch(http.url, {
      method: 'POST',
      headers: { ...headers, 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(await modernish.text()).not.toMatch(/Mcp-Session-Id header is required/);
  });

  it("the session leg's body limits apply: a 3 MB initialize is 413 and stores nothing", async () => {
    const { store, http } = await endpoint({ maxBodyBytes: 64 * 1024 });
    const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    const initialize = (padding: number) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: { experimental: { padding: { text: 'x'.repeat(padding) } } },
          clientInfo: { name: 'big', version: '1' },
        },
      });
    const big = await fetch(http.url, { method: 'POST', headers, body: initialize(3 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { message: expect.stringMatching(/1048576 bytes/) } });
    expect(
      await store.list({ statuses: ['active', 'disconnected', 'expired', 'closed'], limit: 10 }),
    ).toEqual([]);

    const ok = await fetch(http.url, { method: 'POST', headers, body: initialize(10) });
    expect(ok.status).toBe(200);
    await ok.body?.cancel();
    const session = {
      ...headers,
      'mcp-session-id': ok.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-11-25',
    };
    const ping = JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'ping',
      params: { _meta: { pad: 'x'.repeat(100_000) } },
    });
    const over = await fetch(http.url, { method: 'POST', headers: session, body: ping });
    expect(over.status).toBe(413);
  });

  it('a store outage on the 2026-07-28 leg is a 503 with Retry-After and no driver text, as on the 2025 leg', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const store = new RedisSessionStore({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 });
    cleanups.push(() => store.close());
    const manager = new SessionManager({ store, timers: false, instanceId: 'a' });
    cleanups.push(() => manager.dispose());
    const server = () => {
      const s = new McpServerV2({ name: 'outage', version: '1.0.0' });
      const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: String(value) }] });
      s.registerTool('claim', { inputSchema: z.object({ key: z.string() }) }, async ({ key }) =>
        text(await manager.consumeOnce(key, { ttlMs: 60_000 })),
      );
      // An application that wraps the store's error in its own keeps it as the cause.
      s.registerTool('wrapped', { inputSchema: z.object({ key: z.string() }) }, async ({ key }) => {
        try {
          return text(await manager.consumeOnce(key, { ttlMs: 60_000 }));
        } catch (error) {
          throw new Error(`claim failed: ${(error as Error).message}`, { cause: error });
        }
      });
      return s;
    };
    const logged: { message: string; fields?: Record<string, unknown> }[] = [];
    const note = (message: string, fields?: Record<string, unknown>) => logged.push({ message, fields });
    const v1 = await loadSdk('1.32.2');
    const dual = createDualEraHandler({
      sessions: serve(v1, manager, { logger: false }).web,
      stateless: createMcpHandler(server, { legacy: 'reject' }),
      logger: { debug: note, info: note, warn: note, error: note },
    });
    const http = await listen(createNodeSessionHandler(dual));
    cleanups.push(
      () => http.close(),
      () => dual.close(),
    );
    const answers: { status: number; retryAfter: string | null; body: string }[] = [];
    const recording = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      const body = await res.clone().text();
      answers.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body });
      return res;
    };
    const client = new ClientV2(
      { name: 'modern-agent', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(new TransportV2(new URL(http.url), { fetch: recording }));
    cleanups.push(() => client.close());
    expect(await client.callTool({ name: 'claim', arguments: { key: 'k1' } })).toMatchObject({
      content: [{ text: 'true' }],
    });

    await redis.stop();
    for (const name of ['claim', 'wrapped']) {
      answers.length = 0;
      logged.length = 0;
      await expect(client.callTool({ name, arguments: { key: 'k2' } })).rejects.toThrow();
      const last = answers.at(-1)!;
      expect(last.status, name).toBe(503);
      expect(last.retryAfter).toBe('1');
      expect(JSON.parse(last.body)).toMatchObject({ error: { message: 'Session store unavailable' } });
      expect(answers.map((a) => a.body).join('\n')).not.toMatch(/ECONN|127\.0\.0\.1|redis|offline|closed/i);
      expect(logged.find((l) => l.message === 'session store unavailable')?.fields?.error).toBeInstanceOf(
        StoreUnavailableError,
      );
    }
  });

  it('refuses options that cannot work', () => {
    const sessions = Object.assign(async () => new Response(), {
      liveSessionIds: () => [],
      close: async () => {},
    });
    expect(() => createDualEraHandler({ sessions, stateless: {} as never })).toThrow(InvalidArgumentError);
    expect(() =>
      createDualEraHandler({ sessions, stateless: { fetch: async () => new Response() }, x: 1 } as never),
    ).toThrow(/x/);
  });
});
