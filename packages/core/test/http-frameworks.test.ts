/**
 * The same handler mounted the three ways the README shows: Express (with a pre-parsed body),
 * and the web-standard function called directly (as Hono or a Worker would), with the official
 * SDK client over it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemorySessionStore } from '@mcp-sessions/memory';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { createNodeSessionHandler, createSessionHandler } from '../src/http/index';
import { SessionManager } from '../src/index';
import { appServerFactory, connectClient, loadSdk, parseResult } from './fixtures/http-app';

// Real processes and sockets on a shared 2-core machine: generous, never a speed assertion.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('mounting the handler', () => {
  it('Express with express.json(): the parsed body is used, sessions work and recover', async () => {
    const sdk = await loadSdk('1.32.2');
    const store = new MemorySessionStore();
    const start = async (instanceId: string) => {
      const manager = new SessionManager({ store, timers: false, instanceId });
      const handler = createNodeSessionHandler({ manager, createServer: appServerFactory(sdk, manager) });
      const app = express();
      app.all('/mcp', express.json(), (req, res) => {
        res.shouldKeepAlive = false;
        void handler(req, res, req.body);
      });
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      const close = () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        });
      cleanups.push(close, () => manager.dispose());
      return { handler, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, close };
    };
    const one = await start('one');
    const { client } = await connectClient(sdk, one.url);
    cleanups.push(() => client.close());
    await client.callTool({ name: 'remember', arguments: { key: 'k', value: 'express' } });
    await one.handler.close();
    const two = await start('two');
    // A client that remembers the session id (the SDK skips initialize when given one).
    const sessionId = (await store.list({ statuses: ['active'], limit: 1 }))[0]!.id;
    const { client: again, transport } = await connectClient(sdk, two.url, { sessionId });
    cleanups.push(() => again.close());
    expect(parseResult(await again.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe(
      'express',
    );
    expect(transport.sessionId).toBe(sessionId);
    // Handed off by the first instance's close(): attached, not counted.
    expect((await store.get(sessionId))?.recoveryAttempts).toBe(0);
  });

  it('web-standard: the SDK client with a fetch that calls the handler directly', async () => {
    const sdk = await loadSdk('1.32.2');
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false });
    cleanups.push(() => manager.dispose());
    const handler = createSessionHandler({ manager, createServer: appServerFactory(sdk, manager) });
    cleanups.push(() => handler.close());
    const client = new sdk.Client({ name: 'web', version: '1' });
    const transport = new sdk.StreamableHTTPClientTransport(new URL('http://web.invalid/mcp'), {
      fetch: (input, init) => handler(new Request(input, init)),
    });
    await client.connect(transport);
    cleanups.push(() => client.close());
    await client.callTool({ name: 'remember', arguments: { key: 'k', value: 'web' } });
    expect(parseResult(await client.callTool({ name: 'recall', arguments: { key: 'k' } })).value).toBe('web');
    expect(handler.liveSessionIds()).toEqual([transport.sessionId]);
    await transport.terminateSession();
    expect(handler.liveSessionIds()).toEqual([]);
    expect((await manager.getSession(transport.sessionId ?? 'x'))?.status ?? 'closed').toBe('closed');
  });
});
