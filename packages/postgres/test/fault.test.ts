/**
 * A Postgres of our own (fsync on), stopped hard and started again under a loop of writes:
 * typed errors while it is down, the same store (same pool) recovers by itself, and every
 * write that was acknowledged is there afterwards.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { StoreUnavailableError } from '@mcp-sessions/core';
import { createRecord } from '@mcp-sessions/core/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgBinDir, startPostgres } from '../../../test/services';
import { PostgresSessionStore } from '../src/index';

const run = promisify(execFile);
const bin = pgBinDir();
if (!bin) console.warn('!!! fault.test.ts: Postgres server binaries not found, fault test skipped');

const T0 = 1_700_000_000_000;
const policy = {
  gracePeriodMs: 60_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe.skipIf(!bin)('Postgres restarted under load', () => {
  let server: Awaited<ReturnType<typeof startPostgres>>;
  beforeAll(async () => {
    server = await startPostgres({ fsync: true });
  });
  afterAll(async () => {
    await server?.stop().catch(() => undefined);
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  /** `pg_ctl -m immediate`: no checkpoint, WAL replay on start, as after a crash. */
  async function crash(): Promise<void> {
    const args = ['-D', join(server.dir, 'pg'), '-m', 'immediate', '-w', 'stop'];
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', join(bin!, 'pg_ctl'), ...args]);
    else await run(join(bin!, 'pg_ctl'), args);
  }

  it('throws StoreUnavailableError while down, recovers on the same pool, loses no acknowledged write', async () => {
    const store = new PostgresSessionStore({
      connectionString: server.url,
      poolConfig: { max: 4, connectionTimeoutMillis: 2000 },
    });
    const acknowledged: string[] = [];
    const errors: unknown[] = [];
    let stop = false;
    let n = 0;
    const writer = async () => {
      while (!stop) {
        const id = `w${n++}`;
        try {
          await store.insert(createRecord({ id, ownerId: 'w' }, T0, policy));
          await store.setState({
            sessionId: id,
            agentId: 'a',
            key: 'k',
            value: { id },
            updatedAt: T0,
            expiresAt: null,
          });
          acknowledged.push(id);
        } catch (error) {
          errors.push(error);
          await delay(20);
        }
      }
    };
    const writers = [writer(), writer()];
    try {
      await until(() => acknowledged.length >= 200, '200 writes before the crash');
      await crash();
      const ackedBefore = acknowledged.length;
      await until(() => errors.length >= 10, 'writes to fail while the server is down');
      await server.start();
      await until(() => acknowledged.length >= ackedBefore + 200, '200 writes after the restart');
    } finally {
      stop = true;
      await Promise.all(writers);
    }

    expect(errors.length).toBeGreaterThanOrEqual(10);
    for (const error of errors) expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(errors.every((e) => (e as Error).cause !== undefined)).toBe(true);
    for (const id of acknowledged) {
      expect((await store.get(id))?.id).toBe(id);
      expect((await store.getState({ sessionId: id, agentId: 'a', key: 'k' }, T0))?.value).toEqual({ id });
    }
    await store.close();
  }, 120_000);
});
