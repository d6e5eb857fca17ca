/**
 * The hot path over real HTTP on loopback with the official SDK client (1.32.2, protocol
 * 2025-11-25): one `tools/call` round trip per call, the modes interleaved, against the SDK's own
 * stateful in-memory mode measured in the same run (the baseline):
 * - the SDK's modes: stateful with its example in-memory event store (resumable), stateless;
 * - this project: memory store (with and without the durable event store); SQLite without and
 *   with the durable event store (resumable); every request on an instance that does not hold
 *   the session (attach + rebuild), over SQLite.
 * Goals (issue #16): resumable SQLite <= 1.1x, memory <= 1.05x, a request on a fresh instance
 * <= 1.5x a live one. A row with `revalidate: 'heartbeat'` shows what the default per-request
 * record read costs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager } from '@mcp-sessions/core';
import { createEventStore, createNodeSessionHandler, type NodeSessionHandler } from '@mcp-sessions/core/http';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { z } from 'zod';
import { type BenchCase, type BenchGroup, type BenchSuite, listenHttp } from '../harness';

/** Calls per mode, the modes interleaved in blocks (see `runGroup`), as the issue measured them. */
const CALLS = 1000;
const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-hotpath-'));
const closers: (() => Promise<unknown>)[] = [];
const validator = new AjvJsonSchemaValidator();

/** The same server in every mode: one `echo` tool. */
function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench', version: '1.0.0' }, { jsonSchemaValidator: validator });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function listen(listener: Listener): Promise<string> {
  return listenHttp(listener, closers);
}

/** The SDK's documented stateful pattern: a transport per session, kept in a Map. */
function sdkStateful(resumable: boolean): Listener {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  return (req, res) => {
    void (async () => {
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? transports.get(id) : undefined;
      if (!transport && isInitializeRequest(body)) {
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          eventStore: resumable ? new InMemoryEventStore() : undefined,
          onsessioninitialized: (sid) => void transports.set(sid, created),
        });
        await echoServer().connect(created);
        transport = created;
      }
      if (!transport) return void res.writeHead(404).end();
      await transport.handleRequest(req, res, body);
    })();
  };
}

/** The SDK's stateless pattern: a server and transport per request. */
function sdkStateless(): Listener {
  return (req, res) => {
    void (async () => {
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const body = await readJson(req);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const server = echoServer();
      res.on('close', () => void server.close());
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    })();
  };
}

function ours(
  store: SqliteSessionStore | MemorySessionStore,
  resumable: boolean,
  id = 'bench',
  revalidate: 'request' | 'heartbeat' = 'request',
): NodeSessionHandler {
  const manager = new SessionManager({ store, timers: false, instanceId: id, logger: false });
  closers.push(() => manager.dispose());
  return createNodeSessionHandler({
    manager,
    createServer: () => echoServer(),
    eventStore: resumable ? createEventStore(manager) : undefined,
    revalidate,
    logger: false,
  });
}

/**
 * Every request on an instance that has never served the session: a new manager and handler per
 * request over the same SQLite file, as behind a balancer whose instances keep changing.
 */
function freshInstances(store: SqliteSessionStore): Listener {
  let n = 0;
  return (req, res) => void ours(store, true, `fresh-${n++}`)(req, res);
}

async function client(url: string): Promise<BenchCase['fn']> {
  const c = new Client({ name: 'bench-client', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  closers.push(() => c.close());
  return async () => {
    const result = await c.callTool({ name: 'echo', arguments: { text: 'hi' } });
    if ((result.content as { text: string }[])[0]?.text !== 'hi') throw new Error('bad echo');
  };
}

const suite: BenchSuite = {
  name: 'hotpath',
  async groups(): Promise<BenchGroup[]> {
    const sqlite = new SqliteSessionStore({ filename: join(dir, 'hot.db') });
    const sqliteFresh = new SqliteSessionStore({ filename: join(dir, 'fresh.db') });
    const memory = new MemorySessionStore();
    closers.push(
      () => sqlite.close(),
      () => sqliteFresh.close(),
    );
    const baseline = { name: 'sdk stateful, in memory', fn: await client(await listen(sdkStateful(false))) };
    const live = { name: 'sqlite + durable event store', fn: await client(await listen(ours(sqlite, true))) };
    return [
      {
        name: 'tools/call over HTTP',
        baseline,
        iterations: CALLS,
        goal: 'sqlite resumable <= 1.1; memory <= 1.05',
        subjects: [
          // As SDK users run it (McpServer, the Node transport, the docs' example store). Its extra
          // ~1 ms is @hono/node-server's timer wait after the priming event, not the event store:
          // RESULTS.md, "The SDK's resumable row"; probes/sdk-resumable-edge.ts shows it.
          { name: 'sdk stateful + in-memory event store', fn: await client(await listen(sdkStateful(true))) },
          { name: 'sdk stateless', fn: await client(await listen(sdkStateless())) },
          { name: 'memory store', fn: await client(await listen(ours(memory, false))) },
          { name: 'memory store + durable event store', fn: await client(await listen(ours(memory, true))) },
          { name: 'sqlite, no event store', fn: await client(await listen(ours(sqlite, false, 'bench-ne'))) },
          live,
          // What the record read per request (revalidate: 'request', the default) costs.
          {
            name: "sqlite + durable event store, revalidate: 'heartbeat'",
            fn: await client(await listen(ours(sqlite, true, 'bench-hb', 'heartbeat'))),
          },
        ],
      },
      {
        name: 'tools/call on an instance that does not hold the session',
        baseline: live,
        goal: '<= 1.5',
        iterations: CALLS,
        subjects: [
          { name: 'sqlite, attach + rebuild', fn: await client(await listen(freshInstances(sqliteFresh))) },
        ],
      },
    ];
  },
  async teardown() {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => resolve(text ? JSON.parse(text) : undefined));
    req.on('error', reject);
  });
}
