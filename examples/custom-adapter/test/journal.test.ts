import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRecord } from '@mcp-sessions/conformance';
import { StoreError, StoreUnavailableError } from '@mcp-sessions/core';
import { livenessOf } from '@mcp-sessions/core/adapter';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonFileSessionStore } from '../src/index';

// What the conformance suite cannot see: the journal file itself.
describe('JsonFileSessionStore journal', () => {
  let dir: string;
  let filename: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-journal-'));
    filename = join(dir, 'sessions.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('drops an append torn by a crash and keeps everything acknowledged before it', async () => {
    const store = new JsonFileSessionStore({ filename });
    await store.insert(makeRecord('kept', 1_000));
    appendFileSync(filename, '[["record",{"id":"torn"'); // the process died mid-write
    const reopened = new JsonFileSessionStore({ filename });
    expect((await reopened.get('kept'))?.id).toBe('kept');
    expect(await reopened.get('torn')).toBeUndefined();
  });

  it('compacts on open: one line per stored item, and the event counter survives trims', async () => {
    const store = new JsonFileSessionStore({ filename });
    await store.insert(makeRecord('s', 1_000));
    for (let i = 0; i < 3; i++) {
      await store.appendEvent({ sessionId: 's', streamId: 'x', message: { i }, createdAt: 1 });
    }
    await store.trimEvents({ sessionId: 's', maxEvents: 0 });
    await store.close();
    const reopened = new JsonFileSessionStore({ filename });
    expect(readFileSync(filename, 'utf8').trim().split('\n')).toHaveLength(2); // the record, the counter
    expect(await reopened.appendEvent({ sessionId: 's', streamId: 'x', message: null, createdAt: 2 })).toBe(
      4,
    );
  });

  it('journals a compare-and-set as the ten liveness fields, whatever else the caller passed', async () => {
    const store = new JsonFileSessionStore({ filename });
    const record = makeRecord('s', 1_000, { metadata: { big: 'x'.repeat(100) } });
    await store.insert(record);
    const next = { ...record, version: 2, status: 'disconnected' as const, metadata: { big: 'y' } };
    expect(await store.compareAndSet('s', next, 1)).toBe(true);
    const [change] = JSON.parse(readFileSync(filename, 'utf8').trim().split('\n').at(-1)!);
    expect(change[0]).toBe('live');
    expect(Object.keys(change[2]).sort()).toEqual(Object.keys(livenessOf(next)).sort());
    const reopened = new JsonFileSessionStore({ filename });
    expect(await reopened.get('s')).toEqual({ ...record, version: 2, status: 'disconnected' });
  });

  it('refuses a file that is not its journal, and every call after close()', async () => {
    writeFileSync(filename, 'not json\n');
    expect(() => new JsonFileSessionStore({ filename })).toThrow(StoreError);
    rmSync(filename);
    const store = new JsonFileSessionStore({ filename });
    await store.close();
    await expect(store.get('s')).rejects.toThrow(StoreUnavailableError);
  });
});
