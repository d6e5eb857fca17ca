/**
 * Every MCP feature on two instances as on one: two handlers over one store and one live bus,
 * behind a round-robin proxy, with the official SDK client (1.32.2 and 1.25.2). A client's answer
 * lands on the other instance than the one that asked; a cancellation on the other instance than
 * the one running the request; standalone messages are sent where the GET stream is not held.
 * Cross-process buses (SQLite, Redis, Postgres) are proven by the same scenarios in
 * examples/server with real processes; here the in-process bus isolates the handler's routing.
 */
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createEventStore, createNodeSessionHandler, type SessionContext } from '../src/http/index';
import { SessionManager, type SessionStore } from '../src/index';
import { listen, type RunningHttp, SDK_VERSIONS, type SdkVersion } from './fixtures/http-app';
import { startProxy } from './fixtures/http-proxy';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

type Types = typeof import('@modelcontextprotocol/sdk/types.js');
type Mcp = typeof import('@modelcontextprotocol/sdk/server/mcp.js');
type ClientModule = typeof import('@modelcontextprotocol/sdk/client/index.js');
type ClientHttp = typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js');
type ServerHttp = typeof import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js');

interface Sdk {
  types: Types;
  mcp: Mcp;
  client: ClientModule;
  clientHttp: ClientHttp;
  serverHttp: ServerHttp;
}

async function load(version: SdkVersion): Promise<Sdk> {
  if (version === '1.32.2') {
    return {
      types: await import('@modelcontextprotocol/sdk/types.js'),
      mcp: await import('@modelcontextprotocol/sdk/server/mcp.js'),
      client: await import('@modelcontextprotocol/sdk/client/index.js'),
      clientHttp: await import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
      serverHttp: await import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
    };
  }
  return {
    types: (await import('mcp-sdk-1-25/types.js')) as unknown as Types,
    mcp: (await import('mcp-sdk-1-25/server/mcp.js')) as unknown as Mcp,
    client: (await import('mcp-sdk-1-25/client/index.js')) as unknown as ClientModule,
    clientHttp: (await import('mcp-sdk-1-25/client/streamableHttp.js')) as unknown as ClientHttp,
    serverHttp: (await import('mcp-sdk-1-25/server/webStandardStreamableHttp.js')) as unknown as ServerHttp,
  };
}

