/** Options that cannot work are refused at construction, naming the key and the nearest valid one. */
import { MemorySessionStore } from '@mcp-sessions/memory';
import { describe, expect, it } from 'vitest';
import { createEventStore, createSessionHandler } from '../src/http/index';
import { InvalidArgumentError, SessionManager } from '../src/index';

describe('option checks', () => {
  it('SessionManager: an unknown key names the nearest option', () => {
    const store = new MemorySessionStore();
    expect(() => new SessionManager({ store, gracePeriod: 5 } as never)).toThrow(
      /gracePeriod.*"gracePeriodMs"/,
    );
    expect(() => new SessionManager(undefined as never)).toThrow(InvalidArgumentError);
  });

  it('createSessionHandler: unknown keys, a missing manager or createServer', () => {
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false });
    const createServer = () => ({ connect: async () => {}, close: async () => {} });
    expect(() => createSessionHandler({ manager, createServer, eventstore: {} } as never)).toThrow(
      /eventstore.*"eventStore"/,
    );
    expect(() => createSessionHandler({} as never)).toThrow(/manager/);
    expect(() => createSessionHandler({ manager } as never)).toThrow(/createServer/);
    expect(() => createSessionHandler({ manager, createServer, maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
  });

  it('createEventStore: unknown keys and bad limits', () => {
    const store = new MemorySessionStore();
    expect(() => createEventStore(store, { maxEvent: 5 } as never)).toThrow(/"maxEvents"/);
    expect(() => createEventStore(store, { maxBytes: -1 })).toThrow(/maxBytes/);
  });
});

describe('event log byte budget', () => {
  it('createEventStore keeps at most maxBytes of a session’s events, oldest trimmed first', async () => {
    const store = new MemorySessionStore();
    const manager = new SessionManager({ store, timers: false });
    await manager.initialize('s1');
    const events = createEventStore(manager, { maxBytes: 2_000, trimEvery: 1 }).forSession('s1');
    for (let i = 0; i < 20; i++) {
      await events.storeEvent('stream', {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { i, pad: 'x'.repeat(300) },
      });
    }
    const kept = await store.readEvents({ sessionId: 's1', afterSeq: 0 });
    const bytes = kept.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e.message)), 0);
    expect(bytes).toBeLessThanOrEqual(2_000);
    expect(kept.length).toBeGreaterThan(0);
    expect((kept.at(-1)!.message as { params: { i: number } }).params.i).toBe(19);
  });
});

describe('logs never print a session id', () => {
  it('lifecycle lines carry the short tag, not the id (a bearer credential without a principal)', async () => {
    const { sessionTag } = await import('../src/index');
    const lines: string[] = [];
    const record = (message: string, fields?: Record<string, unknown>) => {
      lines.push(`${message} ${JSON.stringify(fields)}`);
    };
    const logger = { debug: record, info: record, warn: record, error: record };
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false, logger });
    const id = 'a-secret-session-id-0123456789';
    await manager.initialize(id);
    await manager.markDisconnected(id);
    await manager.recover(id);
    await manager.close(id);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.join('\n')).not.toContain(id);
    expect(lines.every((l) => l.includes(sessionTag(id)))).toBe(true);
  });
});
