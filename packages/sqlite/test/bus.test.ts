/**
 * The SQLite bus between two real processes on one file, and what the mailbox keeps.
 */
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { exchangeWithChild } from '../../../test/bus-peer';
import { tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
const open: SqliteSessionBus[] = [];
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  for (const bus of open.splice(0)) await bus.close();
  tmp.cleanup();
});

function bus(options: Partial<ConstructorParameters<typeof SqliteSessionBus>[0]> = {}): SqliteSessionBus {
  const b = new SqliteSessionBus({ filename: tmp.file(), ...options });
  open.push(b);
  return b;
}

it('a message published in one process reaches a subscriber in another, in order (both ways)', async () => {
  await exchangeWithChild(bus(), { kind: 'sqlite', filename: tmp.file() });
});

it('shares the file with the store: the mailbox is a table of its own beside the sessions', async () => {
  const store = new SqliteSessionStore({ filename: tmp.file() });
  try {
    const b = bus();
    await store.insert({
      id: 's1',
      status: 'active',
      version: 1,
      principal: null,
      ownerId: 'o',
      createdAt: 1,
      lastHeartbeatAt: 1,
      disconnectedAt: null,
      graceExpiresAt: null,
      recoveryAttempts: 0,
      recoveredAt: null,
      endedAt: null,
      dueAt: 10,
      workingDirectory: null,
      metadata: null,
      initializeParams: null,
    });
    const got: unknown[] = [];
    const arrived = new Promise<void>((resolve) => {
      void b.subscribe('s1', (m) => {
        got.push(m);
        resolve();
      });
    });
    await b.publish('s1', { hello: 1 });
    await arrived;
    expect(got).toEqual([{ hello: 1 }]);
    expect((await store.get('s1'))?.id).toBe('s1');
  } finally {
    await store.close();
  }
});

it('deletes mailbox rows older than retentionMs when publishing', async () => {
  const b = bus({ retentionMs: 60_000 });
  await b.publish('s', { n: 1 });
  const db = new Database(tmp.file());
  try {
    // Age the row instead of waiting: a publish then prunes what is past retention.
    db.prepare('UPDATE "mcp_sessions_bus" SET created_at = created_at - 120000').run();
    const fresh = bus({ retentionMs: 60_000 });
    await fresh.publish('s', { n: 2 });
    const rows = db.prepare('SELECT payload FROM "mcp_sessions_bus" ORDER BY id').all();
    expect(rows).toEqual([{ payload: '{"n":2}' }]);
  } finally {
    db.close();
  }
});

it('runs no poll timer without subscriptions, one while subscribed, none after the last unsubscribe', async () => {
  const b = bus();
  const timer = () => (b as unknown as { timer: unknown }).timer;
  expect(timer()).toBeUndefined();
  const one = await b.subscribe('a', () => {});
  const two = await b.subscribe('b', () => {});
  expect(timer()).toBeDefined();
  await one.unsubscribe();
  expect(timer()).toBeDefined();
  await two.unsubscribe();
  expect(timer()).toBeUndefined();
});
