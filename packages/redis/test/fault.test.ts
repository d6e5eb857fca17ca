/**
 * Redis dies under a heartbeating manager and comes back: calls fail fast with a typed error, the
 * same manager carries on afterwards, and with AOF (`appendfsync always`) no acknowledged write is lost.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SessionManager, StoreUnavailableError } from '@mcp-sessions/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, which } from '../../../test/services';
import { RedisSessionStore } from '../src/index';

const hasRedis = which('redis-server') !== undefined;
if (!hasRedis) console.warn('!!! redis fault test SKIPPED: redis-server is not installed');

const SESSIONS = 1_000;
const COMMAND_TIMEOUT_MS = 1_000;

describe.skipIf(!hasRedis)('redis outage under a heartbeating manager', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await redis?.stop();
  });

  it('rejects with StoreUnavailableError during the outage, resumes after, loses no acknowledged write', async () => {
    const store = new RedisSessionStore({
      url: redis.url,
      durable: true,
      connectTimeoutMs: COMMAND_TIMEOUT_MS,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    let now = Date.now();
    const manager = new SessionManager({ store, timers: false, clock: { now: () => now } });
    try {
      const ids = Array.from({ length: SESSIONS }, (_, i) => `fault-${i}`);
      for (let i = 0; i < ids.length; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map((id) => manager.initialize(id)));
      }
      now += 1_000;
      expect(await manager.tick()).toBe(SESSIONS);

      // A stream of writes, 20 in flight at a time; the server is killed (SIGKILL: no shutdown
      // flush) once 300 are acknowledged. Every acknowledged one must survive the restart.
      const acknowledged: string[] = [];
      const pid = Number(readFileSync(join(redis.dir, 'redis.pid'), 'utf8'));
      let next = 0;
      const writer = async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          try {
            await manager.saveAgentState('agent', id, 'k', { i: ids.indexOf(id) });
            acknowledged.push(id);
            if (acknowledged.length === 300) process.kill(pid, 'SIGKILL');
          } catch (error) {
            expect(error).toBeInstanceOf(StoreUnavailableError);
            return;
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, writer));
      expect(acknowledged.length).toBeGreaterThanOrEqual(300);
      expect(acknowledged.length).toBeLessThan(SESSIONS);

      // During the outage: every call rejects, typed, bounded by the configured timeouts.
      now += 30_000;
      for (const call of [
        () => manager.tick(),
        () => manager.heartbeat(ids[0]!),
        () => manager.saveAgentState('agent', ids[1]!, 'k', 1),
        () => manager.loadAgentState('agent', ids[1]!, 'k'),
        () => manager.recover(ids[2]!),
        () => manager.cleanupExpired(),
      ]) {
        const started = Date.now();
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        // A bound, not a speed: the call must not outlive connect + command timeouts by much.
        expect(Date.now() - started).toBeLessThan(2 * COMMAND_TIMEOUT_MS + 1_000);
      }
      expect(manager.heldSessionIds.size).toBe(SESSIONS);

      // Same port, same directory: the AOF is replayed. The same manager resumes on its own.
      await redis.start();
      let touched = 0;
      for (let attempt = 0; attempt < 100 && touched === 0; attempt++) {
        touched = await manager.tick().catch((error: unknown) => {
          expect(error).toBeInstanceOf(StoreUnavailableError);
          return new Promise<number>((r) => setTimeout(() => r(0), 100));
        });
      }
      expect(touched).toBe(SESSIONS);

      for (const [n, id] of acknowledged.entries()) {
        expect(await manager.loadAgentState('agent', id, 'k'), `acknowledged write #${n}`).toEqual({
          i: ids.indexOf(id),
        });
      }
      expect((await store.get(ids[0]!))?.status).toBe('active');
      expect(unhandled).toEqual([]);
    } finally {
      await manager.dispose();
      await store.close();
    }
  }, 60_000);
});
