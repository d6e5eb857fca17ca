/**
 * Turns group definitions into runner tests: one describe per group, one `it` per test named
 * `<group>: <title>`, a fresh store per test, skips (by name or by declared capability) that
 * print their reason.
 */
import {
  type SessionBus,
  SessionManager,
  type SessionManagerOptions,
  type SessionStore,
} from '@mcp-sessions/core';
import { HOUR, MINUTE, TestClock } from './fixtures';
import type { ConformanceOptions, ItLike, TestBody } from './types';

/**
 * What a test may demand; unmet demands skip the test with a printed reason. `atomic`,
 * `durable` and `tasks` are store capabilities; `bus` needs `options.createBus`; `backendBus` needs a bus
 * whose reach is `'backend'` (a second bus instance stands for another process).
 */
export type Requirement = 'atomic' | 'durable' | 'tasks' | 'bus' | 'backendBus';

export interface ConformanceContext {
  /** The test's store (after `reopen()`, the reopened one). */
  readonly store: SessionStore;
  /** Starts at the base clock's `now()`; tests move it forward, never sleep. */
  readonly clock: TestClock;
  /** `Math.max(1, round(n × options.scale))`: for the big counts only. */
  count(n: number): number;
  /** A `SessionManager` over the test's store on the test's clock, timers off, disposed after the test. */
  manager(options?: Partial<Omit<SessionManagerOptions, 'store' | 'clock' | 'timers'>>): SessionManager;
  /** Closes the store and opens it again over the same data (`options.reopenStore`). */
  reopen(): Promise<SessionStore>;
  /**
   * A new bus from `options.createBus` (each call: another independent instance on the same
   * backend, as another process would have), closed after the test.
   */
  bus(): Promise<SessionBus>;
}

export interface ConformanceTest {
  readonly title: string;
  readonly requires?: readonly Requirement[];
  run(ctx: ConformanceContext): Promise<void>;
}

export interface GroupDefinition {
  /** The prefix of every test name in the group, e.g. `records`. */
  readonly id: string;
  readonly tests: readonly ConformanceTest[];
}

/** Policy every lifecycle-driving test uses unless it says otherwise: the defaults, spelled out. */
export const TEST_POLICY = {
  gracePeriodMs: 10 * MINUTE,
  heartbeatIntervalMs: 30_000,
  staleAfterMs: 90_000,
  maxRecoveryAttempts: 3,
  tombstoneMs: HOUR,
} as const;

/**
 * Registers `group` with the runner. `standalone` puts the options' name in the describe title
 * (a group used on its own); inside `runConformance` the outer describe carries it.
 */
export function registerGroup(
  group: GroupDefinition,
  options: ConformanceOptions,
  standalone: boolean,
): void {
  const disabled = new Set(options.disabled ?? []);
  options.describe(standalone ? `${options.name} conformance: ${group.id}` : group.id, () => {
    let current: TestState | undefined;
    options.beforeEach?.(async () => {
      current = await openState(options);
    });
    options.afterEach?.(async () => {
      const state = current;
      current = undefined;
      await state?.dispose();
    });

    for (const test of group.tests) {
      const name = `${group.id}: ${test.title}`;
      const staticReason = disabled.has(name)
        ? 'disabled by options.disabled'
        : test.requires?.includes('durable') && !options.reopenStore
          ? 'no reopenStore option'
          : needsBus(test) && !options.createBus
            ? 'no createBus option'
            : undefined;
      if (staticReason) {
        warnSkip(options, name, staticReason);
        registerSkipped(options.it, name, staticReason);
        continue;
      }
      options.it(name, async (runnerContext?: unknown) => {
        current ??= await openState(options);
        const state = current;
        try {
          const reason = await unmet(test.requires ?? [], state.context);
          if (reason) {
            warnSkip(options, name, reason);
            skipAtRuntime(runnerContext, reason);
            return;
          }
          await test.run(state.context);
        } finally {
          if (!options.afterEach) {
            current = undefined;
            await state.dispose();
          }
        }
      });
    }
  });
}

/** Every full test name in `groups`, to check `disabled` against. */
export function testNames(groups: readonly GroupDefinition[]): string[] {
  return groups.flatMap((g) => g.tests.map((t) => `${g.id}: ${t.title}`));
}

// --- Internal helpers ---

interface TestState {
  readonly context: ConformanceContext;
  dispose(): Promise<void>;
}

async function openState(options: ConformanceOptions): Promise<TestState> {
  let store = await options.createStore();
  const clock = new TestClock(Math.floor((options.clock ?? Date).now()));
  const scale = options.scale ?? 1;
  const managers: SessionManager[] = [];
  const buses: SessionBus[] = [];
  let closed = false;

  const context: ConformanceContext = {
    get store() {
      return store;
    },
    clock,
    count: (n) => Math.max(1, Math.round(n * scale)),
    manager(overrides = {}) {
      const manager = new SessionManager({
        ...TEST_POLICY,
        cleanupIntervalMs: 0,
        ...overrides,
        store,
        clock,
        timers: false,
      });
      managers.push(manager);
      return manager;
    },
    async reopen() {
      if (!options.reopenStore) throw new Error('reopen() needs options.reopenStore');
      for (const manager of managers.splice(0)) await manager.dispose();
      closed = true;
      await store.close();
      store = await options.reopenStore(store);
      closed = false;
      return store;
    },
    async bus() {
      if (!options.createBus) throw new Error('bus() needs options.createBus');
      const bus = await options.createBus();
      buses.push(bus);
      return bus;
    },
  };

  return {
    context,
    async dispose() {
      for (const manager of managers.splice(0)) await manager.dispose();
      for (const bus of buses.splice(0)) await bus.close();
      if (closed) return;
      closed = true;
      await (options.destroyStore ? options.destroyStore(store) : store.close());
    },
  };
}

async function unmet(
  requires: readonly Requirement[],
  context: ConformanceContext,
): Promise<string | undefined> {
  for (const requirement of requires) {
    if (requirement === 'bus') continue;
    if (requirement === 'backendBus') {
      const reach = (await context.bus()).reach;
      if (reach !== 'backend') return `bus reach is '${reach}': a second instance is another process's view`;
      continue;
    }
    if (!context.store.capabilities[requirement]) return `store declares ${requirement}: false`;
  }
  return undefined;
}

function needsBus(test: ConformanceTest): boolean {
  return test.requires?.some((r) => r === 'bus' || r === 'backendBus') ?? false;
}

function warnSkip(options: ConformanceOptions, name: string, reason: string): void {
  console.warn(`[conformance ${options.name}] skipped "${name}" — ${reason}`);
}

function registerSkipped(it: ItLike, name: string, reason: string): void {
  const body: TestBody = async () => {};
  if (it.skip) it.skip(name, body);
  else it(`${name} (skipped: ${reason})`, body);
}

/** vitest's `ctx.skip(note)` throws to stop the test; node:test's `t.skip(message)` marks and returns. */
function skipAtRuntime(runnerContext: unknown, reason: string): void {
  // vitest's context is a function object, node:test's a class instance.
  if ((typeof runnerContext !== 'object' && typeof runnerContext !== 'function') || runnerContext === null)
    return;
  const skip: unknown = Reflect.get(runnerContext, 'skip');
  if (typeof skip === 'function') skip.call(runnerContext, reason);
}
