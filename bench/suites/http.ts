/**
 * The MCP HTTP integration on SQLite (the default store), through the web-standard handler
 * (no sockets, so the figures are the handler's and the store's, not the kernel's):
 * - the first request for a session this process does not hold (recover + a fresh server and
 *   transport + the replayed initialize) against a request on a live session (goal <= 3x);
 * - later requests on that recovered session against the same live baseline (goal <= 1.1x);
 * - 1k events appended and replayed through the EventStore against the raw driver doing the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager } from '@mcp-sessions/core';
import { createEventStore, createSessionHandler, type SessionHandler } from '@mcp-sessions/core/http';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { createAppServer } from '../../examples/server/src/app';
import type { BenchGroup, BenchSuite } from '../harness';

const RECOVERIES = 300;
const WARMUP = 300;
const WARMUP_RECOVERIES = 50;
const EVENTS = 1000;
const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-http-'));
const stores: SqliteSessionStore[] = [];
const managers: SessionManager[] = [];

function instance(
  id: string,
  store: SqliteSessionStore,
): { manager: SessionManager; handler: SessionHandler } {
  const manager = new SessionManager({ store, timers: false, instanceId: id });
  managers.push(manager);
  const handler = createSessionHandler({
    manager,
    createServer: (ctx) => createAppServer(manager, ctx),
    eventStore: createEventStore(manager),
  });
  return { manager, handler };
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
let nextId = 1;

async function call(handler: SessionHandler, sessionId: string | undefined, method: string, params: object) {
  const response = await handler(
    new Request('http://bench.local/mcp', {
      method: 'POST',
      headers: sessionId ? { ...HEADERS, 'mcp-session-id': sessionId } : HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    }),
  );
  const text = await response.text();
  if (!response.ok) throw new Error(`${method}: ${response.status} ${text}`);
  return response.headers.get('mcp-session-id');
}

async function newSession(handler: SessionHandler): Promise<string> {
  const id = await call(handler, undefined, 'initialize', {
    protocolVersion: '2025-11-25',
    capabilities: { sampling: {} },
    clientInfo: { name: 'bench-agent', version: '1' },
  });
  const response = await handler(
    new Request('http://bench.local/mcp', {
      method: 'POST',
      headers: { ...HEADERS, 'mcp-session-id': id! },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    }),
  );
  await response.text();
  return id!;
}

const recall = { name: 'recall', arguments: { key: 'k' } };

const suite: BenchSuite = {
  name: 'http',
  async groups(): Promise<BenchGroup[]> {
    const store = new SqliteSessionStore({ filename: join(dir, 'sessions.db') });
    stores.push(store);
    // "Process" A creates the sessions, then shuts down gracefully (all disconnected).
    const a = instance('a', store);
    const pool: string[] = [];
    for (let i = 0; i < RECOVERIES + WARMUP_RECOVERIES + 10; i++) pool.push(await newSession(a.handler));
    await a.handler.close();
    // "Process" B: the new process. One session of its own is the live baseline.
    const b = instance('b', store);
    const live = await newSession(b.handler);
    await call(b.handler, live, 'tools/call', recall);
    const recovered: string[] = [];
    let cursor = 0;
    // Warm both paths first (JIT, statement caches): the harness warms iteration groups only once.
    for (let i = 0; i < WARMUP; i++) await call(b.handler, live, 'tools/call', recall);
    for (let i = 0; i < WARMUP_RECOVERIES; i++) await call(b.handler, pool[cursor++]!, 'tools/call', recall);

    // Events: one fresh session per run; the raw driver writes the same rows into a plain table.
    const events = createEventStore(store, { trimEvery: 1_000_000 });
    // The raw driver: the store's own better-sqlite3 connection (same file, same pragmas), own table.
    const raw = store.db;
    raw.exec(
      'CREATE TABLE ev (session TEXT, seq INTEGER, stream TEXT, json TEXT, at INTEGER, PRIMARY KEY (session, seq))',
    );
    const insert = raw.prepare('INSERT INTO ev VALUES (?, ?, ?, ?, ?)');
    const select = raw.prepare(
      'SELECT seq, json FROM ev WHERE session = ? AND stream = ? AND seq > ? ORDER BY seq',
    );
    const message = {
      jsonrpc: '2.0' as const,
      method: 'notifications/message',
      params: { level: 'info', data: 1 },
    };
    let run = 0;
    let rawRun = 0;
    const eventSessions: string[] = [];
    for (let i = 0; i < 25; i++) eventSessions.push(await newSession(b.handler));

    return [
      {
        name: 'first request on a recovered session',
        iterations: RECOVERIES,
        goal: 'ratio <= 3',
        baseline: {
          name: 'tools/call on a live session',
          fn: () => call(b.handler, live, 'tools/call', recall),
        },
        subjects: [
          {
            name: 'first tools/call after recovery (recover + rebuild + call)',
            fn: async () => {
              const id = pool[cursor++]!;
              await call(b.handler, id, 'tools/call', recall);
              recovered.push(id);
            },
          },
          {
            // For scale: what any stateful MCP server pays once per session anyway.
            name: 'a new session: initialize + notifications/initialized',
            fn: () => newSession(b.handler),
          },
        ],
      },
      {
        name: 'later requests on a recovered session',
        goal: 'ratio <= 1.1',
        iterations: 2000, // interleaved: both cases see the same machine
        baseline: {
          name: 'tools/call on a live session',
          fn: () => call(b.handler, live, 'tools/call', recall),
        },
        subjects: [
          {
            name: 'tools/call on a recovered session',
            fn: () => call(b.handler, recovered[0]!, 'tools/call', recall),
          },
        ],
      },
      {
        name: `append + replay ${EVENTS} events`,
        iterations: 20,
        goal: 'ratio <= 3',
        baseline: {
          name: 'better-sqlite3: INSERT x1000 + SELECT',
          fn: () => {
            const session = `raw-${rawRun++}`;
            for (let seq = 1; seq <= EVENTS; seq++)
              insert.run(session, seq, 's', JSON.stringify(message), Date.now());
            if (select.all(session, 's', 1).length !== EVENTS - 1) throw new Error('raw replay lost rows');
          },
        },
        subjects: [
          {
            name: 'EventStore: storeEvent x1000 + replayEventsAfter',
            fn: async () => {
              const es = events.forSession(eventSessions[run++]!);
              const first = await es.storeEvent('s', message);
              for (let i = 1; i < EVENTS; i++) await es.storeEvent('s', message);
              let n = 0;
              await es.replayEventsAfter(first, {
                send: async () => {
                  n++;
                },
              });
              if (n !== EVENTS - 1) throw new Error(`replayed ${n}`);
            },
          },
        ],
      },
    ];
  },
  async teardown() {
    for (const m of managers) await m.dispose();
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;
