import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterAll, afterEach, beforeEach, describe, it } from 'vitest';
import { tempDir } from './helpers';

/** Each test's temp directory, keyed by the store over it (a reopened store takes over the key). */
const dirs = new Map<SessionStore, ReturnType<typeof tempDir>>();
/** One file for every bus of this run (each test uses fresh session ids). */
const busDir = tempDir();
afterAll(() => busDir.cleanup());

runConformance({
  name: 'sqlite',
  describe,
  it,
  beforeEach,
  afterEach,
  createBus: () => new SqliteSessionBus({ filename: busDir.file('bus.db') }),
  createStore: () => {
    const tmp = tempDir();
    const store = new SqliteSessionStore({ filename: tmp.file() });
    dirs.set(store, tmp);
    return store;
  },
  reopenStore: async (store) => {
    const tmp = dirs.get(store)!;
    dirs.delete(store);
    const reopened = new SqliteSessionStore({ filename: tmp.file() });
    dirs.set(reopened, tmp);
    return reopened;
  },
  destroyStore: async (store) => {
    await store.close();
    dirs.get(store)?.cleanup();
    dirs.delete(store);
  },
});
