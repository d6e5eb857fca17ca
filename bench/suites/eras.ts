/**
 * Both protocol eras on one endpoint (issue #14), over real HTTP on loopback with the official
 * clients, the example's servers built in-process on one SQLite file:
 * - a 2026-07-28 `tools/call` (SDK v2 client, pinned) of the example's `recall` with a notebook
 *   handle through the dual-era endpoint, against SDK v2's own stateless `createMcpHandler`
 *   serving a `recall` that reads nothing (goal <= 1.2x); a middle row serves the example's real
 *   `recall` from `createMcpHandler` directly, to split the router's cost from the store read's;
 * - a 2025 `tools/call` (SDK v1 client, a session) of `recall` through the dual-era endpoint,
 *   against the plain session handler on the same store (goal <= 1.05x).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager, TaskManager } from '@mcp-sessions/core';
import {
  createDualEraHandler,
  createEventStore,
  createNodeSessionHandler,
  createTasksExtension,
} from '@mcp-sessions/core/http';
import { MemorySessionBus } from '@mcp-sessions/memory';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { createAppServer, createStatelessServer } from '../../examples/server/src/app';
import { registerCountdown } from '../../examples/server/src/countdown';
import { forgetStateCodec, requestStateKey } from '../../examples/server/src/mrtr';
import { notebooks } from '../../examples/server/src/notebook';
import { type BenchCase, type BenchGroup, type BenchSuite, listenHttp } from '../harness';

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-eras-'));
const closers: (() => Promise<unknown>)[] = [];
/** Calls per client before measuring (JIT, SQLite page cache, each server's first-request work). */
const WARMUP_CALLS = 200;
/** Fixed runs per case rather than a time budget: a call takes milliseconds on a loaded machine. */
const ITERATIONS = 1500;

async function warmed(fn: BenchCase['fn']): Promise<BenchCase['fn']> {
  for (let i = 0; i < WARMUP_CALLS; i++) await fn();
  return fn;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function listen(listener: Listener): Promise<string> {
  return listenHttp(listener, closers);
}

/** The baseline's server: `recall` with the example's input shape, answering without a read. */
function readsNothing(): McpServer {
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool(
    'recall',
    { inputSchema: z.object({ key: z.string().min(1), handle: z.string().min(1) }) },
    async ({ key }) => ({ content: [{ type: 'text', text: JSON.stringify({ key, value: 'ship' }) }] }),
  );
  return server;
}

/** SDK v2's stateless handler, and on `node:http` the SDK's way (`toNodeHandler`). */
function sdkStateless(factory: () => McpServer): {
  fetch: (request: Request) => Promise<Response>;
  listener: Listener;
} {
  const handler = createMcpHandler(factory, { legacy: 'reject' });
  closers.push(() => handler.close());
  const node = toNodeHandler(handler);
  return { fetch: (request) => handler.fetch(request), listener: (req, res) => void node(req, res) };
}

/** A client's last `tools/call` as sent on the wire, to replay straight into a web-standard handler. */
interface Recorded {
  request?: { url: string; headers: Record<string, string>; body: string };
}

function recordingFetch(into: Recorded): typeof fetch {
  return async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    if (body.includes('"tools/call"')) {
      into.request = { url: String(input), headers: Object.fromEntries(new Headers(init?.headers)), body };
    }
    return fetch(input, init);
  };
}

/** Replays the recorded call into `handle` (no sockets, no client) and reads the answer to its end. */
function replay(into: Recorded, handle: (request: Request) => Promise<Response>): BenchCase['fn'] {
  const { url, headers, body } = into.request!;
  return async () => {
    const text = await (await handle(new Request(url, { method: 'POST', headers, body }))).text();
    if (!text.includes('ship')) throw new Error(`bad recall: ${text}`);
  };
}

