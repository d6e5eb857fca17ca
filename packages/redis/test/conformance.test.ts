/**
 * The whole store contract, nothing disabled, against one redis-server and again against the
 * 3-node Redis Cluster of the test setup. Each test gets an empty store: a fresh key prefix.
 * (The servers are throwaway processes of this run, so old prefixes are left to die with them.)
 *
 * `durable` is declared as the servers are configured (the shared ones run without AOF, so the
 * suite skips its durability group there and says so); the durability group then runs on its
 * own against a redis-server with `appendonly yes` + `appendfsync always`.
 */
import { rmSync } from 'node:fs';
import { durabilityTests, runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest';
import { startRedis, which } from '../../../test/services';
import { RedisSessionBus, RedisSessionStore, type RedisStoreOptions } from '../src/index';
import { CLUSTER_URLS, rawClient, SINGLE_URL, targets, uniquePrefix } from './support';

for (const target of targets) {
  describe.skipIf(target.missing !== undefined)(target.name, () => {
    let durable = false;
    beforeAll(async () => {
      const raw = await rawClient(target);
      try {
        durable = await raw.durable();
      } finally {
        await raw.close();
      }
    });
    const prefixes = new WeakMap<SessionStore, string>();
    const open = (prefix: string, options: RedisStoreOptions = {}): RedisSessionStore => {
      const store = target.store({ prefix, durable, ...options });
      prefixes.set(store, prefix);
      return store;
    };
    runConformance({
      name: target.name,
      describe,
      it,
      beforeEach,
      afterEach,
      createStore: () => open(uniquePrefix()),
      reopenStore: async (store) => open(prefixes.get(store) ?? uniquePrefix()),
      createBus: () =>
        target.name === 'redis'
          ? new RedisSessionBus({ url: SINGLE_URL ?? '' })
          : new RedisSessionBus({ clusterUrls: CLUSTER_URLS ?? [] }),
    });
  });
}

const hasRedis = which('redis-server') !== undefined;
if (!hasRedis) console.warn('!!! redis durability conformance SKIPPED: redis-server is not installed');

describe.skipIf(!hasRedis)('redis with AOF (appendfsync always)', () => {
  let server: Awaited<ReturnType<typeof startRedis>> | undefined;
  beforeAll(async () => {
    server = await startRedis({ appendonly: true });
  });
  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });
  const prefixes = new WeakMap<SessionStore, string>();
  const open = (prefix: string) => {
    const store = new RedisSessionStore({ url: server?.url ?? '', prefix, durable: true });
    prefixes.set(store, prefix);
    return store;
  };
  durabilityTests({
    name: 'redis-aof',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => open(uniquePrefix()),
    reopenStore: async (store) => open(prefixes.get(store) ?? uniquePrefix()),
  });
});
