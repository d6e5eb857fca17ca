import { runConformance } from '@mcp-sessions/conformance';
import type { SessionStore } from '@mcp-sessions/core';
import { KeyvSessionStore } from '@mcp-sessions/keyv';
import type Keyv from 'keyv';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { type SqliteFile, sqliteFile } from './backends';

/** Each test's file and Keyv, keyed by the store over them (a reopened store takes over the key). */
const opened = new Map<SessionStore, { db: SqliteFile; keyv: Keyv }>();

async function open(db: SqliteFile): Promise<SessionStore> {
  const keyv = await db.open();
  const store = new KeyvSessionStore(keyv, { durable: true });
  opened.set(store, { db, keyv });
  return store;
}

runConformance({
  name: 'keyv (@keyv/sqlite)',
  describe,
  it,
  beforeEach,
  afterEach,
  createStore: () => open(sqliteFile()),
  reopenStore: async (store) => {
    const { db, keyv } = opened.get(store)!;
    opened.delete(store);
    await keyv.disconnect();
    return open(db);
  },
  destroyStore: async (store) => {
    await store.close();
    const o = opened.get(store);
    opened.delete(store);
    await o?.keyv.disconnect();
    o?.db.remove();
  },
});