describe.each(SDK_VERSIONS)('live bus, two instances behind a round-robin proxy, SDK %s', (version) => {
  let sdk: Sdk;
  const cleanups: (() => Promise<unknown>)[] = [];
  /** Requests whose abort signal fired, by instance. */
  const aborted: string[] = [];

  beforeAll(async () => {
    sdk = await load(version);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    aborted.length = 0;
  });

  function appServer(manager: SessionManager, ctx: SessionContext) {
    const server = new sdk.mcp.McpServer(
      { name: 'bus-test', version: '1.0.0' },
      { capabilities: { logging: {} } },
    );
    const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });
    const low = server.server;
    server.registerTool('elicit', {}, async (extra) => {
      const result = await low.elicitInput(
        {
          message: 'name?',
          requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
        },
        { relatedRequestId: extra.requestId },
      );
      return text({ instance: manager.instanceId, action: result.action, content: result.content });
    });
    server.registerTool('sample', {}, async (extra) => {
      const result = await low.createMessage(
        { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 5 },
        { relatedRequestId: extra.requestId },
      );
      return text({ instance: manager.instanceId, answer: (result.content as { text: string }).text });
    });
    server.registerTool(
      'roots',
      { inputSchema: { standalone: z.boolean() } },
      async ({ standalone }, extra) => {
        const options = standalone ? {} : { relatedRequestId: extra.requestId };
        const result = await low.listRoots(undefined, options);
        return text({ instance: manager.instanceId, roots: result.roots.map((r) => r.uri) });
      },
    );
    server.registerTool('ping_client', {}, async (extra) => {
      await low.request({ method: 'ping' }, sdk.types.EmptyResultSchema, {
        relatedRequestId: extra.requestId,
      });
      return text({ instance: manager.instanceId, pinged: true });
    });
    server.registerTool('wait', {}, async (extra) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        extra.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          aborted.push(manager.instanceId);
          resolve();
        });
      });
      return text({ instance: manager.instanceId });
    });
    server.registerTool('broadcast', { inputSchema: { n: z.number() } }, async ({ n }) => {
      // Not tied to the request: the standalone (GET) stream, wherever the client holds it.
      await low.notification({ method: 'notifications/message', params: { level: 'info', data: n } });
      return text({ instance: manager.instanceId });
    });
    void ctx;
    return server;
  }

  async function twoInstances(store: SessionStore = new MemorySessionStore()) {
    const bus = new MemorySessionBus();
    const nodes: { manager: SessionManager; http: RunningHttp }[] = [];
    for (const id of ['A', 'B']) {
      const manager = new SessionManager({ store, timers: false, instanceId: id });
      const handler = createNodeSessionHandler({
        manager,
        bus,
        eventStore: createEventStore(manager),
        createServer: (ctx) => appServer(manager, ctx),
        transportClass: sdk.serverHttp.WebStandardStreamableHTTPServerTransport,
        logger: false,
      });
      const http = await listen(handler);
      cleanups.push(
        () => manager.dispose(),
        () => handler.close(),
        () => http.close(),
      );
      nodes.push({ manager, http });
    }
    const proxy = await startProxy(
      nodes.map((n) => n.http.port),
      {
        cutSseAfterEvents: 3,
        cutWhen: (body) => body === '',
      },
    );
    cleanups.push(() => proxy.close());
    return { proxy, store };
  }

  async function connect(url: string) {
    const client = new sdk.client.Client(
      { name: 'bus-agent', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
    );
    const notifications: unknown[] = [];
    client.setNotificationHandler(sdk.types.LoggingMessageNotificationSchema, (n) => {
      notifications.push(n.params.data);
    });
    client.setRequestHandler(sdk.types.ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: 'Ada' },
    }));
    client.setRequestHandler(sdk.types.CreateMessageRequestSchema, async () => ({
      role: 'assistant',
      model: 'test',
      content: { type: 'text', text: 'sampled' },
    }));
    client.setRequestHandler(sdk.types.ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///work', name: 'work' }],
    }));
    const transport = new sdk.clientHttp.StreamableHTTPClientTransport(new URL(url), {
      reconnectionOptions: {
        initialReconnectionDelay: 20,
        maxReconnectionDelay: 100,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 20,
      },
    });
    await client.connect(transport);
    cleanups.push(() => client.close());
    return { client, transport, notifications };
  }

  const json = (result: unknown) =>
    JSON.parse((result as { content: { text: string }[] }).content[0]!.text) as Record<string, unknown>;

  it('elicitation, sampling, roots and ping: every answer reaches the instance that asked', async () => {
    const { proxy } = await twoInstances();
    const { client } = await connect(proxy.url);
    const served = new Set<unknown>();
    for (let round = 0; round < 4; round++) {
      const elicited = json(await client.callTool({ name: 'elicit', arguments: {} }));
      expect(elicited).toMatchObject({ action: 'accept', content: { name: 'Ada' } });
      const sampled = json(await client.callTool({ name: 'sample', arguments: {} }));
      expect(sampled.answer).toBe('sampled');
      const roots = json(await client.callTool({ name: 'roots', arguments: { standalone: false } }));
      expect(roots.roots).toEqual(['file:///work']);
      const pinged = json(await client.callTool({ name: 'ping_client', arguments: {} }));
      expect(pinged.pinged).toBe(true);
      for (const r of [elicited, sampled, roots, pinged]) served.add(r.instance);
      await client.ping(); // shifts the round robin: the next round asks from the other instance
    }
    expect([...served].sort()).toEqual(['A', 'B']);
  });

  it('a server request on the standalone stream is answered through whichever instance', async () => {
    const { proxy } = await twoInstances();
    const { client } = await connect(proxy.url);
    const served = new Set<unknown>();
    for (let round = 0; round < 4; round++) {
      const roots = json(await client.callTool({ name: 'roots', arguments: { standalone: true } }));
      expect(roots.roots).toEqual(['file:///work']);
      served.add(roots.instance);
      await client.ping();
    }
    expect([...served].sort()).toEqual(['A', 'B']);
  });

  it('a cancellation posted to the other instance aborts the request where it runs', async () => {
    const { proxy } = await twoInstances();
    const { client } = await connect(proxy.url);
    for (let round = 0; round < 2; round++) {
      const controller = new AbortController();
      const call = client.callTool({ name: 'wait', arguments: {} }, undefined, { signal: controller.signal });
      await vi.waitFor(() => expect(proxy.routed().length).toBeGreaterThan(0));
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort('changed my mind');
      await expect(call).rejects.toThrow();
      await vi.waitFor(() => expect(aborted).toHaveLength(round + 1), { timeout: 10_000 });
    }
  });

  it('standalone notifications from either instance reach the GET stream once, in order, across a moved stream', async () => {
    const { proxy } = await twoInstances();
    const { client, notifications } = await connect(proxy.url);
    const senders = new Set<unknown>();
    // The proxy cuts the GET stream after 3 events: the client resumes it with Last-Event-ID on
    // the other instance, mid-flow.
    for (let n = 1; n <= 12; n++) {
      senders.add(json(await client.callTool({ name: 'broadcast', arguments: { n } })).instance);
    }
    await vi.waitFor(() => expect(notifications).toHaveLength(12), { timeout: 10_000 });
    expect(notifications).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect([...senders].sort()).toEqual(['A', 'B']);
    expect(proxy.cuts()).toBe(1);
  });

  it("one session's routed messages never reach another session", async () => {
    const { proxy } = await twoInstances();
    const one = await connect(proxy.url);
    const two = await connect(proxy.url);
    for (let n = 1; n <= 6; n++) {
      await one.client.callTool({ name: 'broadcast', arguments: { n } });
      expect(json(await two.client.callTool({ name: 'elicit', arguments: {} })).content).toEqual({
        name: 'Ada',
      });
    }
    await vi.waitFor(() => expect(one.notifications).toHaveLength(6));
    expect(two.notifications).toEqual([]);
  });
});
