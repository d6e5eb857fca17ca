/**
 * Why the SDK's resumable mode reads ~2.5x in `hotpath` (see RESULTS.md, "The SDK's resumable
 * row"): the SDK's stateful mode against the same with its example `InMemoryEventStore`, two
 * cases alone, calls interleaved one by one. Not a suite; run from `bench/`:
 * `npx tsx --conditions=@mcp-sessions/source probes/sdk-resumable-edge.ts`, varied by env:
 * - CALLS (per mode, default 400), AGE (calls on both sessions before measuring), PEERS (extra
 *   idle sessions, each on its own server, in the process), SPLIT=1 (servers in a child process);
 * - LOWLEVEL=1: the SDK's low-level `Server` instead of `McpServer` (its answer is ready sooner);
 * - TOOL_IO=1: the tool waits one `setImmediate`, SLOW_MS=n: the tool waits n ms;
 * - NO_TIMER=1: a zero-delay `setTimeout` runs as `setImmediate` (removes Node's 1 ms clamp).
 * Prints the medians, the ratio, zero-delay timers per resumable call, the events the stores
 * hold and the requests the resumable server saw (a replay would show as `GET+last-event-id`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const env = process.env;
const CALLS = Number(env.CALLS ?? 400);
const AGE = Number(env.AGE ?? 0);
const PEERS = Number(env.PEERS ?? 0);

const stores: InMemoryEventStore[] = [];
const requests: Record<string, number> = {};
const servers: HttpServer[] = [];
const clients: Client[] = [];

// Counts zero-delay timers during resumable calls: @hono/node-server's wait for a second chunk is one.
const realSetTimeout = globalThis.setTimeout;
let counting = false;
let zeroTimers = 0;
globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  if (ms === undefined || ms === 0) {
    if (counting) zeroTimers++;
    if (env.NO_TIMER) return setImmediate(() => fn(...args)) as unknown as NodeJS.Timeout;
  }
  return Reflect.apply(realSetTimeout, globalThis, [fn, ms, ...args]);
}) as typeof setTimeout;

if (env.ROLE === 'server') {
  process.stdout.write(`${JSON.stringify([await serve(false), await serve(true)])}\n`);
} else {
  await main();
}

async function main(): Promise<void> {
  let child: ChildProcess | undefined;
  let urls: string[];
  if (env.SPLIT) {
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      env: { ...env, ROLE: 'server' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    urls = await new Promise<string[]>((resolve) =>
      child?.stdout?.once('data', (d) => resolve(JSON.parse(`${d}`))),
    );
  } else {
    urls = [await serve(false), await serve(true)];
  }
  const cases = [await connect(urls[0]!), await connect(urls[1]!)];
  for (let i = 0; i < PEERS; i++) await connect(await serve(i % 2 === 0));
  for (let i = 0; i < AGE; i++) for (const call of cases) await call();
  for (const call of cases) await call();
  const times: number[][] = [[], []];
  for (let round = 0; round < CALLS; round++) {
    for (let k = 0; k < 2; k++) {
      const i = (k + round) % 2;
      counting = i === 1;
      const start = performance.now();
      await cases[i]!();
      times[i]!.push(performance.now() - start);
      counting = false;
    }
  }
  const [base, resumable] = times.map(median) as [number, number];
  const held = stores.reduce((n, s) => n + (s as unknown as { events: Map<string, unknown> }).events.size, 0);
  process.stdout.write(
    `${JSON.stringify({
      CALLS,
      AGE,
      PEERS,
      variant: Object.keys(env).filter((k) =>
        ['SPLIT', 'LOWLEVEL', 'TOOL_IO', 'SLOW_MS', 'NO_TIMER'].includes(k),
      ),
      baselineUs: Math.round(base * 1000),
      resumableUs: Math.round(resumable * 1000),
      ratio: +(resumable / base).toFixed(2),
      zeroTimersPerResumableCall: env.SPLIT ? 'in the child' : +(zeroTimers / CALLS).toFixed(2),
      eventsHeld: held,
      resumableServerRequests: requests,
    })}\n`,
  );
  for (const c of clients) await c.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  child?.kill();
}

// --- Internal helpers ---

async function serve(resumable: boolean): Promise<string> {
  const server = createServer(stateful(resumable));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

async function connect(url: string): Promise<() => Promise<void>> {
  const client = new Client({ name: 'probe', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(client);
  return async () => {
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    if ((result.content as { text: string }[])[0]?.text !== 'hi') throw new Error('bad echo');
  };
}

/** The tool's own wait, if the env asks for one. */
async function toolWork(): Promise<void> {
  if (env.TOOL_IO) await new Promise((resolve) => setImmediate(resolve));
  if (env.SLOW_MS) await new Promise((resolve) => setTimeout(resolve, Number(env.SLOW_MS)));
}

function echoServer(): { connect(transport: StreamableHTTPServerTransport): Promise<void> } {
  if (env.LOWLEVEL) {
    const low = new Server({ name: 'probe', version: '1.0.0' }, { capabilities: { tools: {} } });
    low.setRequestHandler(CallToolRequestSchema, async (request) => {
      await toolWork();
      return { content: [{ type: 'text', text: `${request.params.arguments?.text}` }] };
    });
    return low;
  }
  const server = new McpServer({ name: 'probe', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => {
    await toolWork();
    return { content: [{ type: 'text', text }] };
  });
  return server;
}

/** The SDK's documented stateful pattern, as in `suites/hotpath.ts`. */
function stateful(resumable: boolean) {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  return (req: IncomingMessage, res: ServerResponse) =>
    void (async () => {
      if (resumable) {
        const key = `${req.method}${req.headers['last-event-id'] ? '+last-event-id' : ''}`;
        requests[key] = (requests[key] ?? 0) + 1;
      }
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? transports.get(id) : undefined;
      if (!transport && isInitializeRequest(body)) {
        const eventStore = resumable ? new InMemoryEventStore() : undefined;
        if (eventStore) stores.push(eventStore);
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          eventStore,
          onsessioninitialized: (sid) => void transports.set(sid, created),
        });
        await echoServer().connect(created);
        transport = created;
      }
      if (!transport) return void res.writeHead(404).end();
      await transport.handleRequest(req, res, body);
    })();
}

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

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}
