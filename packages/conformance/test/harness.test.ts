/** The suite's own machinery: skips by name and by capability, store lifecycle, durability. */
import { type SessionStore, StoreUnavailableError } from '@mcp-sessions/core';
import type { StoreCapabilities } from '@mcp-sessions/core/adapter';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { type ConformanceOptions, conformanceTestNames, runConformance } from '../src/index';
import { type ContextStyle, type Outcome, Recorder } from './recorder';

class DeclaredMemory extends MemorySessionStore {
  override readonly capabilities: StoreCapabilities;
  constructor(capabilities: Partial<StoreCapabilities>) {
    super();
    this.capabilities = { atomic: true, durable: false, crossProcess: false, ...capabilities };
  }
}

/**
 * A durable-looking memory store for the durability tests: each handle closes on its own (calls
 * after close() reject), and reopening gives a new handle on the same data.
 */
const targets = new WeakMap<SessionStore, MemorySessionStore>();
function durableHandle(target = new MemorySessionStore()): SessionStore {
  let closed = false;
  const capabilities: StoreCapabilities = { ...target.capabilities, durable: true };
  const handle = new Proxy(target, {
    get(t, key) {
      if (key === 'capabilities') return capabilities;
      if (key === 'close') {
        return async () => {
          closed = true;
        };
      }
      const value: unknown = Reflect.get(t, key, t);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        closed
          ? Promise.reject(new StoreUnavailableError('store handle is closed'))
          : (value as (...a: unknown[]) => unknown).apply(t, args);
    },
  });
  targets.set(handle, target);
  return handle;
}

async function run(
  options: Partial<ConformanceOptions>,
  hooks = true,
  style: ContextStyle = 'vitest',
): Promise<Map<string, Outcome>> {
  const recorder = new Recorder(style);
  const { beforeEach: before, afterEach: after, ...runner } = recorder.runner;
  runConformance({
    name: 'harness',
    createStore: () => new MemorySessionStore(),
    ...runner,
    ...(hooks ? { beforeEach: before, afterEach: after } : {}),
    ...options,
  });
  return recorder.run();
}

const byStatus = (results: Map<string, Outcome>, status: Outcome['status']) =>
  [...results].filter(([, o]) => o.status === status).map(([name]) => name);

describe('conformance harness', () => {
  let warn: MockInstance<typeof console.warn>;
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => warn.mockRestore());

  it('names every test <group>: <title>, uniquely', () => {
    expect(new Set(conformanceTestNames).size).toBe(conformanceTestNames.length);
    for (const name of conformanceTestNames) {
      expect(name).toMatch(
        /^(records|cas|listing|due|state|events|concurrency|values|lifecycle|once|durability|tasks|bus): \S/,
      );
    }
  });

  it('skips a disabled test by its full name and prints why', async () => {
    const name = 'records: insert rejects a duplicate id';
    const results = await run({ disabled: [name, 'records: no such test'] });
    expect(results.get(name)?.status).toBe('skip');
    expect(warn).toHaveBeenCalledWith(
      `[conformance harness] skipped "${name}" — disabled by options.disabled`,
    );
    expect(warn).toHaveBeenCalledWith(
      '[conformance harness] disabled test "records: no such test" does not exist',
    );
    expect(byStatus(results, 'fail')).toEqual([]);
  });

  for (const style of ['vitest', 'node'] as const) {
    it(`skips the concurrency tests of a store declaring atomic: false, with the reason (${style} context)`, async () => {
      const results = await run({ createStore: () => new DeclaredMemory({ atomic: false }) }, true, style);
      const concurrency = conformanceTestNames.filter((n) => n.startsWith('concurrency: '));
      expect(concurrency.length).toBeGreaterThanOrEqual(5);
      for (const name of concurrency) {
        expect(results.get(name)).toEqual({ status: 'skip', reason: 'store declares atomic: false' });
        expect(warn).toHaveBeenCalledWith(
          `[conformance harness] skipped "${name}" — store declares atomic: false`,
        );
      }
      expect(byStatus(results, 'fail')).toEqual([]);
    });
  }

  it('creates and destroys one store per test, with or without hooks', async () => {
    for (const hooks of [true, false]) {
      let created = 0;
      let destroyed = 0;
      const results = await run(
        {
          createStore: () => {
            created++;
            return new MemorySessionStore();
          },
          destroyStore: async () => {
            destroyed++;
          },
        },
        hooks,
      );
      expect(byStatus(results, 'fail')).toEqual([]);
      const ran = results.size - byStatus(results, 'skip').length;
      expect(created).toBe(ran);
      expect(destroyed).toBe(created);
    }
  });

  it('runs the durability tests when the store is durable and reopenStore is given', async () => {
    const results = await run({
      createStore: () => durableHandle(),
      reopenStore: async (store: SessionStore) => durableHandle(targets.get(store)),
    });
    const durability = conformanceTestNames.filter((n) => n.startsWith('durability: '));
    for (const name of durability) expect(results.get(name)).toEqual({ status: 'pass' });
    expect(byStatus(results, 'fail')).toEqual([]);
  });

  it('fails the durability tests of a store that forgets on reopen', async () => {
    const results = await run({
      createStore: () => new DeclaredMemory({ durable: true }),
      reopenStore: async () => new DeclaredMemory({ durable: true }),
    });
    expect(byStatus(results, 'fail').sort()).toEqual(
      conformanceTestNames.filter((n) => n.startsWith('durability: ')).sort(),
    );
  });

  it('skips the durability tests of a store that declares durable: false', async () => {
    const results = await run({ reopenStore: async (store: SessionStore) => store });
    for (const name of conformanceTestNames.filter((n) => n.startsWith('durability: '))) {
      expect(results.get(name)).toEqual({ status: 'skip', reason: 'store declares durable: false' });
    }
  });
});
