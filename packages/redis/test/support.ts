/**
 * The servers the redis tests run against (started by the vitest global setup) and a fresh,
 * empty store per test: a unique key prefix on a shared server.
 */
import { randomBytes } from 'node:crypto';
import { createClient, createCluster } from '@redis/client';
import { RedisSessionStore, type RedisStoreOptions } from '../src/index';

export const SINGLE_URL = process.env.MCP_SESSIONS_TEST_REDIS_URL;
export const CLUSTER_URLS = process.env.MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS?.split(',').filter(Boolean);

export interface Target {
  name: string;
  /** Why the target cannot run here, if it cannot. */
  missing?: string;
  store(options?: RedisStoreOptions & { prefix?: string }): RedisSessionStore;
}

export const targets: Target[] = [
  {
    name: 'redis',
    missing: SINGLE_URL ? undefined : 'MCP_SESSIONS_TEST_REDIS_URL is not set (no redis-server)',
    store: (options = {}) =>
      new RedisSessionStore({ url: SINGLE_URL ?? '', prefix: uniquePrefix(), ...options }),
  },
  {
    name: 'redis-cluster',
    missing: CLUSTER_URLS?.length
      ? undefined
      : 'MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS is not set (no cluster)',
    store: (options = {}) =>
      new RedisSessionStore({ clusterUrls: CLUSTER_URLS ?? [], prefix: uniquePrefix(), ...options }),
  },
];

for (const t of targets) {
  if (t.missing) console.warn(`!!! redis tests against ${t.name} are SKIPPED: ${t.missing}`);
}

export function uniquePrefix(): string {
  return `t${randomBytes(6).toString('hex')}:`;
}

/** A plain client on the same server(s), to look at what the store wrote. */
export async function rawClient(target: Target) {
  if (target.name === 'redis') {
    const client = createClient({ url: SINGLE_URL });
    client.on('error', () => {});
    await client.connect();
    return {
      client,
      /** Every key whose name starts with `prefix`-based tags (SCAN, never KEYS). */
      async keys(pattern: string): Promise<string[]> {
        const out: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) out.push(...batch);
        return out;
      },
      /** Whether an acknowledged write is on disk: AOF on, fsync on every write. */
      durable: async () => isDurable(client),
      close: () => client.close(),
    };
  }
  const cluster = createCluster({ rootNodes: (CLUSTER_URLS ?? []).map((url) => ({ url })) });
  cluster.on('error', () => {});
  await cluster.connect();
  return {
    client: cluster,
    async keys(pattern: string): Promise<string[]> {
      const out: string[] = [];
      for (const master of cluster.masters) {
        const node = await cluster.nodeClient(master);
        for await (const batch of node.scanIterator({ MATCH: pattern, COUNT: 1000 })) out.push(...batch);
      }
      return out;
    },
    durable: async () => {
      const nodes = await Promise.all(cluster.masters.map((m) => cluster.nodeClient(m)));
      return (await Promise.all(nodes.map(isDurable))).every(Boolean);
    },
    close: () => cluster.close(),
  };
}

async function isDurable(client: { configGet(pattern: string): Promise<Record<string, string>> }) {
  const config = await client.configGet('append*');
  return config.appendonly === 'yes' && config.appendfsync === 'always';
}

/** The hash tag Redis Cluster hashes for `key` (the whole key when there is none). */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}
