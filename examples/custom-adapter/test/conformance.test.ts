import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { JsonFileSessionStore } from '../src/index';

/** Each test's directory, keyed by the store over it (a reopened store takes over the key). */
const dirs = new Map<SessionStore, string>();

runConformance({
  name: 'json-file',
  describe,
  it,
  beforeEach,
  afterEach,
  createStore: () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-json-file-'));
    const store = new JsonFileSessionStore({ filename: join(dir, 'sessions.jsonl') });
    dirs.set(store, dir);
    return store;
  },
  // The durability tests: close, then a new store over the same file must hold everything.
  reopenStore: async (store) => {
    const dir = dirs.get(store)!;
    dirs.delete(store);
    const reopened = new JsonFileSessionStore({ filename: join(dir, 'sessions.jsonl') });
    dirs.set(reopened, dir);
    return reopened;
  },
  destroyStore: async (store) => {
    await store.close();
    rmSync(dirs.get(store)!, { recursive: true, force: true });
    dirs.delete(store);
  },
});