async function modernClient(url: string, handle: string, into: Recorded = {}): Promise<BenchCase['fn']> {
  const c = new ClientV2(
    { name: 'bench-client', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await c.connect(new TransportV2(new URL(url), { fetch: recordingFetch(into) }));
  closers.push(() => c.close());
  return warmed(async () => {
    const result = await c.callTool({ name: 'recall', arguments: { key: 'plan', handle } });
    if (!(result.content as { text: string }[])[0]?.text.includes('"ship"')) throw new Error('bad recall');
  });
}

async function legacyClient(url: string, into: Recorded = {}): Promise<BenchCase['fn']> {
  const c = new Client({ name: 'bench-client', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch(into) }));
  closers.push(() => c.close());
  await c.callTool({ name: 'remember', arguments: { key: 'plan', value: 'ship' } });
  return warmed(async () => {
    const result = await c.callTool({ name: 'recall', arguments: { key: 'plan' } });
    if (!(result.content as { text: string }[])[0]?.text.includes('"ship"')) throw new Error('bad recall');
  });
}

const suite: BenchSuite = {
  name: 'eras',
  async groups(): Promise<BenchGroup[]> {
    const store = new SqliteSessionStore({ filename: join(dir, 'eras.db') });
    closers.push(() => store.close());
    const manager = (instanceId: string) => {
      const m = new SessionManager({ store, timers: false, instanceId, logger: false });
      closers.push(() => m.dispose());
      return m;
    };

    // The example's endpoint as `pnpm start` builds it, without the shared event bus (a recall
    // publishes nothing, and the SQLite bus's poller would only add background load).
    const dual = manager('dual');
    const notes = notebooks(dual, undefined);
    const sessions = (m: SessionManager) => ({
      manager: m,
      createServer: (ctx: Parameters<typeof createAppServer>[1]) =>
        createAppServer(m, ctx, notebooks(m, undefined)),
      eventStore: createEventStore(m),
      logger: false as const,
    });
    const states = forgetStateCodec(await requestStateKey(dual, {}));
    // The example's Tasks extension (its `countdown`), as `pnpm start` installs it.
    const taskManager = new TaskManager({ store, timers: false, instanceId: 'dual', logger: false });
    const tasks = createTasksExtension({ tasks: taskManager, bus: new MemorySessionBus(), logger: false });
    registerCountdown(tasks);
    closers.push(() => taskManager.dispose());
    const stateless = createMcpHandler(() => createStatelessServer(dual, notes, states, tasks), {
      legacy: 'reject',
    });
    const dualEra = createNodeSessionHandler(createDualEraHandler({ sessions: sessions(dual), stateless }));
    closers.push(() => dualEra.close());
    const dualUrl = await listen(dualEra);

    const plain = createNodeSessionHandler(sessions(manager('plain')));
    closers.push(() => plain.close());

    const handle = await notes.open();
    await (await notes.state(handle, 'bench-client')).save('plan', 'ship');

    const nothing = sdkStateless(readsNothing);
    const example = sdkStateless(() => createStatelessServer(dual, notes, states, tasks));
    const wire = { nothing: {}, example: {}, dual: {}, plain: {}, dualLegacy: {} } satisfies Record<
      string,
      Recorded
    >;
    const modern = {
      nothing: await modernClient(await listen(nothing.listener), handle, wire.nothing),
      example: await modernClient(await listen(example.listener), handle, wire.example),
      dual: await modernClient(dualUrl, handle, wire.dual),
    };
    const legacy = {
      plain: await legacyClient(await listen(plain), wire.plain),
      dual: await legacyClient(dualUrl, wire.dualLegacy),
    };

    return [
      {
        name: '2026-07-28 tools/call (SDK v2 client, pinned)',
        baseline: { name: 'sdk v2 createMcpHandler, recall reading nothing', fn: modern.nothing },
        goal: 'dual-era <= 1.2',
        iterations: ITERATIONS,
        subjects: [
          { name: 'sdk v2 createMcpHandler, example recall by handle (sqlite)', fn: modern.example },
          { name: 'dual-era endpoint, example recall by handle (sqlite)', fn: modern.dual },
        ],
      },
      {
        name: '2025 tools/call (SDK v1 client, a session)',
        baseline: { name: 'plain session handler (sqlite)', fn: legacy.plain },
        goal: '<= 1.05',
        iterations: ITERATIONS,
        subjects: [{ name: 'dual-era endpoint (sqlite)', fn: legacy.dual }],
      },
      // The same calls replayed into the web-standard handlers: the handlers' own cost, without
      // the client, sockets and HTTP parsing that dilute it (and add most of the noise) above.
      {
        name: '2026-07-28 tools/call, handler only (Request -> Response)',
        baseline: {
          name: 'sdk v2 createMcpHandler, recall reading nothing',
          fn: replay(wire.nothing, nothing.fetch),
        },
        subjects: [
          {
            name: 'sdk v2 createMcpHandler, example recall by handle (sqlite)',
            fn: replay(wire.example, example.fetch),
          },
          { name: 'dual-era handler, example recall by handle (sqlite)', fn: replay(wire.dual, dualEra.web) },
        ],
      },
      {
        name: '2025 tools/call, handler only (Request -> Response)',
        baseline: { name: 'plain session handler (sqlite)', fn: replay(wire.plain, plain.web) },
        subjects: [{ name: 'dual-era handler (sqlite)', fn: replay(wire.dualLegacy, dualEra.web) }],
      },
    ];
  },
  async teardown() {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;
