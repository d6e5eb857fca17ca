/**
 * Every MCP feature on two instances as on one: two handlers over one store and one live bus,
 * behind a round-robin proxy, with the official SDK client (1.32.2, 1.25.2 and 2.4.0). A client's answer
 * lands on the other instance than the one that asked; a cancellation on the other instance than
 * the one running the request; standalone messages are sent where the GET stream is not held.
 * Cross-process buses (SQLite, Redis, Postgres) are proven by the same scenarios in
 * examples/server with real processes; here the in-process bus isolates the handler's routing.
 */
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { createEventStore, createNodeSessionHandler } from '../src/http/index';
import { SessionManager, type SessionStore } from '../src/index';
import { type BusSdk, busAppServer, connectBusClient, loadBusSdk } from './fixtures/bus-app';
import { listen, type RunningHttp, SDK_VERSIONS } from './fixtures/http-app';
import { startProxy } from './fixtures/http-proxy';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

describe.each(SDK_VERSIONS)('live bus, two instances behind a round-robin proxy, SDK %s', (version) => {
  let sdk: BusSdk;
  const cleanups: (() => Promise<unknown>)[] = [];
  /** Requests whose abort signal fired, by instance. */
  const aborted: string[] = [];
  /** What the instances published on the bus for each other, by kind. */
  const routed: string[] = [];

  beforeAll(async () => {
    sdk = await loadBusSdk(version);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    aborted.length = 0;
    routed.length = 0;
  });

  async function twoInstances(
    store: SessionStore = new MemorySessionStore(),
    extra: { revalidate?: 'request' | 'heartbeat' } = {},
  ) {
    const bus = new MemorySessionBus();
    const nodes: { manager: SessionManager; http: RunningHttp }[] = [];
    for (const id of ['A', 'B']) {
      const manager = new SessionManager({ store, timers: false, instanceId: id });
      const handler = createNodeSessionHandler({
        manager,
        bus,
        eventStore: createEventStore(manager),
        createServer: () => busAppServer(sdk, manager, (id) => aborted.push(id)),
        transportClass: sdk.serverHttp.WebStandardStreamableHTTPServerTransport,
        logger: false,
        observer: { routed: (kind) => routed.push(kind) },
        ...extra,
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
    const connected = await connectBusClient(sdk, url);
    cleanups.push(() => connected.client.close());
    return connected;
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

  it("the client's progress on a server request reaches the instance that asked, wherever it is posted", async () => {
    const { proxy } = await twoInstances();
    const { client } = await connect(proxy.url);
    const served = new Set<unknown>();
    for (let round = 0; round < 4; round++) {
      const sampled = json(await client.callTool({ name: 'sample_with_progress', arguments: {} }));
      expect(sampled).toMatchObject({ answer: 'sampled', progress: [1, 2, 3] });
      // Five POSTs a round, alternating: the call, progress 1 (other instance), 2 (the asker), 3
      // (other), then the answer on the asker itself, behind progress still on the bus. The next
      // round's call lands on the other instance.
      served.add(sampled.instance);
    }
    expect([...served].sort()).toEqual(['A', 'B']);
    expect(routed.filter((kind) => kind === 'progress').length).toBeGreaterThanOrEqual(4);
  });

  it('progress on a server request, on one instance without a bus, arrives as it comes', async () => {
    const manager = new SessionManager({
      store: new MemorySessionStore(),
      timers: false,
      instanceId: 'solo',
    });
    const handler = createNodeSessionHandler({
      manager,
      eventStore: createEventStore(manager),
      createServer: () => busAppServer(sdk, manager, () => undefined),
      transportClass: sdk.serverHttp.WebStandardStreamableHTTPServerTransport,
      logger: false,
    });
    const http = await listen(handler);
    cleanups.push(
      () => manager.dispose(),
      () => handler.close(),
      () => http.close(),
    );
    const { client } = await connect(http.url);
    for (let round = 0; round < 2; round++) {
      const sampled = json(await client.callTool({ name: 'sample_with_progress', arguments: {} }));
      expect(sampled).toMatchObject({ instance: 'solo', answer: 'sampled', progress: [1, 2, 3] });
    }
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
      const params = { name: 'wait', arguments: {} };
      // v1: callTool(params, resultSchema, options); v2: callTool(params, options).
      const call =
        sdk.line === 2
          ? client.callTool(params, { signal: controller.signal } as never)
          : client.callTool(params, undefined, { signal: controller.signal });
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

  it('a DELETE on one instance reaches the other at once, even when it does not read the record per request', async () => {
    const { proxy } = await twoInstances(undefined, { revalidate: 'heartbeat' });
    const { client, transport } = await connect(proxy.url);
    await client.callTool({ name: 'broadcast', arguments: { n: 1 } });
    await client.callTool({ name: 'broadcast', arguments: { n: 2 } }); // both instances hold it now
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    for (let i = 0; i < 2; i++) {
      await vi.waitFor(async () => {
        const res = await fetch(proxy.url, {
          method: 'POST',
          headers: {
            accept: 'application/json, text/event-stream',
            'content-type': 'application/json',
            'mcp-session-id': sessionId,
            'mcp-protocol-version': '2025-06-18',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
        });
        await res.body?.cancel();
        expect(res.status).toBe(404);
      });
    }
  });
});
