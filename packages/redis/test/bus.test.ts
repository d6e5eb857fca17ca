/**
 * The Redis bus across real processes (single server and Cluster) and through an outage of a
 * server of its own: typed errors while down, the subscription restored by itself afterwards.
 */
import { rmSync } from 'node:fs';
import { StoreUnavailableError } from '@mcp-sessions/core';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeWithChild, outageDrill } from '../../../test/bus-peer';
import { startRedis, which } from '../../../test/services';
import { RedisSessionBus } from '../src/index';
import { CLUSTER_URLS, hashTag, SINGLE_URL } from './support';

describe.skipIf(!SINGLE_URL)('redis bus', () => {
  it('a message published in one process reaches a subscriber in another, in order (both ways)', async () => {
    const bus = new RedisSessionBus({ url: SINGLE_URL! });
    try {
      await exchangeWithChild(bus, { kind: 'redis', url: SINGLE_URL });
    } finally {
      await bus.close();
    }
  });

  it("works over the user's client (subscribing on a duplicate) and leaves it open on close", async () => {
    const client = createClient({ url: SINGLE_URL });
    client.on('error', () => {});
    await client.connect();
    try {
      const bus = new RedisSessionBus({ client });
      const got: unknown[] = [];
      await bus.subscribe('users-client', (m) => got.push(m));
      await bus.publish('users-client', { ok: 1 });
      await until(() => got.length === 1);
      expect(got).toEqual([{ ok: 1 }]);
      // One subscriber connection for many sessions: the server sees channels, not connections.
      await Promise.all(Array.from({ length: 50 }, (_, i) => bus.subscribe(`many-${i}`, () => {})));
      const clients = String(await client.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
      expect(
        clients
          .trim()
          .split('\n')
          .filter((line) => / sub=5[01] /.test(line)),
      ).toHaveLength(1);
      await bus.close();
      expect(client.isOpen).toBe(true);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.close();
    }
  });
});

describe.skipIf(!CLUSTER_URLS?.length)('redis cluster bus', () => {
  it('a message published in one process reaches a subscriber in another, in order (both ways)', async () => {
    const bus = new RedisSessionBus({ clusterUrls: CLUSTER_URLS! });
    try {
      await exchangeWithChild(bus, { kind: 'redis-cluster', clusterUrls: CLUSTER_URLS });
    } finally {
      await bus.close();
    }
  });

  it("uses sharded pub/sub on the session's hash tag: the channel lives on the node of the session's keys", async () => {
    const bus = new RedisSessionBus({ clusterUrls: CLUSTER_URLS! });
    const client = createClient({ url: CLUSTER_URLS![0] });
    client.on('error', () => {});
    await client.connect();
    try {
      const id = 'Tag{weird}id*?';
      await bus.subscribe(id, () => {});
      const channels: string[] = [];
      for (const url of CLUSTER_URLS!) {
        const node = createClient({ url });
        node.on('error', () => {});
        await node.connect();
        channels.push(...((await node.sendCommand(['PUBSUB', 'SHARDCHANNELS'])) as string[]));
        await node.close();
      }
      const mine = channels.filter((c) => c.endsWith(Buffer.from(id).toString('base64url')));
      expect(mine).toHaveLength(1);
      // The store's key tag for this id under the default prefix and shards: `{mcps:s<n>}`.
      expect(hashTag(mine[0]!)).toMatch(/^mcps:s\d+$/);
    } finally {
      await client.close();
      await bus.close();
    }
  });
});

const hasRedis = which('redis-server') !== undefined;
describe.skipIf(!hasRedis)('redis bus outage', () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  it('publish rejects with StoreUnavailableError while down; afterwards the subscription works without re-subscribing', async () => {
    const bus = new RedisSessionBus({ url: server.url, connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 });
    try {
      await outageDrill(bus, server, (error) => error instanceof StoreUnavailableError);
    } finally {
      await bus.close();
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}
