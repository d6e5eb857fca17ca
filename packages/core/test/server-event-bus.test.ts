/**
 * `SharedServerEventBus`: SDK v2's `ServerEventBus` over our live bus. Two instances (two event
 * buses, each over its own `SessionBus` object on one backend, except memory, whose bus is one
 * in-process object): a publish on one reaches listeners on the other. Redis and Postgres come
 * from the root global setup and skip loudly without it. No sleeps: each wait is a promise a
 * listener resolves.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, InvalidValueError, type SessionBus } from '@mcp-sessions/core';
import {
  createNodeSessionHandler,
  DEFAULT_SERVER_EVENT_CHANNEL,
  type ServerEventLike,
  SharedServerEventBus,
} from '@mcp-sessions/core/http';
import { MemorySessionBus } from '@mcp-sessions/memory';
import { PostgresSessionBus } from '@mcp-sessions/postgres';
import { RedisSessionBus } from '@mcp-sessions/redis';
import { SqliteSessionBus } from '@mcp-sessions/sqlite';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  createMcpHandler,
  McpServer,
  type ServerEvent,
  type ServerEventBus,
} from '@modelcontextprotocol/server';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { listen } from './fixtures/http-app';

const redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
const postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
const sqliteDir = mkdtempSync(join(tmpdir(), 'mcp-sessions-events-'));
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));

interface Backend {
  name: string;
  skip: string | undefined;
  /** A function opening one more bus object on one fresh backend namespace. */
  namespace(): () => SessionBus;
}

const backends: Backend[] = [
  {
    name: 'memory',
    skip: undefined,
    namespace: () => {
      const shared = new MemorySessionBus({ logger: false });
      return () => shared;
    },
  },
  {
    name: 'sqlite',
    skip: undefined,
    namespace: () => {
      const filename = join(sqliteDir, `${randomBytes(4).toString('hex')}.db`);
      return () => new SqliteSessionBus({ filename, pollIntervalMs: 5, logger: false });
    },
  },
  {
    name: 'redis',
    skip: redisUrl ? undefined : 'MCP_SESSIONS_TEST_REDIS_URL is not set (no redis-server)',
    namespace: () => {
      const prefix = `e${randomBytes(4).toString('hex')}:`;
      return () => new RedisSessionBus({ url: redisUrl!, prefix, logger: false });
    },
  },
  {
    name: 'postgres',
    skip: postgresUrl ? undefined : 'MCP_SESSIONS_TEST_POSTGRES_URL is not set (no Postgres)',
    namespace: () => () => new PostgresSessionBus({ connectionString: postgresUrl!, logger: false }),
  },
];

for (const backend of backends) {
  if (backend.skip) console.warn(`!!! server-event-bus.test.ts: ${backend.name} skipped: ${backend.skip}`);
}

const toClose: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  // Event buses first (they unsubscribe), then the session buses beneath them.
  for (const item of toClose.splice(0)) await item.close();
});

/** Two instances on one backend, started; each its own channel so parallel runs never cross. */
async function twoInstances(backend: Backend, errors: Error[] = []) {
  const open = backend.namespace();
  const channel = `events-${randomBytes(6).toString('hex')}`;
  const busA = open();
  const busB = open();
  const a = new SharedServerEventBus({ bus: busA, channel, onError: (e) => errors.push(e) });
  const b = new SharedServerEventBus({ bus: busB, channel, onError: (e) => errors.push(e) });
  toClose.push(a, b, ...new Set([busA, busB]));
  await Promise.all([a.start(), b.start()]);
  return { a, b, busA, channel };
}

