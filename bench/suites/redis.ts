/**
 * Redis: the store through SessionManager against a raw @redis/client doing the plain SET/GET
 * of the same data, a 100k-session heartbeat tick (baseline: one pipelined SET per session), and
 * a sweep of 1k due sessions among 1M against among 10k. Uses MCP_SESSIONS_TEST_REDIS_URL, else
 * starts its own redis-server (no AOF: the figures are about the store, not the disk).
 * `MCP_SESSIONS_BENCH_REDIS_SWEEP_SIZE` sets the large sweep's size (default 1,000,000).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { SessionManager, type SessionRecord } from '@mcp-sessions/core';
import { createRecord } from '@mcp-sessions/core/adapter';
import { RedisSessionStore } from '@mcp-sessions/redis';
import { createClient } from '@redis/client';
import { startRedis, which } from '../../test/services';
import type { BenchGroup, BenchSuite } from '../harness';

const RUN = randomBytes(4).toString('hex');
const GRACE_MS = 24 * 3600 * 1000;
const RECOVERIES = 2000;
const TICK_SESSIONS = 100_000;
const SWEEP_BATCH = 1000;
const SWEEP_RUNS = 5;
const SWEEP_LARGE = Number(process.env.MCP_SESSIONS_BENCH_REDIS_SWEEP_SIZE ?? 1_000_000);
const LOAD_CONCURRENCY = 2000;
const POLICY = {
  gracePeriodMs: GRACE_MS,
  staleAfterMs: 90_000,
  maxRecoveryAttempts: 1_000_000,
  tombstoneMs: GRACE_MS,
};
const INIT_PARAMS = {
  protocolVersion: '2025-06-18',
  capabilities: { sampling: {} },
  clientInfo: { name: 'bench', version: '1.0.0' },
};

let url = process.env.MCP_SESSIONS_TEST_REDIS_URL;
let server: Awaited<ReturnType<typeof startRedis>> | undefined;
const cleanup: Array<() => Promise<void>> = [];

const suite: BenchSuite = {
  name: 'redis',
  unavailable: () =>
    url || which('redis-server') ? undefined : 'no MCP_SESSIONS_TEST_REDIS_URL and no redis-server binary',

  async groups(): Promise<BenchGroup[]> {
    if (!url) {
      server = await startRedis();
      url = server.url;
    }
    const raw = createClient({ url });
    raw.on('error', () => {});
    await raw.connect();
    cleanup.push(() => raw.close());
    const open = (name: string) => {
      const store = new RedisSessionStore({ url: url!, prefix: `bench-${RUN}-${name}:` });
      cleanup.push(() => store.close());
      return store;
    };
    const manager = (store: RedisSessionStore, clock: { now(): number } = { now: () => Date.now() }) =>
      new SessionManager({ store, timers: false, clock, ...POLICY });
    const now = Date.now();

    /** n records `${tag}1..n` through the store, LOAD_CONCURRENCY inserts in flight. */
    const load = async (
      store: RedisSessionStore,
      tag: string,
      n: number,
      make: (id: string, i: number) => SessionRecord,
    ) => {
      for (let i = 1; i <= n; i += LOAD_CONCURRENCY) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < Math.min(i + LOAD_CONCURRENCY, n + 1); j++)
          batch.push(store.insert(make(`${tag}${j}`, j)));
        await Promise.all(batch);
      }
    };
    const disconnected = (id: string, due: number): SessionRecord => ({
      ...createRecord({ id, ownerId: 'bench', initializeParams: INIT_PARAMS }, now, POLICY),
      status: 'disconnected',
      disconnectedAt: now,
      graceExpiresAt: due,
      dueAt: due,
    });

    const main = open('main');
    const m = manager(main);
    const hot = 'hot-session';
    await m.initialize(hot, { initializeParams: INIT_PARAMS });
    const value = { plan: ['search', 'summarise', 'answer'], step: 2, notes: 'x'.repeat(200) };
    const valueJson = JSON.stringify(value);
    await m.saveAgentState('planner', hot, 'plan', value);
    const rawKey = (k: string) => `bench-${RUN}-raw:${k}`;
    await raw.set(rawKey('plan'), valueJson);

    // Recover: each call needs a disconnected session of its own; raw baselines get plain keys.
    await load(main, 'rm', RECOVERIES + 50, (id) => disconnected(id, now + GRACE_MS));
    const rawRecord = JSON.stringify(disconnected('raw', now + GRACE_MS));
    for (let i = 1; i <= RECOVERIES + 50; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, RECOVERIES + 51 - i) }, (_, j) =>
          raw.set(rawKey(`rr${i + j}`), rawRecord),
        ),
      );
    }
    const counters = { rm: 0, rr: 0 };
    const next = (tag: keyof typeof counters) => {
      if (++counters[tag] > RECOVERIES + 50) throw new Error(`ran out of ${tag} sessions`);
      return `${tag}${counters[tag]}`;
    };

    // 100k sessions initialized (and so held) by one manager.
    const ticker = manager(open('tick'));
    const tickIds = Array.from({ length: TICK_SESSIONS }, (_, i) => `tick${i + 1}`);
    for (let i = 0; i < tickIds.length; i += LOAD_CONCURRENCY) {
      await Promise.all(tickIds.slice(i, i + LOAD_CONCURRENCY).map((id) => ticker.initialize(id)));
    }

    // Sweep: disconnected sessions whose grace ends 1 ms apart; each run moves the clock 1k further.
    const sweepGroup = async (name: string, size: number) => {
      const store = open(name);
      const started = Date.now();
      await load(store, 'd', size, (id, i) => disconnected(id, now + i));
      process.stderr.write(
        `  loaded ${size.toLocaleString('en-US')} sessions in ${Date.now() - started} ms\n`,
      );
      let k = 0;
      const sweeper = manager(store, { now: () => now + k * SWEEP_BATCH });
      return async () => {
        k++;
        if (k * SWEEP_BATCH > size) throw new Error('sweep ran out of due sessions');
        const result = await sweeper.cleanupExpired();
        if (result.expired !== SWEEP_BATCH)
          throw new Error(`swept ${result.expired}, expected ${SWEEP_BATCH}`);
      };
    };
    const sweepSmall = await sweepGroup('s10k', 10_000);
    const sweepLarge = await sweepGroup('s1m', Math.max(SWEEP_LARGE, (SWEEP_RUNS + 2) * SWEEP_BATCH));

    return [
      {
        name: 'heartbeat',
        goal: 'ratio <= 1.5',
        baseline: { name: 'raw SET', fn: () => raw.set(rawKey('hb'), String(Date.now())) },
        subjects: [{ name: 'manager.heartbeat', fn: () => m.heartbeat(hot) }],
      },
      {
        name: 'recover',
        goal: 'ratio <= 1.5',
        iterations: RECOVERIES,
        baseline: {
          name: 'raw GET + SET',
          fn: async () => {
            const key = rawKey(next('rr'));
            const record = JSON.parse((await raw.get(key)) ?? 'null') as SessionRecord;
            await raw.set(key, JSON.stringify({ ...record, status: 'active', version: record.version + 1 }));
          },
        },
        subjects: [{ name: 'manager.recover (get + CAS script)', fn: () => m.recover(next('rm')) }],
      },
      {
        name: 'saveAgentState',
        goal: 'ratio <= 1.5',
        baseline: { name: 'raw SET', fn: () => raw.set(rawKey('plan'), JSON.stringify(value)) },
        subjects: [
          { name: 'manager.saveAgentState', fn: () => m.saveAgentState('planner', hot, 'plan', value) },
        ],
      },
      {
        name: 'loadAgentState',
        goal: 'ratio <= 1.5',
        baseline: {
          name: 'raw GET + JSON.parse',
          fn: async () => JSON.parse((await raw.get(rawKey('plan'))) ?? 'null'),
        },
        subjects: [{ name: 'manager.loadAgentState', fn: () => m.loadAgentState('planner', hot, 'plan') }],
      },
      {
        name: `heartbeat tick, ${TICK_SESSIONS / 1000}k sessions`,
        goal: 'median < 1 s',
        iterations: 5,
        baseline: {
          name: 'raw SET per session, pipelined 1000 at a time',
          fn: async () => {
            const t = String(Date.now());
            for (let i = 0; i < tickIds.length; i += 1000) {
              await Promise.all(tickIds.slice(i, i + 1000).map((id) => raw.set(rawKey(id), t)));
            }
          },
        },
        subjects: [
          {
            name: 'manager.tick()',
            fn: async () => {
              const touched = await ticker.tick();
              if (touched !== TICK_SESSIONS) throw new Error(`touched ${touched}`);
            },
          },
        ],
      },
      {
        name: 'sweep 1k due sessions (expire + purge)',
        goal: 'ratio <= 2',
        iterations: SWEEP_RUNS,
        baseline: { name: 'among 10k', fn: sweepSmall },
        subjects: [{ name: `among ${(SWEEP_LARGE / 1000).toLocaleString('en-US')}k`, fn: sweepLarge }],
      },
    ];
  },

  async teardown() {
    for (const close of cleanup.reverse()) await close();
    if (server) {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  },
};

export default suite;
