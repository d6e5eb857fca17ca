import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '@mcp-sessions/core';
import { SCHEMA_VERSION, SqliteOpenError, SqliteSessionStore } from '@mcp-sessions/sqlite';
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
  it('version 1 files gain event sizes on open, counted in UTF-8 bytes', async () => {
    const filename = tmp.file();
    const v1 = new SqliteSessionStore({ filename });
    await v1.insert(record('a'));
    for (const message of ['x'.repeat(98), 'é'.repeat(49), 'y'.repeat(98)]) {
      await v1.appendEvent({ sessionId: 'a', streamId: 's', message, createdAt: 1000 });
    }
    // Back to the version 1 layout: no size column.
    v1.db.exec(`ALTER TABLE mcp_sessions_events DROP COLUMN size;
      UPDATE mcp_sessions_meta SET value = '1' WHERE key = 'schema_version'`);
    await v1.close();
    const store = new SqliteSessionStore({ filename });
    expect(
      store.db.prepare("SELECT value FROM mcp_sessions_meta WHERE key = 'schema_version'").get(),
    ).toEqual({
      value: String(SCHEMA_VERSION),
    });
    expect(await store.trimEvents({ sessionId: 'a', maxBytes: 300 })).toBe(0);
    expect(await store.trimEvents({ sessionId: 'a', maxBytes: 299 })).toBe(1);
    expect(await store.appendEvent({ sessionId: 'a', streamId: 's', message: 1, createdAt: 1000 })).toBe(4);
    expect(await store.trimEvents({ sessionId: 'a', maxBytes: 101 })).toBe(1);
    expect((await store.readEvents({ sessionId: 'a', afterSeq: 0 })).map((e) => e.seq)).toEqual([3, 4]);
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
