/**
 * A Postgres of our own frozen with SIGSTOP (every server process: the postmaster and its
 * backends), as a hung host or a partition looks to a client: calls end with
 * `StoreUnavailableError` within the store's timeouts instead of waiting for as long as the
 * server is frozen, and after SIGCONT the next call succeeds on the same store.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecord } from '@mcp-sessions/conformance';
import { StoreUnavailableError } from '@mcp-sessions/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgBinDir, startPostgres } from '../../../test/services';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_QUERY_TIMEOUT_MS, PostgresSessionStore } from '../src/index';

const bin = pgBinDir();
if (!bin) console.warn('!!! frozen.test.ts: Postgres server binaries not found, frozen-server test skipped');

/** The postmaster and every process under it. */
function serverProcesses(dir: string): number[] {
  const root = Number(readFileSync(join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === found[i]) found.push(pid);
  }
  return found;
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

describe.skipIf(!bin)('a frozen Postgres', () => {
  let server: Awaited<ReturnType<typeof startPostgres>>;
  let frozen: number[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    signal(frozen, 'SIGCONT');
    await server?.stop().catch(() => undefined);
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  it('a store that creates its pool bounds connects and statements by default', async () => {
    const store = new PostgresSessionStore({ connectionString: server.url });
    const options = (
      store.pool as unknown as { options: { connectionTimeoutMillis?: number; query_timeout?: number } }
    ).options;
    expect(options.connectionTimeoutMillis).toBe(DEFAULT_CONNECT_TIMEOUT_MS);
    expect(options.query_timeout).toBe(DEFAULT_QUERY_TIMEOUT_MS);
    expect(DEFAULT_CONNECT_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
    expect(DEFAULT_QUERY_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
    await store.close();
  });

  it('calls fail with StoreUnavailableError while frozen; after SIGCONT the next call succeeds', async () => {
    const timeouts = { connectTimeoutMs: 300, queryTimeoutMs: 300 };
    const now = Date.now();
    const store = new PostgresSessionStore({ connectionString: server.url, ...timeouts });
    await store.insert(makeRecord('before', now));
    frozen = serverProcesses(server.dir);
    signal(frozen, 'SIGSTOP');
    // A store opened during the freeze must connect (and migrate) first.
    const fresh = new PostgresSessionStore({
      connectionString: server.url,
      tablePrefix: 'fresh_',
      ...timeouts,
    });
    try {
      await expect(store.get('before')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.insert(makeRecord('during', now))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(fresh.get('x')).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      signal(frozen, 'SIGCONT');
      frozen = [];
    }
    expect((await store.get('before'))?.id).toBe('before');
    await store.insert(makeRecord('after', now));
    expect((await store.get('after'))?.id).toBe('after');
    expect(await fresh.get('x')).toBeUndefined();
    await store.close();
    await fresh.close();
  });
});
