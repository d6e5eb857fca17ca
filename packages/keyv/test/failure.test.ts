/**
 * A Keyv whose backend goes away must surface `StoreUnavailableError`, never `undefined` or a
 * false success: Keyv and @keyv/redis swallow errors into events by default, so this is the
 * bridge's job. Our own redis-server, stopped mid-test and started again.
 */

import KeyvRedis, { createClient } from '@keyv/redis';
import { type SessionRecord, StoreUnavailableError } from '@mcp-sessions/core';
import { createRecord } from '@mcp-sessions/core/adapter';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import Keyv from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, which } from '../../../test/services';

const hasRedis = which('redis-server') !== undefined;
if (!hasRedis) console.warn('!!! redis-server not installed: the keyv backend-failure tests are SKIPPED');

const policy = { gracePeriodMs: 10_000, maxRecoveryAttempts: 3, staleAfterMs: 3_000, tombstoneMs: 60_000 };
const T0 = Date.now();
const rec = (id: string): SessionRecord => createRecord({ id, ownerId: 'test' }, T0, policy);

describe.skipIf(!hasRedis)('KeyvSessionStore over a redis-server that stops', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** Every kind of operation, so a swallowed error on any path would show as a resolved promise. */
  const operations = (store: KeyvSessionStore) => [
    store.get('s1'),
    store.insert(rec('s2')),
    store.compareAndSet('s1', { ...rec('s1'), version: 2 }, 1),
    store.touch(['s1'], { now: T0 + 1, dueAt: T0 + 2 }),
    store.list({ statuses: ['active'], limit: 10 }),
    store.claimDue({ now: T0 + 10 ** 9, limit: 10, leaseMs: 1 }),
    store.setState({ sessionId: 's1', agentId: 'a', key: 'k', value: 1, updatedAt: T0, expiresAt: null }),
    store.getState({ sessionId: 's1', agentId: 'a', key: 'k' }, T0),
    store.appendEvent({ sessionId: 's1', streamId: 's', message: 1, createdAt: T0 }),
    store.readEvents({ sessionId: 's1', afterSeq: 0 }),
  ];

  it('fails fast with a client that does not queue while offline', async () => {
    // The adapter's own default (throwOnErrors: false) swallows command errors into events.
    const client = createClient({
      url: redis.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 1_000, reconnectStrategy: false },
    });
    const keyv = new Keyv(new KeyvRedis(client), { throwOnErrors: true });
    const store = new KeyvSessionStore(keyv, { prefix: 'fail-fast' });
    await store.insert(rec('s1'));
    expect((await store.get('s1'))!.id).toBe('s1');

    await redis.stop();
    const results = await Promise.allSettled(operations(store));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
    await redis.start();
    await store.close();
    await keyv.disconnect().catch(() => undefined);
  });

  it('bounds the wait with operationTimeoutMs when the client queues and reconnects, then recovers', async () => {
    // KeyvRedis(url): @redis/client's default offline queue and reconnect loop, which would hang.
    const keyv = new Keyv(new KeyvRedis(redis.url), { throwOnErrors: true });
    const store = new KeyvSessionStore(keyv, { prefix: 'reconnect', operationTimeoutMs: 500 });
    await store.insert(rec('s1'));

    await redis.stop();
    const results = await Promise.allSettled(operations(store));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }

    // The server's data is gone (no persistence), the store is usable again once it is back.
    await redis.start();
    let back = false;
    for (let i = 0; i < 100 && !back; i++) {
      back = await store.insert(rec(`after${i}`)).then(
        () => true,
        () => new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
      );
    }
    expect(back).toBe(true);
    await store.close();
    await keyv.disconnect();
  });
});
