import { MemorySessionStore } from '@mcp-sessions/memory';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { createEventStore } from '../src/http/index';
import { STANDALONE_STREAM_ID } from '../src/http/sdk-assumptions';
import { SessionManager, SessionNotFoundError } from '../src/index';

function setup(options: Parameters<typeof createEventStore>[1] = {}) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const store = new MemorySessionStore();
  const manager = new SessionManager({ store, clock, timers: false });
  const events = createEventStore(manager, { clock, ...options });
  return { store, manager, events, advance: (ms: number) => (now += ms) };
}

const note = (n: number): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { data: n },
});

async function replay(store: ReturnType<ReturnType<typeof createEventStore>['forSession']>, id: string) {
  const seen: { id: string; message: unknown }[] = [];
  const stream = await store.replayEventsAfter(id, {
    send: async (eventId, message) => {
      seen.push({ id: eventId, message });
    },
  });
  return { stream, seen };
}

describe('createEventStore', () => {
  it('replays the events after an id, in order, only of that stream, even within one millisecond', async () => {
    const { manager, events } = setup();
    await manager.initialize('s1');
    const es = events.forSession('s1');
    const first = await es.storeEvent('stream-a', note(1));
    await es.storeEvent('stream-b', note(100));
    await es.storeEvent('stream-a', note(2));
    await es.storeEvent('stream-a', note(3));
    const { stream, seen } = await replay(es, first);
    expect(stream).toBe('stream-a');
    expect(seen.map((e) => (e.message as unknown as { params: { data: number } }).params.data)).toEqual([
      2, 3,
    ]);
    // The ids replayed are ids the store accepts again (a client may resume a resumed stream).
    expect(await es.getStreamIdForEventId(seen[0]!.id)).toBe('stream-a');
  });

  it('round-trips the standalone GET stream id and ids with underscores, dots and unicode', async () => {
    const { manager, events } = setup();
    await manager.initialize('s1');
    const es = events.forSession('s1');
    for (const streamId of ['_GET_stream', 'a_b_c', 'x.y.z', 'naïve ☃', crypto.randomUUID()]) {
      const id = await es.storeEvent(streamId, note(1));
      await es.storeEvent(streamId, note(2));
      expect(await es.getStreamIdForEventId(id)).toBe(streamId);
      const { stream, seen } = await replay(es, id);
      expect(stream).toBe(streamId);
      expect(seen).toHaveLength(1);
    }
  });

  it("refuses another session's event id (GHSA-84j6-jc92-77jm) and malformed ids", async () => {
    const { manager, events } = setup();
    await manager.initialize('victim');
    await manager.initialize('attacker');
    const victim = events.forSession('victim');
    const attacker = events.forSession('attacker');
    const id = await victim.storeEvent('_GET_stream', note(1));
    await victim.storeEvent('_GET_stream', note(2));
    expect(await attacker.getStreamIdForEventId(id)).toBeUndefined();
    await expect(replay(attacker, id)).rejects.toThrow(/not an event of this session/);
    for (const bad of ['', '1', '1_GET_stream', 'x.y.z', `00.${id.split('.')[1]}.${id.split('.')[2]}`]) {
      expect(await victim.getStreamIdForEventId(bad)).toBeUndefined();
    }
  });

  it("a request stream's priming event stores nothing; replaying after it replays the whole stream", async () => {
    const { manager, store, events } = setup();
    await manager.initialize('s1');
    const es = events.forSession('s1');
    await es.storeEvent('post-0', note(0));
    const priming = await es.storeEvent('post-1', {} as JSONRPCMessage);
    await es.storeEvent('post-1', note(1));
    await es.storeEvent('post-1', note(2));
    expect((await store.readEvents({ sessionId: 's1', afterSeq: 0 })).map((e) => e.message)).toEqual([
      note(0),
      note(1),
      note(2),
    ]);
    expect(await es.getStreamIdForEventId(priming)).toBe('post-1');
    const { seen } = await replay(es, priming);
    expect(seen.map((e) => e.message)).toEqual([note(1), note(2)]);
  });

  it('priming fails as an append would: the session gone or ended', async () => {
    const { manager, events } = setup();
    await manager.initialize('s1');
    await manager.initialize('s2');
    await manager.close('s2');
    await expect(events.forSession('nobody').storeEvent('post-1', {} as JSONRPCMessage)).rejects.toThrow(
      SessionNotFoundError,
    );
    await expect(events.forSession('s2').storeEvent('post-1', {} as JSONRPCMessage)).rejects.toThrow(
      SessionNotFoundError,
    );
  });

  it('skips priming events stored by earlier versions on replay', async () => {
    const { manager, store, events } = setup();
    await manager.initialize('s1');
    const es = events.forSession('s1');
    const first = await es.storeEvent(STANDALONE_STREAM_ID, note(1));
    await store.appendEvent({ sessionId: 's1', streamId: STANDALONE_STREAM_ID, message: {}, createdAt: 0 });
    await es.storeEvent(STANDALONE_STREAM_ID, note(2));
    const { seen } = await replay(es, first);
    expect(seen.map((e) => e.message)).toEqual([note(2)]);
  });

  it('trims by count and by age on append', async () => {
    const { manager, store, events, advance } = setup({ maxEvents: 5, maxAgeMs: 1000, trimEvery: 1 });
    await manager.initialize('s1');
    const es = events.forSession('s1');
    for (let i = 1; i <= 8; i++) await es.storeEvent('s', note(i));
    expect((await store.readEvents({ sessionId: 's1', afterSeq: 0 })).map((e) => e.seq)).toEqual([
      4, 5, 6, 7, 8,
    ]);
    advance(1500);
    await es.storeEvent('s', note(9));
    expect((await store.readEvents({ sessionId: 's1', afterSeq: 0 })).map((e) => e.seq)).toEqual([9]);
  });

  it('refuses to store for a session that is not live', async () => {
    const { manager, events } = setup();
    await manager.initialize('s1');
    await manager.close('s1');
    await expect(events.forSession('s1').storeEvent('s', note(1))).rejects.toThrow(/not found/);
  });
});
