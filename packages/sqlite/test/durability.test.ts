import { SessionManager } from '@mcp-sessions/core';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Child } from './child';
import { fixture, record, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

describe('durability', () => {
  it('reads back records, state and events after close and reopen', async () => {
    const filename = tmp.file();
    const store = new SqliteSessionStore({ filename });
    const r = record('kept', {
      metadata: { a: [1, { b: null }] },
      initializeParams: { clientInfo: { name: 'c' } },
    });
    await store.insert(r);
    await store.setState({
      sessionId: 'kept',
      agentId: 'g',
      key: 'k',
      value: { deep: [1, 2] },
      updatedAt: 5,
      expiresAt: 99,
    });
    await store.appendEvent({
      sessionId: 'kept',
      streamId: 's',
      message: { jsonrpc: '2.0', id: 1 },
      createdAt: 7,
    });
    await store.close();

    const reopened = new SqliteSessionStore({ filename });
    expect(await reopened.get('kept')).toEqual(r);
    expect(await reopened.getState({ sessionId: 'kept', agentId: 'g', key: 'k' }, 0)).toEqual({
      sessionId: 'kept',
      agentId: 'g',
      key: 'k',
      value: { deep: [1, 2] },
      updatedAt: 5,
      expiresAt: 99,
    });
    expect(await reopened.readEvents({ sessionId: 'kept', afterSeq: 0 })).toEqual([
      { sessionId: 'kept', streamId: 's', seq: 1, message: { jsonrpc: '2.0', id: 1 }, createdAt: 7 },
    ]);
    // The counter survived too: the next event does not reuse seq 1.
    expect(await reopened.appendEvent({ sessionId: 'kept', streamId: 's', message: 2, createdAt: 8 })).toBe(
      2,
    );
    await reopened.close();
  });

  for (const synchronous of ['NORMAL', 'FULL'] as const) {
    it(`keeps every acknowledged write when the writer is SIGKILLed (synchronous=${synchronous})`, async () => {
      const filename = tmp.file();
      const writer = new Child(fixture('writer.ts'), filename, synchronous);
      const acked: Array<{ i: number; seq: number }> = [];
      try {
        while (acked.length < 300) {
          const [word, i, seq] = (await writer.next()).split(' ');
          expect(word).toBe('ack');
          acked.push({ i: Number(i), seq: Number(seq) });
        }
      } finally {
        await writer.kill('SIGKILL');
      }
      expect(writer.process.signalCode).toBe('SIGKILL');

      const store = new SqliteSessionStore({ filename });
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      const manager = new SessionManager({ store, timers: false });
      for (const { i } of acked) {
        expect(await manager.loadAgentState('writer', 'crash', `k${i}`), `k${i}`).toEqual({
          i,
          pad: 'x'.repeat(i % 500),
        });
      }
      const events = await store.readEvents({ sessionId: 'crash', afterSeq: 0 });
      const seqs = new Set(events.map((e) => e.seq));
      for (const { seq } of acked) expect(seqs.has(seq), `event ${seq}`).toBe(true);
      await manager.dispose();
      await store.close();
    }, 60_000);
  }
});
