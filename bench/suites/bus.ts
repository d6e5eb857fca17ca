/**
 * The live bus: publish on one bus instance → delivery on another (what a client's answer costs
 * when it lands on another instance), per backend, against a raw round trip on the same backend
 * (and the backend's raw pub/sub where it has one). Also the idle CPU of the SQLite poller with
 * 1,000 subscribed sessions. Uses MCP_SESSIONS_TEST_REDIS_URL / MCP_SESSIONS_TEST_POSTGRES_URL,
 * else starts its own servers when the binaries are installed (else those rows are skipped).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue, SessionBus } from '@mcp-sessions/core';
import { MemorySessionBus } from '@mcp-sessions/memory';
import { PostgresSessionBus, PostgresSessionStore } from '@mcp-sessions/postgres';
import { RedisSessionBus } from '@mcp-sessions/redis';
import { DEFAULT_BUS_POLL_INTERVAL_MS, SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import { createClient } from '@redis/client';
import { pgBinDir, startPostgres, startRedis, which } from '../../test/services';
import type { BenchGroup, BenchSuite } from '../harness';

const IDLE_SESSIONS = 1_000;
const IDLE_MS = 3_000;
/** A typical answer to an elicitation. */
const ANSWER = { jsonrpc: '2.0', id: 12, result: { action: 'accept', content: { name: 'bench' } } };
/** Over NOTIFY's 8000-byte limit: goes through the payload table on Postgres. */
const BIG = { jsonrpc: '2.0', method: 'notifications/message', params: { data: 'x'.repeat(20_000) } };

let redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
let postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
const servers: Array<{ stop(): Promise<void>; dir: string }> = [];
const cleanup: Array<() => Promise<void> | void> = [];

