import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SessionManager, SessionNotFoundError, StoreError } from '@mcp-sessions/core';
import { createTask } from '@mcp-sessions/core/adapter';
import { SCHEMA_VERSION, SqliteOpenError, SqliteSessionStore } from '@mcp-sessions/sqlite';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Child } from './child';
import { fixture, record, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

/** The directory's files with their bytes, to prove a failed open changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

function expectOpenError(filename: string): SqliteOpenError {
  let caught: unknown;
  try {
    new SqliteSessionStore({ filename });
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SqliteOpenError);
  expect(caught).toBeInstanceOf(StoreError);
  const error = caught as SqliteOpenError;
  expect(error.message).toContain(filename);
  expect(error.filename).toBe(filename);
  return error;
}

const TASK_POLICY = { leaseMs: 1000, defaultTtlMs: 60_000 };

/** A migrated file has the tasks table with its three indexes, and keeps, claims and sweeps a task. */
async function expectTasksWork(store: SqliteSessionStore): Promise<void> {
  const indexes = store.db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mcp_sessions_tasks'")
    .all();
  expect(indexes).toEqual(
    expect.arrayContaining([
      { name: 'mcp_sessions_tasks_by_lease' },
      { name: 'mcp_sessions_tasks_by_expiry' },
      { name: 'mcp_sessions_tasks_by_created' },
    ]),
  );
  const task = createTask(
    { id: 'task', request: { method: 'tools/call' }, workerId: 'w1' },
    5000,
    TASK_POLICY,
  );
  expect(await store.insertTask(task)).toBe(true);
  expect(await store.getTask('task')).toEqual(task);
  const [claimed] = await store.claimLapsedTasks({ now: 6000, limit: 5, workerId: 'w2', leaseUntil: 9000 });
  expect(claimed).toMatchObject({ id: 'task', workerId: 'w2', leaseUntil: 9000, version: 2 });
  expect(await store.deleteExpiredTasks(65_000, 5)).toBe(1);
  expect(await store.listTasks({ limit: 5 })).toEqual([]);
}

/** Makes a file unwritable even for root (immutable attribute), or says why it cannot. */
function makeReadOnly(file: string): (() => void) | string {
  chmodSync(file, 0o444);
  if (process.getuid?.() !== 0) return () => chmodSync(file, 0o644);
  try {
    execFileSync('chattr', ['+i', file], { stdio: 'pipe' });
    return () => execFileSync('chattr', ['-i', file]);
  } catch (error) {
    return `running as root and chattr +i failed (${String(error).split('\n')[0]})`;
  }
}

describe('bad paths: a typed error naming the path, nothing created or changed', () => {
  it('a directory that does not exist', () => {
    const filename = join(tmp.dir, 'missing', 'deeper', 'sessions.db');
    const error = expectOpenError(filename);
    expect(error.message).toContain('does not exist');
    expect(existsSync(join(tmp.dir, 'missing'))).toBe(false);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('a read-only file', async (ctx) => {
    const filename = tmp.file();
    const store = new SqliteSessionStore({ filename });
    await store.insert(record('kept'));
    await store.close();
    const restore = makeReadOnly(filename);
    if (typeof restore === 'string') {
      console.warn(`SKIPPED read-only file test: ${restore}`);
      ctx.skip();
      return;
    }
    try {
      const before = snapshot(tmp.dir);
      expectOpenError(filename);
      expect(snapshot(tmp.dir)).toEqual(before);
    } finally {
      restore();
    }
    const reopened = new SqliteSessionStore({ filename });
    expect((await reopened.get('kept'))?.id).toBe('kept');
    await reopened.close();
  });

  it('a file that is not a database', () => {
    const text = tmp.file('notes.txt');
    writeFileSync(text, 'these are my notes, not a database\n'.repeat(100));
    const binary = tmp.file('blob.bin');
    writeFileSync(binary, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 256)));
    const before = snapshot(tmp.dir);
    expect(expectOpenError(text).message).toContain('not a database');
    expectOpenError(binary);
    expect(snapshot(tmp.dir)).toEqual(before);
  });

  it('a directory where the file should be', () => {
    const filename = join(tmp.dir, 'adir');
    mkdirSync(filename);
    expectOpenError(filename);
    expect(readdirSync(filename)).toEqual([]);
  });

  it('a schema newer than this package', async () => {
    const filename = tmp.file();
    const store = new SqliteSessionStore({ filename });
    store.db
      .prepare("UPDATE mcp_sessions_meta SET value = ? WHERE key = 'schema_version'")
      .run(SCHEMA_VERSION + 1);
    await store.close();
    expect(() => new SqliteSessionStore({ filename })).toThrow(/newer than this/);
  });
});

describe('schema', () => {
  it('opens a version 1 file and uses it: event sizes added, list index by creation', async () => {
    const filename = tmp.file();
    const v1 = new Database(filename);
    v1.exec(readFileSync(fixture('schema-v1.sql'), 'utf8'));
    v1.close();
    const infos: unknown[] = [];
    const logger = { debug() {}, info: (_: string, f: unknown) => infos.push(f), warn() {}, error() {} };
    const store = new SqliteSessionStore({ filename, logger });
    expect(infos).toEqual([{ prefix: 'mcp_sessions_', from: 1, to: SCHEMA_VERSION }]);
    expect(
      store.db.prepare("SELECT value FROM mcp_sessions_meta WHERE key = 'schema_version'").get(),
    ).toEqual({ value: String(SCHEMA_VERSION) });
    const indexes = store.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mcp_sessions_sessions'")
      .all();
    expect(indexes).toEqual(
      expect.arrayContaining([
        { name: 'mcp_sessions_sessions_by_created' },
        { name: 'mcp_sessions_sessions_by_due' },
      ]),
    );
    expect(indexes).not.toContainEqual({ name: 'mcp_sessions_sessions_by_status_heartbeat' });

    // Records read back whole; list goes by creation, not by the heartbeat the v1 index held.
    expect(await store.get('old')).toMatchObject({
      principal: 'alice',
      version: 4,
      metadata: { team: 'a' },
      initializeParams: { protocolVersion: '2025-06-18' },
    });
    const page = await store.list({ statuses: ['active', 'disconnected'], limit: 1 });
    expect(page.map((r) => r.id)).toEqual(['new']);
    const rest = await store.list({ statuses: ['active', 'disconnected'], limit: 5, after: page[0]! });
    expect(rest.map((r) => r.id)).toEqual(['old']);

    // The lifecycle through a manager: recover, state, events (seq after v1's), sweep.
    let now = 3000;
    const manager = new SessionManager({ store, timers: false, clock: { now: () => now } });
    expect(await manager.recover('new')).toMatchObject({ status: 'active', recoveryAttempts: 1, version: 3 });
    expect(await manager.loadAgentState('planner', 'old', 'plan')).toEqual({ step: 2 });
    await manager.saveAgentState('planner', 'new', 'plan', { step: 1 });
    await expect(manager.saveAgentState('planner', 'gone', 'plan', 1)).rejects.toBeInstanceOf(
      SessionNotFoundError,
    );
    // Sizes were computed on migration (UTF-8 bytes of each stored message: 100 each).
    expect(await store.trimEvents({ sessionId: 'old', maxBytes: 300 })).toBe(0);
    expect(await store.trimEvents({ sessionId: 'old', maxBytes: 299 })).toBe(1);
    expect(await store.appendEvent({ sessionId: 'old', streamId: 's', message: 1, createdAt: 3000 })).toBe(4);
    expect(await store.trimEvents({ sessionId: 'old', maxBytes: 101 })).toBe(1);
    expect((await store.readEvents({ sessionId: 'old', afterSeq: 0 })).map((e) => e.seq)).toEqual([3, 4]);
    // Long after every grace and tombstone: the due index found them all.
    now = 10 ** 10;
    expect(await manager.cleanupExpired()).toMatchObject({ expired: 2, deleted: 1 });
    await manager.dispose();
    await expectTasksWork(store);
    await store.close();
  });

  it('opens a version 3 file and uses it: the tasks table added, sessions, state and events kept', async () => {
    const filename = tmp.file();
    const v3 = new Database(filename);
    v3.exec(readFileSync(fixture('schema-v3.sql'), 'utf8'));
    v3.close();
    const infos: unknown[] = [];
    const logger = { debug() {}, info: (_: string, f: unknown) => infos.push(f), warn() {}, error() {} };
    const store = new SqliteSessionStore({ filename, logger });
    expect(infos).toEqual([{ prefix: 'mcp_sessions_', from: 3, to: SCHEMA_VERSION }]);
    expect(
      store.db.prepare("SELECT value FROM mcp_sessions_meta WHERE key = 'schema_version'").get(),
    ).toEqual({ value: String(SCHEMA_VERSION) });
    expect(await store.get('kept')).toMatchObject({
      principal: 'alice',
      version: 2,
      metadata: { team: 'a' },
    });
    const page = await store.list({ statuses: ['active', 'disconnected'], limit: 5 });
    expect(page.map((r) => r.id)).toEqual(['idle', 'kept']);
    expect(await store.getState({ sessionId: 'kept', agentId: 'planner', key: 'plan' }, 3000)).toMatchObject({
      value: { step: 2 },
    });
    expect(await store.appendEvent({ sessionId: 'kept', streamId: 's', message: 1, createdAt: 3000 })).toBe(
      2,
    );
    await expectTasksWork(store);
    // Deleting a session leaves tasks alone.
    const request = { method: 'tools/call' };
    await store.insertTask(createTask({ id: 'other', request, workerId: 'w1' }, 5000, TASK_POLICY));
    expect(await store.delete('kept')).toBe(true);
    expect((await store.getTask('other'))?.id).toBe('other');
    await store.close();
  });

  it('is created once and reopened idempotently, with its version recorded', async () => {
    const filename = tmp.file();
    for (let i = 0; i < 3; i++) {
      const store = new SqliteSessionStore({ filename });
      if (i === 0) await store.insert(record('a'));
      expect(
        store.db.prepare("SELECT value FROM mcp_sessions_meta WHERE key = 'schema_version'").get(),
      ).toEqual({
        value: String(SCHEMA_VERSION),
      });
      expect((await store.get('a'))?.id).toBe('a');
      await store.close();
    }
  });

  it('survives processes opening a new file at the same moment', async () => {
    const children = Array.from({ length: 3 }, () => new Child(fixture('opener.ts')));
    try {
      for (const child of children) await child.expect('ready');
      for (let round = 0; round < 20; round++) {
        const filename = tmp.file(`race-${round}.db`);
        const startAt = Date.now() + 100;
        for (const child of children) child.send(`${filename} ${startAt}`);
        for (const child of children) {
          expect(JSON.parse(await child.next())).toEqual({ ok: true, version: String(SCHEMA_VERSION) });
        }
      }
    } finally {
      await Promise.all(children.map((c) => c.end()));
    }
  }, 120_000);
});
