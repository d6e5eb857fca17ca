/**
 * The cost of the Keyv bridge: heartbeat, saveAgentState and loadAgentState through a
 * SessionManager over `KeyvSessionStore`, each against the native adapter on the same backend
 * (MemorySessionStore for a Keyv over a Map; RedisSessionStore for @keyv/redis on the same
 * redis-server). 1,000 sessions are live in each store, so index values are not trivially empty.
 * The clock moves 30 s per heartbeat, as the default heartbeat interval does, so the bridge's
 * time-bucketed indexes really move. Uses MCP_SESSIONS_TEST_REDIS_URL, else starts its own
 * redis-server (no AOF: the figures are about the stores, not the disk).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import KeyvRedis from '@keyv/redis';
import { type Clock, type JsonValue, SessionManager, type SessionStore } from '@mcp-sessions/core';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { RedisSessionStore } from '@mcp-sessions/redis';
import Keyv from 'keyv';
import { startRedis, which } from '../../test/services';
import type { BenchCase, BenchGroup, BenchSuite } from '../harness';

const RUN = randomBytes(4).toString('hex');
const SESSIONS = 1000;
const HEARTBEAT_STEP_MS = 30_000;
const VALUE: JsonValue = { step: 2, plan: ['search', 'summarise'], done: false };
const POLICY = {
  gracePeriodMs: 10 * 60_000,
  heartbeatIntervalMs: 30_000,
  staleAfterMs: 90_000,
  maxRecoveryAttempts: 3,
};

class SteppingClock implements Clock {
  t = Date.now();
  now(): number {
    return this.t;
  }
}

let redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
let server: Awaited<ReturnType<typeof startRedis>> | undefined;
const cleanup: Array<() => Promise<void>> = [];

interface Subject {
  manager: SessionManager;
  clock: SteppingClock;
  id: string;
}

async function subject(store: SessionStore): Promise<Subject> {
  const clock = new SteppingClock();
  const manager = new SessionManager({ store, timers: false, clock, instanceId: 'bench', ...POLICY });
  for (let i = 0; i < SESSIONS; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => manager.initialize(`s-${RUN}-${i + j}`)));
  }
  const id = `s-${RUN}-0`;
  await manager.saveAgentState('agent', id, 'plan', VALUE);
  cleanup.push(() => manager.dispose());
  return { manager, clock, id };
}

function cases(name: string, s: Subject): Record<'heartbeat' | 'save' | 'load', BenchCase> {
  return {
    heartbeat: {
      name,
      fn: () => {
        s.clock.t += HEARTBEAT_STEP_MS;
        return s.manager.heartbeat(s.id);
      },
    },
    save: { name, fn: () => s.manager.saveAgentState('agent', s.id, 'plan', VALUE) },
    load: { name, fn: () => s.manager.loadAgentState('agent', s.id, 'plan') },
  };
}

function groups(backend: string, native: Subject, bridge: Subject): BenchGroup[] {
  const n = cases(`${backend} native`, native);
  const b = cases(`${backend} via keyv`, bridge);
  return [
    { name: `heartbeat (${backend})`, baseline: n.heartbeat, subjects: [b.heartbeat] },
    { name: `saveAgentState (${backend})`, baseline: n.save, subjects: [b.save] },
    { name: `loadAgentState (${backend})`, baseline: n.load, subjects: [b.load] },
  ];
}

const suite: BenchSuite = {
  name: 'keyv',
  async groups(): Promise<BenchGroup[]> {
    const out: BenchGroup[] = [];

    const memoryBridge = new KeyvSessionStore(new Keyv({ throwOnErrors: true }));
    cleanup.push(() => memoryBridge.close());
    out.push(...groups('memory', await subject(new MemorySessionStore()), await subject(memoryBridge)));

    if (!redisUrl && which('redis-server')) {
      server = await startRedis();
      redisUrl = server.url;
    }
    if (!redisUrl) {
      process.stdout.write('!!! keyv bench: no redis-server, the Redis rows are skipped\n');
      return out;
    }
    const native = new RedisSessionStore({ url: redisUrl, prefix: `bench-keyv-${RUN}-native:` });
    cleanup.push(() => native.close());
    const keyv = new Keyv(new KeyvRedis(redisUrl), { throwOnErrors: true });
    const bridge = new KeyvSessionStore(keyv, { prefix: `bench-keyv-${RUN}-bridge` });
    cleanup.push(async () => {
      await bridge.close();
      await keyv.disconnect();
    });
    out.push(...groups('redis', await subject(native), await subject(bridge)));
    return out;
  },
  async teardown() {
    for (const step of cleanup.reverse()) await step();
    if (server) {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  },
};

export default suite;
