/**
 * Shared by the test files: the server URL from the global setup, a schema of its own per file
 * (dropped at the end) and a fresh table prefix per store, so every test starts empty.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresSessionStore, type PostgresStoreBaseOptions } from '../src/index';

export interface TestStoreOptions extends PostgresStoreBaseOptions {
  statementTimeoutMs?: number;
}

export const url = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;

/** Call at the top of a test file; prints why the file is skipped when there is no server. */
export function warnIfNoServer(file: string): void {
  if (!url) console.warn(`!!! ${file}: MCP_SESSIONS_TEST_POSTGRES_URL is not set, Postgres tests skipped`);
}

export function uniqueName(base: string): string {
  return `${base}_${randomBytes(4).toString('hex')}`;
}

/** A schema for one test file; `drop()` removes it with everything in it. */
export function fileSchema(base: string) {
  const schema = uniqueName(base);
  let n = 0;
  return {
    schema,
    /** A store over fresh tables (its own prefix) in this file's schema. */
    store(options: TestStoreOptions = {}): PostgresSessionStore {
      return new PostgresSessionStore({
        connectionString: url!,
        schema,
        tablePrefix: `t${++n}_`,
        poolConfig: { max: 4 },
        ...options,
      });
    },
    async drop(): Promise<void> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
