/**
 * The Postgres bus across real processes, over a user's pool, with payloads over NOTIFY's
 * 8000-byte limit, and through a restart of a server of its own.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { StoreUnavailableError } from '@mcp-sessions/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeWithChild, outageDrill } from '../../../test/bus-peer';
import { pgBinDir, startPostgres } from '../../../test/services';
import { PostgresSessionBus } from '../src/index';
import { fileSchema, url, warnIfNoServer } from './support';

warnIfNoServer('bus.test.ts');

describe.skipIf(!url)('postgres bus', () => {
  const db = fileSchema('bus');
  afterAll(() => db.drop());

  it('a message published in one process reaches a subscriber in another, in order (both ways)', async () => {
    const bus = new PostgresSessionBus({ connectionString: url! });
    try {
      await exchangeWithChild(bus, { kind: 'postgres', connectionString: url });
    } finally {
      await bus.close();
    }
  });

  it('sends LISTEN, UNLISTEN and every publish one at a time: no pg deprecation warning, order kept', async () => {
    // pg warns once per process, so the burst runs in a process of its own that throws on it.
    const burst = fileURLToPath(new URL('./fixtures/bus-burst.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--throw-deprecation', '--import', 'tsx', '--conditions=@mcp-sessions/source', burst, url!],
      { cwd: fileURLToPath(new URL('../../../', import.meta.url)), timeout: 60_000 },
    );
    expect(stdout).toBe('ok\n');
  });

  it('a payload over 8000 bytes arrives whole on another instance, by reference to a stored row', async () => {
    const a = new PostgresSessionBus({ connectionString: url!, schema: db.schema });
    const b = new PostgresSessionBus({ connectionString: url!, schema: db.schema });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      const got: unknown[] = [];
      await b.subscribe('big', (m) => got.push(m));
      const big = { text: `€${'y'.repeat(20_000)}`, list: Array.from({ length: 500 }, (_, i) => i) };
      await a.publish('big', { small: 1 });
      await a.publish('big', big);
      await a.publish('big', { small: 2 });
      await until(() => got.length === 3);
      // Order kept around the one that needed a row read.
      expect(got).toEqual([{ small: 1 }, big, { small: 2 }]);
      const rows = await raw.query(
        `SELECT count(*)::int AS n FROM "${db.schema}"."mcp_sessions_bus_payloads"`,
      );
      expect(rows.rows[0].n).toBe(1);
    } finally {
      await raw.end();
      await a.close();
      await b.close();
    }
  });

  it("works over the user's pool with one dedicated connection of its own, and leaves the pool open", async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      const bus = new PostgresSessionBus({ pool });
      const got: unknown[] = [];
      await Promise.all(Array.from({ length: 20 }, (_, i) => bus.subscribe(`pool-${i}`, (m) => got.push(m))));
      await bus.publish('pool-7', { n: 7 });
      await until(() => got.length === 1);
      expect(got).toEqual([{ n: 7 }]);
      // The pool lent nothing to the bus (its LISTEN connection is its own): every client is free.
      expect(pool.totalCount - pool.idleCount).toBe(0);
      await bus.close();
      expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await pool.end();
    }
  });
});

const bin = pgBinDir();
describe.skipIf(!bin)('postgres bus outage', () => {
  let server: Awaited<ReturnType<typeof startPostgres>>;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop().catch(() => undefined);
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  it('publish rejects with StoreUnavailableError while down; afterwards the bus listens again by itself', async () => {
    const bus = new PostgresSessionBus({
      connectionString: server.url,
      connectTimeoutMs: 1_000,
      commandTimeoutMs: 1_000,
    });
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