const suite: BenchSuite = {
  name: 'bus',

  async groups(): Promise<BenchGroup[]> {
    const groups: BenchGroup[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-bus-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    // First, while no other bus of this suite has a timer running.
    await reportSqliteIdle(join(dir, 'idle.db'));

    // --- memory (in-process) ---
    const memory = new MemorySessionBus();
    cleanup.push(() => memory.close());
    groups.push({
      name: 'memory publish→deliver',
      baseline: {
        name: 'queueMicrotask hop',
        fn: () => new Promise<void>((resolve) => queueMicrotask(resolve)),
      },
      subjects: [{ name: 'same instance', fn: await roundTrip(memory, memory, ANSWER) }],
    });

    // --- sqlite (processes sharing the file) ---
    const file = join(dir, 'bus.db');
    const sqliteA = new SqliteSessionBus({ filename: file });
    const sqliteB = new SqliteSessionBus({ filename: file });
    cleanup.push(
      () => sqliteA.close(),
      () => sqliteB.close(),
    );
    // Two plain connections (stores' own, only for `.db`: bench/ has no better-sqlite3 types).
    const writerStore = new SqliteSessionStore({ filename: file });
    const readerStore = new SqliteSessionStore({ filename: file });
    cleanup.push(
      () => writerStore.close(),
      () => readerStore.close(),
    );
    const rawWriter = writerStore.db;
    const rawReader = readerStore.db;
    rawWriter.exec('CREATE TABLE IF NOT EXISTS raw_bench (id INTEGER PRIMARY KEY, payload TEXT)');
    const rawInsert = rawWriter.prepare('INSERT INTO raw_bench (payload) VALUES (?)');
    const rawRead = rawReader.prepare('SELECT payload FROM raw_bench WHERE id = ?');
    groups.push({
      name: 'sqlite publish→deliver',
      baseline: {
        name: 'raw insert + read on another connection',
        fn: () =>
          rawRead.get(
            (rawInsert.run(JSON.stringify(ANSWER)) as unknown as { lastInsertRowid: number | bigint })
              .lastInsertRowid,
          ),
      },
      subjects: [
        { name: 'another instance (poll 15 ms)', fn: await roundTrip(sqliteA, sqliteB, ANSWER) },
        { name: 'same instance', fn: await roundTrip(sqliteA, sqliteA, ANSWER) },
      ],
      goal: 'another instance ≤ baseline + 50 ms',
    });

    // --- redis ---
    if (!redisUrl && which('redis-server')) {
      const server = await startRedis();
      servers.push(server);
      redisUrl = server.url;
    }
    if (redisUrl) {
      const url = redisUrl;
      const redisA = new RedisSessionBus({ url });
      const redisB = new RedisSessionBus({ url });
      cleanup.push(
        () => redisA.close(),
        () => redisB.close(),
      );
      const pub = createClient({ url });
      const sub = createClient({ url });
      for (const c of [pub, sub]) c.on('error', () => {});
      await Promise.all([pub.connect(), sub.connect()]);
      cleanup.push(
        () => pub.close(),
        () => sub.close(),
      );
      let wake: (() => void) | undefined;
      await sub.subscribe('raw-bench', () => wake?.());
      groups.push({
        name: 'redis publish→deliver',
        baseline: { name: 'raw PING', fn: () => pub.ping() },
        subjects: [
          {
            name: 'raw PUBLISH → SUBSCRIBE',
            fn: async () => {
              const arrived = new Promise<void>((resolve) => {
                wake = resolve;
              });
              await pub.publish('raw-bench', JSON.stringify(ANSWER));
              await arrived;
            },
          },
          { name: 'bus, another instance', fn: await roundTrip(redisA, redisB, ANSWER) },
        ],
        goal: 'bus ≤ 2x raw pub/sub',
      });
    } else {
      process.stdout.write(
        '!!! bus suite: no Redis (no MCP_SESSIONS_TEST_REDIS_URL, no redis-server): rows skipped\n',
      );
    }

    // --- postgres ---
    if (!postgresUrl && pgBinDir()) {
      const server = await startPostgres();
      servers.push(server);
      postgresUrl = server.url;
    }
    if (postgresUrl) {
      const url = postgresUrl;
      const pgA = new PostgresSessionBus({ connectionString: url, tablePrefix: 'bench_bus_' });
      const pgB = new PostgresSessionBus({ connectionString: url, tablePrefix: 'bench_bus_' });
      cleanup.push(
        () => pgA.close(),
        () => pgB.close(),
      );
      // Plain pools (made by stores whose methods are never called: bench/ has no @types/pg).
      const notifier = new PostgresSessionStore({ connectionString: url, migrate: false }).pool;
      const listenerPool = new PostgresSessionStore({ connectionString: url, migrate: false }).pool;
      // bench/ has no @types/pg: the one event this needs, named here.
      const listener = (await listenerPool.connect()) as unknown as PgListener;
      let wake: (() => void) | undefined;
      listener.on('notification', () => wake?.());
      await listener.query('LISTEN raw_bench');
      cleanup.push(async () => {
        listener.release();
        await listenerPool.end();
        await notifier.query('DROP TABLE IF EXISTS "bench_bus_bus_payloads"');
        await notifier.end();
      });
      groups.push({
        name: 'postgres publish→deliver',
        baseline: { name: 'raw SELECT 1', fn: () => notifier.query('SELECT 1') },
        subjects: [
          {
            name: 'raw NOTIFY → LISTEN',
            fn: async () => {
              const arrived = new Promise<void>((resolve) => {
                wake = resolve;
              });
              await notifier.query('SELECT pg_notify($1, $2)', ['raw_bench', JSON.stringify(ANSWER)]);
              await arrived;
            },
          },
          { name: 'bus, another instance', fn: await roundTrip(pgA, pgB, ANSWER) },
          { name: 'bus, 20 KB by reference', fn: await roundTrip(pgA, pgB, BIG) },
        ],
        goal: 'bus ≤ 2x raw NOTIFY',
      });
    } else {
      process.stdout.write('!!! bus suite: no Postgres (no URL, no binaries): rows skipped\n');
    }
    return groups;
  },

  async teardown() {
    for (const close of cleanup.reverse()) await close();
    for (const server of servers) {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  },
};

export default suite;

interface PgListener {
  on(event: 'notification', listener: () => void): unknown;
  query(sql: string): Promise<unknown>;
  release(): void;
}

/** A case: publish on `from`, resolve when `to`'s listener has it (one session per case). */
async function roundTrip(from: SessionBus, to: SessionBus, message: JsonValue): Promise<() => Promise<void>> {
  const id = `bench-${from.name}-${Math.random().toString(36).slice(2)}`;
  let wake: (() => void) | undefined;
  await to.subscribe(id, () => wake?.());
  return async () => {
    const arrived = new Promise<void>((resolve) => {
      wake = resolve;
    });
    await from.publish(id, message);
    await arrived;
  };
}

/**
 * CPU the SQLite poller costs while idle: this process's CPU time over IDLE_MS of wall time with
 * IDLE_SESSIONS subscribed sessions and no traffic, against the same span with no subscription;
 * and the cost of one poll (the `PRAGMA data_version` check), times the polls per second.
 */
async function reportSqliteIdle(file: string): Promise<void> {
  const measure = async () => {
    const start = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / (performance.now() - t0);
  };
  const bus = new SqliteSessionBus({ filename: file });
  const quiet = await measure();
  for (let i = 0; i < IDLE_SESSIONS; i++) await bus.subscribe(`idle-${i}`, () => {});
  const polling = await measure();
  // One idle poll, measured directly (it is what the timer runs every pollIntervalMs).
  const poll = (bus as unknown as { poll(): void }).poll.bind(bus);
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) poll();
  const perPollMs = (performance.now() - t0) / n;
  await bus.close();
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  process.stdout.write(
    `bus: sqlite poller idle, ${IDLE_SESSIONS} subscribed sessions: process CPU ${pct(polling)} of a core ` +
      `(${pct(quiet)} with none); one poll ${(perPollMs * 1000).toFixed(1)} µs x ${Math.round(1000 / DEFAULT_BUS_POLL_INTERVAL_MS)}/s = ` +
      `${pct((perPollMs * 1000) / DEFAULT_BUS_POLL_INTERVAL_MS / 1000)} of a core (goal ≤ 1%)\n`,
  );
}