/** A listener that records events and lets a test wait for the n-th. */
function collector() {
  const events: ServerEvent[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const listener = (event: ServerEvent) => {
    events.push(event);
    for (const w of waiters.filter((w) => events.length >= w.n)) w.resolve();
  };
  const count = (n: number) =>
    new Promise<ServerEvent[]>((resolve) => {
      if (events.length >= n) resolve(events);
      else waiters.push({ n, resolve: () => resolve(events) });
    });
  return { events, listener, count };
}

describe('SharedServerEventBus types', () => {
  it('is an SDK v2 ServerEventBus, and its event type is the SDK’s ServerEvent', () => {
    const bus = new SharedServerEventBus({ bus: new MemorySessionBus({ logger: false }) });
    toClose.push(bus);
    // Compile-time checks against the installed SDK (tsc runs over tests); the rest at run time.
    const sdk: ServerEventBus = bus;
    const fromSdk: ServerEventLike = { kind: 'resource_updated', uri: 'x://y' } satisfies ServerEvent;
    const toSdk: ServerEvent = fromSdk;
    expect(typeof sdk.publish).toBe('function');
    expect(toSdk.kind).toBe('resource_updated');
    expect(bus.channel).toBe(DEFAULT_SERVER_EVENT_CHANNEL);
  });
});

describe.each(backends)('SharedServerEventBus on $name', (backend) => {
  it.skipIf(backend.skip !== undefined)(
    'a change published on one instance reaches listeners on both, in publish order',
    async () => {
      const errors: Error[] = [];
      const { a, b } = await twoInstances(backend, errors);
      const onB = collector();
      const onA = collector();
      b.subscribe(onB.listener);
      a.subscribe(onA.listener);
      const updated: ServerEvent = { kind: 'resource_updated', uri: 'notebook://h1', params: { note: 'x' } };
      a.publish(updated);
      await a.send({ kind: 'tools_list_changed' });
      expect(await onB.count(2)).toEqual([updated, { kind: 'tools_list_changed' }]);
      expect(await onA.count(2)).toEqual([updated, { kind: 'tools_list_changed' }]);
      // And the other way.
      b.publish({ kind: 'prompts_list_changed' });
      expect((await onA.count(3))[2]).toEqual({ kind: 'prompts_list_changed' });
      expect(errors).toEqual([]);
    },
  );

  it.skipIf(backend.skip !== undefined)(
    'unsubscribe stops delivery to that listener only; a throwing listener goes to onError and stops no one',
    async () => {
      const errors: Error[] = [];
      const { a, b } = await twoInstances(backend, errors);
      const gone = collector();
      const stays = collector();
      const unsubscribe = b.subscribe(gone.listener);
      b.subscribe(() => {
        throw new Error('listener failed');
      });
      b.subscribe(stays.listener);
      expect(b.listenerCount).toBe(3);
      a.publish({ kind: 'resources_list_changed' });
      await stays.count(1);
      unsubscribe();
      unsubscribe();
      expect(b.listenerCount).toBe(2);
      a.publish({ kind: 'tools_list_changed' });
      await stays.count(2);
      expect(gone.events).toEqual([{ kind: 'resources_list_changed' }]);
      expect(errors.map((e) => e.message)).toEqual(['listener failed', 'listener failed']);
    },
  );
});

describe('SharedServerEventBus input', () => {
  it('refuses malformed events and options before any I/O', () => {
    const bus = new SharedServerEventBus({ bus: new MemorySessionBus({ logger: false }) });
    toClose.push(bus);
    const bad = [
      { kind: 'resource_updated' },
      { kind: 'nope' },
      { kind: 'tools_list_changed', params: [] },
      null,
    ] as unknown as ServerEventLike[];
    for (const event of bad) expect(() => bus.publish(event)).toThrow(InvalidArgumentError);
    expect(() => bus.publish({ kind: 'tools_list_changed', params: { n: 1n } })).toThrow(InvalidValueError);
    expect(() => new SharedServerEventBus({ bus: {} as SessionBus })).toThrow(InvalidArgumentError);
    expect(
      () => new SharedServerEventBus({ bus: new MemorySessionBus({ logger: false }), channel: 'has space' }),
    ).toThrow(InvalidArgumentError);
    expect(() => bus.subscribe('x' as unknown as () => void)).toThrow(InvalidArgumentError);
  });

  it('drops a received message that is not a ServerEvent, telling onError', async () => {
    const errors: Error[] = [];
    const { b, busA, channel } = await twoInstances(backends[0]!, errors);
    const seen = collector();
    b.subscribe(seen.listener);
    await busA.publish(channel, { kind: 'resource_updated' });
    await busA.publish(channel, { kind: 'tools_list_changed' });
    expect(await seen.count(1)).toEqual([{ kind: 'tools_list_changed' }]);
    // Both instances received it (one shared in-process bus), each told its onError.
    expect(errors).toHaveLength(2);
    for (const error of errors) expect(error).toBeInstanceOf(InvalidValueError);
  });

  it('after close, listeners get nothing and subscribe is refused', async () => {
    const errors: Error[] = [];
    const { a, b } = await twoInstances(backends[0]!, errors);
    const closedOne = collector();
    const open = collector();
    a.subscribe(closedOne.listener);
    b.subscribe(open.listener);
    await a.close();
    expect(() => a.subscribe(() => {})).toThrow(InvalidArgumentError);
    b.publish({ kind: 'tools_list_changed' });
    await open.count(1);
    expect(closedOne.events).toEqual([]);
  });
});

describe('SharedServerEventBus behind SDK v2 createMcpHandler', () => {
  it('a subscriptions/listen client on instance A is told of a change a tool published on instance B (SQLite)', async () => {
    const filename = join(sqliteDir, `${randomBytes(4).toString('hex')}.db`);
    const channel = `sdk-${randomBytes(4).toString('hex')}`;

    async function instance() {
      const bus = new SqliteSessionBus({ filename, pollIntervalMs: 5, logger: false });
      const events = new SharedServerEventBus({ bus, channel });
      await events.start();
      const handler = createMcpHandler(
        () => {
          const server = new McpServer(
            { name: 'events', version: '1.0.0' },
            { capabilities: { resources: { subscribe: true } } },
          );
          server.registerTool('touch', { description: 'publishes a change' }, async () => {
            await events.send({ kind: 'resource_updated', uri: 'notebook://n1' });
            return { content: [{ type: 'text' as const, text: 'ok' }] };
          });
          return server;
        },
        { legacy: 'reject', bus: events },
      );
      const web = Object.assign((request: Request) => handler.fetch(request), {
        liveSessionIds: () => [],
        close: async () => handler.close(),
      });
      const http = await listen(createNodeSessionHandler(web));
      toClose.push({ close: () => http.close() }, { close: async () => handler.close() }, events, bus);
      return http;
    }

    async function client(url: string) {
      const c = new Client(
        { name: 'listener', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      await c.connect(new StreamableHTTPClientTransport(new URL(url)));
      toClose.push({ close: () => c.close() });
      return c;
    }

    const a = await instance();
    const b = await instance();
    const listener = await client(a.url);
    const told = new Promise<string>((resolve) => {
      listener.setNotificationHandler('notifications/resources/updated', (n) => resolve(n.params.uri));
    });
    const subscription = await listener.listen({ resourceSubscriptions: ['notebook://n1'] });
    toClose.push({ close: () => subscription.close() });

    const caller = await client(b.url);
    await caller.callTool({ name: 'touch', arguments: {} });
    expect(await told).toBe('notebook://n1');
  });
});
