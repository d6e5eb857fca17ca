/**
 * The idle suite's heap per held session (issue #21), alone, in plain JavaScript so that it can run
 * on the built packages: under tsx every package is compiled again with esbuild `keepNames`, which
 * adds a 256 B property array to each named arrow function (see results/idle.md).
 *
 * Built packages (`pnpm --filter @mcp-sessions/core --filter @mcp-sessions/sqlite build` first):
 *   node --expose-gc heap-per-session.mjs
 * Source (what `run.ts idle` measures):
 *   node --expose-gc --import tsx --conditions=@mcp-sessions/source heap-per-session.mjs
 * `MCP_SESSIONS_BENCH_IDLE_PER_MODE` (default 2,000) sets the sessions per mode; three rounds.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager } from '@mcp-sessions/core';
import { createEventStore, createSessionHandler } from '@mcp-sessions/core/http';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { z } from 'zod';

const PER_MODE = Number(process.env.MCP_SESSIONS_BENCH_IDLE_PER_MODE ?? 2000);
const ROUNDS = 3;
const PROTOCOL = '2025-11-25';
const URL_ = 'http://127.0.0.1/mcp';
const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

const gc = globalThis.gc;
if (!gc) throw new Error('run with node --expose-gc');
const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-heap-'));
const validator = new AjvJsonSchemaValidator();
const source = createRequire(import.meta.url)
  .resolve('@mcp-sessions/core')
  .endsWith('.ts');

function echoServer() {
  const server = new McpServer({ name: 'bench', version: '1.0.0' }, { jsonSchemaValidator: validator });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

function ours(eventStore) {
  const clock = {
    t: Date.now(),
    now() {
      return this.t;
    },
  };
  const store = new SqliteSessionStore({ filename: join(dir, `${randomUUID()}.db`), logger: false });
  const manager = new SessionManager({ store, clock, timers: false, logger: false });
  const handler = createSessionHandler({
    manager,
    createServer: () => echoServer(),
    eventStore: eventStore ? createEventStore(manager) : undefined,
    idleReleaseMs: Number.POSITIVE_INFINITY,
    logger: false,
  });
  return {
    handler,
    close: async () => {
      await handler.close();
      await manager.dispose();
      await store.close();
    },
  };
}

function sdkStateful() {
  const transports = new Map();
  const handler = async (request) => {
    const body = request.method === 'POST' ? await request.json() : undefined;
    const id = request.headers.get('mcp-session-id');
    let transport = id === null ? undefined : transports.get(id);
    if (!transport && id === null && isInitializeRequest(body)) {
      const created = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void transports.set(sid, created),
      });
      created.onclose = () => {
        if (created.sessionId) transports.delete(created.sessionId);
      };
      await echoServer().connect(created);
      transport = created;
    }
    if (!transport) return new Response(null, { status: 404 });
    return transport.handleRequest(request, { parsedBody: body });
  };
  return {
    handler,
    close: async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
      transports.clear();
    },
  };
}

function request(method, sessionId, body) {
  const headers =
    sessionId === undefined
      ? HEADERS
      : { ...HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL };
  return new Request(URL_, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** initialize, notifications/initialized, one tools/call; then the client goes away (as the idle suite). */
async function openSession(handler) {
  const init = await handler(
    request('POST', undefined, {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: PROTOCOL,
        capabilities: {},
        clientInfo: { name: 'bench', version: '1.0.0' },
      },
    }),
  );
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  if (!init.ok || sessionId === null) throw new Error(`initialize ${init.status}`);
  await (
    await handler(request('POST', sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' }))
  ).text();
  const call = await handler(
    request('POST', sessionId, {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'hi' } },
    }),
  );
  const text = await call.text();
  if (!call.ok || !text.includes('"text":"hi"')) throw new Error(`tools/call ${call.status}`);
}

async function heapUsed() {
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const modes = [
  ['sdk stateful (baseline)', sdkStateful],
  ['ours, sqlite + durable event store', () => ours(true)],
  ['ours, sqlite, no event store', () => ours(false)],
];
const figures = modes.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, make]] of modes.entries()) {
    const mode = make();
    await openSession(mode.handler);
    const before = await heapUsed();
    for (let n = 0; n < PER_MODE; n++) await openSession(mode.handler);
    const after = await heapUsed();
    await mode.close();
    figures[i].push((after - before) / PER_MODE);
  }
}
const kib = (bytes) => `${(bytes / 1024).toFixed(2)} KiB`;
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
console.log(`heap per held session, ${source ? 'source (tsx)' : 'built packages'}, ${PER_MODE} per mode`);
const base = median(figures[0]);
for (const [i, [name]] of modes.entries()) {
  const ratios = figures[i].map((f, r) => (f / figures[0][r]).toFixed(2)).join(', ');
  console.log(
    `${name}: median ${kib(median(figures[i]))} (rounds ${figures[i].map(kib).join(', ')}), ${(median(figures[i]) / base).toFixed(2)}x; per round ${ratios}`,
  );
}
rmSync(dir, { recursive: true, force: true });
