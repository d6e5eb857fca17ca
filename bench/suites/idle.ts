/**
 * Bounded by activity (issue #21): what a held session costs, what is left of it once released,
 * and what its first request after a release costs. The handler is driven directly with web
 * `Request`s (no sockets), one instance over an embedded SQLite file, a manual clock:
 * 1. heap before any session, with N sessions held (initialize, initialized, one `tools/call`,
 *    then abandoned), and after `manager.releaseIdle(0)` (what the handler's timer calls);
 * 2. live records in the store before and after the sweep, the clock moved past `idleTimeoutMs`;
 * 3. `manager.tick()` writes with N held, and once the others are released while K are in use;
 * 4. heap per held session next to the SDK's own stateful mode (a transport and an `McpServer`
 *    per session in a Map), and where the bytes go (heap snapshots, by constructor);
 * 5. the first `tools/call` on a released session (attach + rebuild) against one on a held
 *    session, interleaved (the only timed group).
 * Sections 1-4 are printed as they are measured; see bench/results/idle.md.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Clock, SessionManager, type SessionStore } from '@mcp-sessions/core';
import { createEventStore, createSessionHandler, type SessionHandler } from '@mcp-sessions/core/http';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { z } from 'zod';
import type { BenchGroup, BenchSuite } from '../harness';

/** Sessions opened and abandoned on one instance (sections 1-3). */
const N = envCount('MCP_SESSIONS_BENCH_IDLE_N', 100_000);
/** Sessions per mode for the per-session heap (section 4). */
const PER_MODE = envCount('MCP_SESSIONS_BENCH_IDLE_PER_MODE', 2_000);
/** Sessions per mode in the heap snapshots (section 4's breakdown). */
const SNAPSHOT_SESSIONS = 200;
/** Sessions kept in use while the others are released (section 3). */
const KEPT = 100;
/** Calls per case in the timed group (section 5). */
const CALLS = 500;
const IDLE_RELEASE_MS = 5 * 60_000;
const IDLE_TIMEOUT_MS = 24 * 3_600_000;
const TOMBSTONE_MS = 3_600_000;
const PROTOCOL = '2025-11-25';
const URL_ = 'http://127.0.0.1/mcp';
const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

/** The benchmark moves time itself: idle periods and timeouts pass without sleeping. */
class ManualClock implements Clock {
  t = Date.now();
  now(): number {
    return this.t;
  }
}

type WebHandler = (request: Request) => Promise<Response>;

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-idle-'));
const closers: (() => Promise<unknown>)[] = [];
const validator = new AjvJsonSchemaValidator();
const out = (line = '') => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`  idle: ${line}\n`);

/** The same server in every mode: one `echo` tool, one shared JSON-schema validator (as hotpath). */
function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench', version: '1.0.0' }, { jsonSchemaValidator: validator });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

interface Ours {
  manager: SessionManager;
  store: SessionStore;
  handler: SessionHandler;
  clock: ManualClock;
  close(): Promise<void>;
}

