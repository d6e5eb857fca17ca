import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import type Keyv from 'keyv';
import { afterAll, afterEach, beforeEach, describe, it } from 'vitest';
import { POSTGRES_URL, postgresKeyv, uniquePrefix } from './backends';

if (!POSTGRES_URL) {
  console.warn('!!! MCP_SESSIONS_TEST_POSTGRES_URL unset: keyv (@keyv/postgres) conformance is SKIPPED');
}

/**
 * One Keyv (one table, one module-global pool) for the whole file; tests are kept apart by key
 * prefix, never by clear(), which would race with the other files' tests on the same server.
 */
let keyv: Keyv | undefined;
const prefixes = new Map<SessionStore, string>();

function open(prefix: string): SessionStore {
  keyv ??= postgresKeyv(POSTGRES_URL!, 'keyv_conformance');
  const store = new KeyvSessionStore(keyv, { prefix, durable: true });
  prefixes.set(store, prefix);
  return store;
}

describe.skipIf(!POSTGRES_URL)('keyv over @keyv/postgres', () => {
  afterAll(async () => {
    await keyv?.disconnect();
  });

  runConformance({
    name: 'keyv (@keyv/postgres)',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => open(uniquePrefix()),
    reopenStore: async (store) => {
      const prefix = prefixes.get(store)!;
      prefixes.delete(store);
      return open(prefix);
    },
    destroyStore: async (store) => {
      prefixes.delete(store);
      await store.close();
    },
  });
});
