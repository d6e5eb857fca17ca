/**
 * A redis-server of our own frozen with SIGSTOP, as a hung host or a partition looks to a client:
 * calls (also a first connect) end with `StoreUnavailableError` within the store's timeouts
 * instead of waiting for as long as the server is frozen; after SIGCONT the next call succeeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecord } from '@mcp-sessions/conformance';
import { StoreUnavailableError } from '@mcp-sessions/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, which } from '../../../test/services';
import { RedisSessionStore } from '../src/index';

const hasRedis = which('redis-server') !== undefined;
if (!hasRedis) console.warn('!!! redis frozen-server test SKIPPED: redis-server is not installed');

describe.skipIf(!hasRedis)('a frozen redis-server', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let pid = 0;
  beforeAll(async () => {
    redis = await startRedis();
    pid = Number(readFileSync(join(redis.dir, 'redis.pid'), 'utf8'));
  });
  afterAll(async () => {
    if (pid) process.kill(pid, 'SIGCONT');
    await redis?.stop();
  });

  it('calls fail with StoreUnavailableError while frozen; after SIGCONT the next call succeeds', async () => {
    const timeouts = { connectTimeoutMs: 300, commandTimeoutMs: 300 };
    const now = Date.now();
    const store = new RedisSessionStore({ url: redis.url, ...timeouts });
    await store.insert(makeRecord('before', now));
    process.kill(pid, 'SIGSTOP');
    // A store opened during the freeze must connect first.
    const fresh = new RedisSessionStore({ url: redis.url, prefix: 'fresh:', ...timeouts });
    try {
      await expect(store.get('before')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.insert(makeRecord('during', now))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(fresh.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await store.get('before'))?.id).toBe('before');
    await store.insert(makeRecord('after', now));
    expect((await store.get('after'))?.id).toBe('after');
    expect(await fresh.get('x')).toBeUndefined();
    await store.close();
    await fresh.close();
  });
});
