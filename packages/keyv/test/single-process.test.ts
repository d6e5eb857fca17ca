/**
 * The store declares `atomic: false` because nothing holds across processes. Inside ONE process
 * it serialises per session, per task and per index, and that is what the conformance race tests exercise
 * when the store is presented as atomic: this file runs them against that claim, and only it.
 */
import { type ConformanceOptions, concurrencyTests, taskTests } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import type Keyv from 'keyv';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { memoryKeyv, REDIS_URL, redisKeyv, uniquePrefix } from './backends';

if (!REDIS_URL)
  console.warn('!!! MCP_SESSIONS_TEST_REDIS_URL unset: keyv single-process races over redis are SKIPPED');

/** The same store, claiming atomicity for the races of one process. */
function claimingAtomic(store: KeyvSessionStore): SessionStore {
  return new Proxy(store, {
    get: (target, prop) => {
      if (prop === 'capabilities') return { ...target.capabilities, atomic: true };
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('single-process races over a Map', () => {
  const options: ConformanceOptions = {
    name: 'keyv (Map), one process',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => claimingAtomic(new KeyvSessionStore(memoryKeyv())),
  };
  concurrencyTests(options);
  // Its race: concurrent claims of lapsed tasks, each to one claimer, under the task locks.
  taskTests(options);
});

const clients = new Map<SessionStore, Keyv>();
describe.skipIf(!REDIS_URL)('single-process races over @keyv/redis', () => {
  const options: ConformanceOptions = {
    name: 'keyv (@keyv/redis), one process',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => {
      const keyv = redisKeyv(REDIS_URL!);
      const store = claimingAtomic(new KeyvSessionStore(keyv, { prefix: uniquePrefix() }));
      clients.set(store, keyv);
      return store;
    },
    destroyStore: async (store) => {
      await store.close();
      await clients.get(store)?.disconnect();
      clients.delete(store);
    },
  };
  concurrencyTests(options);
  taskTests(options);
});
