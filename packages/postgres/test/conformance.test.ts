import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { afterAll, afterEach, beforeEach, describe, it } from 'vitest';
import { PostgresSessionBus, PostgresSessionStore } from '../src/index';
import { fileSchema, url, warnIfNoServer } from './support';

warnIfNoServer('conformance.test.ts');

/** This file's schema; every test gets tables of its own (a fresh prefix) in it. */
const db = fileSchema('conformance');
/** The table prefix under each open store (a reopened store takes over its predecessor's). */
const prefixes = new Map<SessionStore, string>();
let n = 0;

const open = (tablePrefix: string) => {
  const store = new PostgresSessionStore({
    connectionString: url!,
    schema: db.schema,
    tablePrefix,
    poolConfig: { max: 4 },
  });
  prefixes.set(store, tablePrefix);
  return store;
};

describe.skipIf(!url)('postgres', () => {
  afterAll(() => db.drop());

  runConformance({
    name: 'postgres',
    describe,
    it,
    beforeEach,
    afterEach,
    createStore: () => open(`c${++n}_`),
    createBus: () => new PostgresSessionBus({ connectionString: url!, schema: db.schema }),
    reopenStore: async (store) => {
      const prefix = prefixes.get(store)!;
      prefixes.delete(store);
      return open(prefix);
    },
    destroyStore: async (store) => {
      prefixes.delete(store);
      await store.close();
    },
  });
});