/** One instance: SQLite in a temp file, timers off (the bench ticks, sweeps and releases itself). */
function ours(name: string, options: { eventStore?: boolean } = {}): Ours {
  const clock = new ManualClock();
  const store = new SqliteSessionStore({ filename: join(dir, `${name}.db`), logger: false });
  const manager = new SessionManager({
    store,
    clock,
    timers: false,
    instanceId: name,
    logger: false,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    tombstoneMs: TOMBSTONE_MS,
  });
  const handler = createSessionHandler({
    manager,
    createServer: () => echoServer(),
    eventStore: options.eventStore === false ? undefined : createEventStore(manager),
    // Released by the bench through `manager.releaseIdle`, the call the handler's timer makes.
    idleReleaseMs: Number.POSITIVE_INFINITY,
    logger: false,
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handler.close();
    await manager.dispose();
    await store.close();
  };
  closers.push(close);
  return { manager, store, handler, clock, close };
}

/** The SDK's documented stateful pattern, web-standard: a transport per session, kept in a Map. */
function sdkStateful(): { handler: WebHandler; close(): Promise<void> } {
  const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const handler = async (request: Request) => {
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
  const close = async () => {
    await Promise.all([...transports.values()].map((t) => t.close()));
    transports.clear();
  };
  closers.push(close);
  return { handler, close };
}

const suite: BenchSuite = {
  name: 'idle',
  async groups(): Promise<BenchGroup[]> {
    out(
      `\n## idle (issue #21): N = ${N.toLocaleString('en-US')} sessions, ${PER_MODE} per mode for the heap per session`,
    );
    out(`gc: ${gcNote}`);
    await perSessionHeap();
    await snapshotBreakdown();
    const instance = await abandonedSessions();
    return [await firstRequestGroup(instance)];
  },
  async teardown() {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;

// --- Section 4: heap per held session, ours against the SDK's stateful mode ---

async function perSessionHeap(): Promise<void> {
  out(`\n### heap per held session (${PER_MODE} sessions per mode, two rounds)`);
  const modes: [string, () => { handler: WebHandler; close(): Promise<void> }][] = [
    ['sdk stateful (baseline)', sdkStateful],
    ['ours, sqlite + durable event store', () => ours(`per-${randomUUID()}`)],
    ['ours, sqlite, no event store', () => ours(`per-ne-${randomUUID()}`, { eventStore: false })],
  ];
  const figures = modes.map(() => [] as number[]);
  for (let round = 0; round < 2; round++) {
    for (const [i, [name, make]] of modes.entries()) {
      const mode = make();
      await openSession(mode.handler); // the first session compiles and loads what all share
      const before = await heapUsed();
      for (let n = 0; n < PER_MODE; n++) await openSession(mode.handler);
      const after = await heapUsed();
      await mode.close();
      figures[i]!.push((after - before) / PER_MODE);
      progress(`${name}: ${kib((after - before) / PER_MODE)} per session`);
    }
  }
  const base = median(figures[0]!);
  for (const [i, [name]] of modes.entries()) {
    const per = median(figures[i]!);
    const rounds = figures[i]!.map(kib).join(', ');
    out(`${name}: ${kib(per)} per session (rounds: ${rounds}), ${(per / base).toFixed(2)}x the SDK's`);
  }
  out('goal: ours <= 1.1x the SDK stateful mode');
}

/** Heap snapshots around SNAPSHOT_SESSIONS sessions of each: which objects a held session adds. */
async function snapshotBreakdown(): Promise<void> {
  const mine = ours('snapshot');
  const sdk = sdkStateful();
  await openSession(mine.handler);
  await openSession(sdk.handler);
  const s0 = await snapshot();
  for (let n = 0; n < SNAPSHOT_SESSIONS; n++) await openSession(mine.handler);
  const s1 = await snapshot();
  for (let n = 0; n < SNAPSHOT_SESSIONS; n++) await openSession(sdk.handler);
  const s2 = await snapshot();
  await mine.close();
  await sdk.close();
  const oursPer = perSession(s0, s1);
  const sdkPer = perSession(s1, s2);
  const keys = [...new Set([...oursPer.keys(), ...sdkPer.keys()])];
  const extra = (k: string) => (oursPer.get(k)?.size ?? 0) - (sdkPer.get(k)?.size ?? 0);
  const total = (m: Map<string, Cell>) => [...m.values()].reduce((a, c) => a + c.size, 0);
  out(`\n### where a held session's bytes go (heap snapshots, ${SNAPSHOT_SESSIONS} sessions each)`);
  out(`retained per session by self size: ours ${kib(total(oursPer))}, sdk ${kib(total(sdkPer))}`);
  // tsx compiles the packages' source with esbuild's keepNames: each named arrow function gets a
  // `name` property array (256 B). Built packages (tsup) have none; results/idle.md has both.
  out(
    '(source run: tsx keepNames adds a 256 B property array per named arrow function, see results/idle.md)',
  );
  out('what ours adds over the SDK, per session, largest first (objects by constructor; count, bytes):');
  out('| kind | ours count | ours bytes | sdk count | sdk bytes | added bytes |');
  out('|---|---|---|---|---|---|');
  for (const k of keys.sort((a, b) => extra(b) - extra(a)).slice(0, 20)) {
    const o = oursPer.get(k) ?? { count: 0, size: 0 };
    const s = sdkPer.get(k) ?? { count: 0, size: 0 };
    out(
      `| ${k} | ${o.count.toFixed(1)} | ${Math.round(o.size)} | ${s.count.toFixed(1)} | ${Math.round(s.size)} | ${Math.round(extra(k))} |`,
    );
  }
}

// --- Sections 1-3: N sessions abandoned on one instance ---

async function abandonedSessions(): Promise<Ours> {
  const instance = ours('abandoned');
  const { manager, handler, store, clock } = instance;
  const warm = await openSession(handler);
  await handler(sessionRequest('DELETE', warm)).then((r) => r.text());
  const baseline = await heapUsed();

  const ids: string[] = [];
  const started = performance.now();
  for (let n = 0; n < N; n++) {
    ids.push(await openSession(handler));
    if ((n + 1) % 10_000 === 0) progress(`${n + 1} sessions opened, ${seconds(performance.now() - started)}`);
  }
  const openedIn = performance.now() - started;
  const held = await heapUsed();

  // Section 3: one tick with every session held, then one with only the K in use.
  const tickAll = await manager.tick();
  clock.t += 2 * IDLE_RELEASE_MS;
  for (const [i, id] of ids.slice(0, KEPT).entries()) await callTool(handler, id, 2 + i);
  const releasedIdle = await manager.releaseIdle(IDLE_RELEASE_MS);
  const heldAfter = manager.heldSessionIds.size;
  const tickKept = await manager.tick();

  const releasedRest = await manager.releaseIdle(0);
  const released = await heapUsed();
  const liveInProcess = handler.liveSessionIds().length;

  // Section 2: the idle timeout passes, the sweep expires them, a tombstone period later deletes them.
  const liveBefore = await countLive(store);
  clock.t += IDLE_TIMEOUT_MS + 1;
  const swept = await timed(() => manager.cleanupExpired());
  const liveAfter = await countLive(store);
  clock.t += TOMBSTONE_MS + 1;
  const tombstones = await timed(() => manager.cleanupExpired());
  const afterSweep = await heapUsed();

  out(`\n### ${N.toLocaleString('en-US')} sessions abandoned on one instance (sqlite + durable event store)`);
  out(
    `opened in ${seconds(openedIn)} (${(openedIn / N).toFixed(2)} ms per session: initialize, initialized, tools/call)`,
  );
  out(`heap, baseline (one session opened and deleted before): ${mib(baseline)}`);
  out(`heap, ${N} held: ${mib(held)} (+${kib((held - baseline) / N)} per session)`);
  out(
    `heap, after release: ${mib(released)} (${sign(released - baseline)}${kib(Math.abs(released - baseline) / N)} per abandoned session; goal <= 1 KiB)`,
  );
  out(
    `heap, after the sweep and tombstone deletion: ${mib(afterSweep)} (${sign(afterSweep - baseline)}${kib(Math.abs(afterSweep - baseline) / N)} per session)`,
  );
  out(`held after release: manager ${manager.heldSessionIds.size}, handler ${liveInProcess}`);
  out(
    `heartbeat writes per tick: ${tickAll} with ${N} held; ${tickKept} once ${releasedIdle} idle ones were released with ${KEPT} in use (held: ${heldAfter}); ${releasedRest} released after`,
  );
  out(
    `live records in the store (active + disconnected): ${liveBefore} before the idle timeout, ${liveAfter} after one sweep (${swept.value.expired} expired in ${seconds(swept.ms)}); tombstones deleted ${tombstones.value.deleted} (${seconds(tombstones.ms)})`,
  );
  return instance;
}

// --- Section 5: the first request after a release against a live one ---

async function firstRequestGroup(instance: Ours): Promise<BenchGroup> {
  const { manager, handler } = instance;
  // Released sessions, one per call of the released case (and its warm-up), released at once.
  const pool: string[] = [];
  for (let n = 0; n < CALLS + 1; n++) pool.push(await openSession(handler));
  await manager.releaseIdle(0);
  const live = await openSession(handler);
  let n = 1000;
  return {
    name: 'tools/call, web Request, sqlite + durable event store',
    goal: '<= 1.5',
    iterations: CALLS,
    baseline: { name: 'held session', fn: () => callTool(handler, live, n++) },
    subjects: [
      {
        name: 'released session (attach + rebuild)',
        fn: () => {
          const id = pool.pop();
          if (id === undefined) throw new Error('no released session left');
          return callTool(handler, id, n++);
        },
      },
    ],
  };
}

// --- Internal helpers ---

function sessionRequest(method: string, sessionId: string | undefined, body?: unknown): Request {
  const headers: Record<string, string> =
    sessionId === undefined
      ? HEADERS
      : { ...HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL };
  return new Request(URL_, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** initialize, notifications/initialized, one tools/call; then the client goes away (no DELETE). */
async function openSession(handler: WebHandler): Promise<string> {
  const init = await handler(
    sessionRequest('POST', undefined, {
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
  const text = await init.text();
  if (!init.ok || sessionId === null) throw new Error(`initialize ${init.status}: ${text.slice(0, 200)}`);
  const initialized = await handler(
    sessionRequest('POST', sessionId, { jsonrpc: '2.0', method: 'notifications/initialized' }),
  );
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`initialized ${initialized.status}`);
  await callTool(handler, sessionId, 1);
  return sessionId;
}

async function callTool(handler: WebHandler, sessionId: string, id: number): Promise<void> {
  const response = await handler(
    sessionRequest('POST', sessionId, {
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'hi' } },
    }),
  );
  const text = await response.text();
  if (!response.ok || !text.includes('"text":"hi"')) {
    throw new Error(`tools/call ${response.status}: ${text.slice(0, 200)}`);
  }
}

/** Live records, by paging `store.list` as an operator's tool would. */
async function countLive(store: SessionStore): Promise<number> {
  let count = 0;
  let after: { createdAt: number; id: string } | undefined;
  for (;;) {
    const page = await store.list({ statuses: ['active', 'disconnected'], limit: 1000, after });
    count += page.length;
    const last = page.at(-1);
    if (page.length < 1000 || !last) return count;
    after = { createdAt: last.createdAt, id: last.id };
  }
}

/** `global.gc` from `--expose-gc`, or exposed now through V8's flags (same collector). */
function collector(): { gc: () => void; note: string } {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return { gc: exposed, note: 'global.gc (--expose-gc)' };
  setFlagsFromString('--expose-gc');
  return {
    gc: runInNewContext('gc') as () => void,
    note: 'no --expose-gc: gc exposed at run time through v8.setFlagsFromString',
  };
}

const { gc, note: gcNote } = collector();

/** heapUsed after pending closes settled and two full collections. */
async function heapUsed(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

interface Cell {
  count: number;
  size: number;
}

async function snapshot(): Promise<Map<string, Cell>> {
  await heapUsed();
  const file = writeHeapSnapshot(join(dir, `${randomUUID()}.heapsnapshot`));
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  rmSync(file);
  return byKind(parsed);
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self sizes by kind: objects by constructor name, closures by function name, the rest by type. */
function byKind(s: HeapSnapshot): Map<string, Cell> {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const cells = new Map<string, Cell>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const t = types[s.nodes[i + type]!]!;
    const n = s.strings[s.nodes[i + name]!]!;
    const key =
      t === 'object'
        ? n
        : t === 'closure'
          ? `closure ${n}`
          : t === 'hidden' || t === 'array'
            ? `(${t}) ${n}`
            : `(${t})`;
    const cell = cells.get(key) ?? { count: 0, size: 0 };
    cell.count++;
    cell.size += s.nodes[i + size]!;
    cells.set(key, cell);
  }
  return cells;
}

/** (after - before) per session, for the kinds that grew. */
function perSession(before: Map<string, Cell>, after: Map<string, Cell>): Map<string, Cell> {
  const per = new Map<string, Cell>();
  for (const [k, a] of after) {
    const b = before.get(k) ?? { count: 0, size: 0 };
    if (a.size > b.size) {
      per.set(k, {
        count: (a.count - b.count) / SNAPSHOT_SESSIONS,
        size: (a.size - b.size) / SNAPSHOT_SESSIONS,
      });
    }
  }
  return per;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number above 0, got ${raw}`);
  return n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sign = (n: number) => (n < 0 ? '-' : '+');
