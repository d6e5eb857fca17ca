/**
 * Keyv instances over each backend the bridge promises, for the tests: a Map, a real SQLite
 * file, a real redis-server and a real Postgres (URLs from the vitest global setup).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import KeyvPostgres from '@keyv/postgres';
import KeyvRedis from '@keyv/redis';
import KeyvSqlite from '@keyv/sqlite';
import Keyv from 'keyv';

export const REDIS_URL = process.env.MCP_SESSIONS_TEST_REDIS_URL;
export const POSTGRES_URL = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;

/** A fresh key prefix, so tests sharing one backend never see each other's keys. */
export function uniquePrefix(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

export function memoryKeyv(): Keyv {
  return new Keyv({ throwOnErrors: true });
}

export interface SqliteFile {
  file: string;
  open(): Promise<Keyv>;
  remove(): void;
}

/**
 * A temp SQLite file; `open()` gives a new Keyv (and connection) over it each time, in WAL mode
 * with synchronous=NORMAL, as the README recommends (the default rollback journal syncs every
 * one of the bridge's many small writes).
 */
export function sqliteFile(): SqliteFile {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-keyv-'));
  const file = join(dir, 'sessions.db');
  return {
    file,
    open: async () => {
      const adapter = new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: 5_000 });
      await adapter.query('PRAGMA journal_mode=WAL');
      await adapter.query('PRAGMA synchronous=NORMAL');
      return new Keyv(adapter, { throwOnErrors: true });
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function redisKeyv(url: string): Keyv {
  return new Keyv(new KeyvRedis(url), { throwOnErrors: true });
}

/**
 * One table per test file (@keyv/postgres keeps one module-global pool per URI, and its
 * `disconnect()` ends that pool for everyone: call it once, after the file's last test).
 */
export function postgresKeyv(url: string, table: string): Keyv {
  return new Keyv(new KeyvPostgres({ uri: url, table }), { throwOnErrors: true });
}
