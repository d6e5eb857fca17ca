/**
 * The memory adapter through SessionManager, each row against a bare `Map` doing the same
 * writes; and the heartbeat tick for 100k held sessions against the seed's shape (one timer and
 * one write per session). See bench/results/memory.md for what the baselines mean.
 */
import {
  type Clock,
  generateSessionId,
  type JsonValue,
  SessionManager,
  type SessionRecord,
} from '@mcp-sessions/core';
import { createRecord, heartbeatPatch, type LifecyclePolicy } from '@mcp-sessions/core/adapter';
import { MemorySessionStore } from '@mcp-sessions/memory';
import type { BenchGroup, BenchSuite } from '../harness';

const TICK_SESSIONS = 100_000;
const STALE_MS = 90_000;
const VALUE: JsonValue = { step: 2, plan: ['search', 'summarise'], done: false };

/** A clock the benchmark moves itself, so recovery can be repeated on one session. */
class ManualClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
}

const managers: SessionManager[] = [];

function newManager(clock: Clock, options: { maxRecoveryAttempts?: number } = {}) {
  const manager = new SessionManager({
    store: new MemorySessionStore(),
    clock,
    timers: false,
    staleAfterMs: STALE_MS,
    instanceId: 'bench',
    ...options,
  });
  managers.push(manager);
  return manager;
}

async function operationGroups(): Promise<BenchGroup[]> {
  const clock = new ManualClock();
  const policy: LifecyclePolicy = newManager(clock).policy;

  // heartbeat: one session kept active.
  const hb = newManager(clock);
  const hbId = generateSessionId();
  await hb.initialize(hbId);
  const hbMap = new Map<string, SessionRecord>([
    [hbId, createRecord({ id: hbId, ownerId: hb.instanceId }, clock.t, hb.policy)],
  ]);

  // recover: one session made stale again before each recovery by moving the clock.
  const rc = newManager(clock, { maxRecoveryAttempts: Number.MAX_SAFE_INTEGER });
  const rcId = generateSessionId();
  await rc.initialize(rcId);
  const rcMap = new Map<string, SessionRecord>([
    [rcId, createRecord({ id: rcId, ownerId: rc.instanceId }, clock.t, rc.policy)],
  ]);

  // agent state: one live session, one key overwritten / read.
  const st = newManager(clock);
  const stId = generateSessionId();
  await st.initialize(stId);
  await st.saveAgentState('planner', stId, 'plan', VALUE);
  const stMap = new Map<string, string>([[`${stId}\u0000planner\u0000plan`, JSON.stringify(VALUE)]]);

  return [
    {
      name: 'heartbeat',
      goal: 'median <= 5 µs',
      baseline: {
        name: 'Map get + set',
        fn: async () => {
          const r = hbMap.get(hbId)!;
          const patch = heartbeatPatch(clock.t, policy);
          hbMap.set(hbId, { ...r, lastHeartbeatAt: patch.now, dueAt: patch.dueAt, version: r.version + 1 });
        },
      },
      subjects: [{ name: 'manager.heartbeat', fn: () => hb.heartbeat(hbId) }],
    },
    {
      name: 'recover',
      goal: 'median <= 5 µs',
      baseline: {
        name: 'Map get + set',
        fn: async () => {
          const r = rcMap.get(rcId)!;
          const now = r.lastHeartbeatAt + STALE_MS;
          rcMap.set(rcId, {
            ...r,
            version: r.version + 1,
            lastHeartbeatAt: now,
            recoveryAttempts: r.recoveryAttempts + 1,
            recoveredAt: now,
            dueAt: now + 600_000,
          });
        },
      },
      subjects: [
        {
          name: 'manager.recover (stale)',
          fn: () => {
            clock.t += STALE_MS;
            return rc.recover(rcId);
          },
        },
      ],
    },
    {
      name: 'saveAgentState',
      goal: 'median <= 5 µs',
      baseline: {
        name: 'Map set(JSON.stringify)',
        fn: async () => {
          stMap.set(`${stId}\u0000planner\u0000plan`, JSON.stringify(VALUE));
        },
      },
      subjects: [
        { name: 'manager.saveAgentState', fn: () => st.saveAgentState('planner', stId, 'plan', VALUE) },
      ],
    },
    {
      name: 'loadAgentState',
      goal: 'median <= 5 µs',
      baseline: {
        name: 'Map get + JSON.parse',
        fn: async () => JSON.parse(stMap.get(`${stId}\u0000planner\u0000plan`)!),
      },
      subjects: [{ name: 'manager.loadAgentState', fn: () => st.loadAgentState('planner', stId, 'plan') }],
    },
  ];
}

async function tickGroup(): Promise<BenchGroup> {
  const clock = new ManualClock();
  const ids = Array.from({ length: TICK_SESSIONS }, generateSessionId);

  // The seed's shape: every session has its own timer, and each timer does one write.
  const seedManager = newManager(clock);
  const seedStore = seedManager.store;
  for (const id of ids) await seedManager.initialize(id);
  const seedTick = () =>
    new Promise<void>((resolve, reject) => {
      const patch = heartbeatPatch(++clock.t, seedManager.policy);
      let pending = ids.length;
      for (const id of ids) {
        setTimeout(() => {
          seedStore.touch([id], patch).then(() => {
            if (--pending === 0) resolve();
          }, reject);
        }, 0);
      }
    });
  const seedWrites = async () => {
    const patch = heartbeatPatch(++clock.t, seedManager.policy);
    for (const id of ids) await seedStore.touch([id], patch);
  };

  // mcp-sessions: one timer per manager, one batched touch per 1000 sessions.
  const manager = newManager(clock);
  for (const id of ids) await manager.initialize(id);
  const managerTick = async () => {
    clock.t++;
    const touched = await manager.tick();
    if (touched < TICK_SESSIONS) throw new Error(`touched ${touched}`);
  };
  // Worst case for the tick: membership changed since the last one, so batches are cut anew
  // and the store looks every id up (no remembered rows).
  const churnTick = async () => {
    await manager.initialize(generateSessionId());
    await managerTick();
  };
  // The harness warms each case up once; slow cases get a few more runs so all are compiled.
  for (let i = 0; i < 3; i++) {
    await seedTick();
    await seedWrites();
    await managerTick();
    await churnTick();
  }
  return {
    name: `heartbeat tick, ${TICK_SESSIONS / 1000}k sessions`,
    goal: 'ratio <= 0.05 (>= 20x faster)',
    iterations: 50,
    baseline: { name: 'seed shape: 1 timer + 1 write per session', fn: seedTick },
    subjects: [
      { name: 'seed writes without the timers', fn: seedWrites },
      { name: 'manager.tick (batched touch)', fn: managerTick },
      { name: 'manager.tick after a membership change', fn: churnTick },
    ],
  };
}

const suite: BenchSuite = {
  name: 'memory',
  async groups() {
    return [...(await operationGroups()), await tickGroup()];
  },
  async teardown() {
    await Promise.all(managers.splice(0).map((m) => m.dispose()));
  },
};

export default suite;
