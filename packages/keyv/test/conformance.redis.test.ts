import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import type Keyv from 'keyv';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { REDIS_URL, redisKeyv, uniquePrefix } from './backends';

if (!REDIS_URL)
  console.warn('!!! MCP_SESSIONS_TEST_REDIS_URL unset: keyv (@keyv/redis) conformance is SKIPPED');

const clients = new Map<SessionStore, Keyv>();

// The test redis-server runs without AOF, so the store does not claim durability: the suite
// prints the durability tests as skipped. Each test gets its own key prefix on the shared server.
describe.skipIf(!REDIS_URL)('keyv over @keyv/redis', () => {
  runConformance({
    name: 'keyv (@keyv/redis)',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => {
      const keyv = redisKeyv(REDIS_URL!);
      const store = new KeyvSessionStore(keyv, { prefix: uniquePrefix() });
      clients.set(store, keyv);
      return store;
    },
    destroyStore: async (store) => {
      await store.close();
      await clients.get(store)?.disconnect();
      clients.delete(store);
    },
  });
});
