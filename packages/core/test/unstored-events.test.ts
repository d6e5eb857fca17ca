/**
 * The queue of request-stream messages the event log refused: kept in order, retried with backoff
 * until written, bounded (notifications go before answers), given up after a while by the clock,
 * and every loss logged. Timers are fake and the clock injected: nothing here sleeps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionNotFoundError, StoreError, StoreUnavailableError } from '../src/errors';
import type { TransportEventStore } from '../src/http/handler';
import type { WireMessage } from '../src/http/link';
import { UNSTORED_RETRY_FIRST_MS, UnstoredEvents } from '../src/http/unstored-events';
import type { Logger } from '../src/options';

const SESSION = 'session-unstored-1';

function flakyStore() {
  const written: { streamId: string; message: WireMessage }[] = [];
  const state = { error: undefined as Error | undefined };
  const store: TransportEventStore = {
    storeEvent: async (streamId, message) => {
      if (state.error) throw state.error;
      written.push({ streamId, message });
      return `${written.length}`;
    },
    replayEventsAfter: async () => '',
  };
  return { store, written, state };
}

function logs() {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { lines, logger };
}

const note = (n: number): WireMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/progress',
  params: { progressToken: 't', progress: n },
});
const answer = (id: number): WireMessage => ({ jsonrpc: '2.0', id, result: {} });
const down = () => new StoreUnavailableError('store down');

describe('UnstoredEvents', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps what the store refused, in order, and writes it all once the store is back', async () => {
    const { store, written, state } = flakyStore();
    const { lines, logger } = logs();
    const unstored = new UnstoredEvents(store, { sessionId: SESSION, logger });
    state.error = down();
    unstored.add('s1', note(1), state.error);
    unstored.add('s1', note(2)); // queued behind, not tried
    unstored.add('s1', answer(7));
    expect(unstored.size).toBe(3);
    expect(unstored.holds('s1')).toBe(true);
    expect(unstored.holds('s2')).toBe(false);
    await expect(unstored.flush()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(unstored.size).toBe(3);
    expect(lines.filter((l) => l.startsWith('error'))).toEqual([
      'error event log unavailable: request messages go to the open stream unstored and are written when it is back',
    ]);

    state.error = undefined;
    await unstored.flush();
    expect(written.map((w) => w.message)).toEqual([note(1), note(2), answer(7)]);
    expect(unstored.size).toBe(0);
    expect(lines).toContain('info event log back: unstored request messages written');
  });

  it('retries by itself with backoff until the store is back', async () => {
    const { store, written, state } = flakyStore();
    const { logger } = logs();
    const unstored = new UnstoredEvents(store, { sessionId: SESSION, logger });
    state.error = down();
    unstored.add('s1', answer(1), state.error);
    await vi.advanceTimersByTimeAsync(UNSTORED_RETRY_FIRST_MS);
    expect(written).toHaveLength(0);
    state.error = undefined;
    // The second retry waits twice as long as the first.
    await vi.advanceTimersByTimeAsync(UNSTORED_RETRY_FIRST_MS);
    expect(written).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(UNSTORED_RETRY_FIRST_MS);
    expect(written.map((w) => w.message)).toEqual([answer(1)]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('over the bound, notifications are dropped before answers, and the loss is logged', async () => {
    const { store, written, state } = flakyStore();
    const { lines, logger } = logs();
    const unstored = new UnstoredEvents(store, { sessionId: SESSION, logger, maxMessages: 2 });
    state.error = down();
    unstored.add('s1', note(1), state.error);
    unstored.add('s1', answer(1));
    unstored.add('s2', note(2));
    unstored.add('s2', answer(2));
    expect(unstored.size).toBe(2);
    expect(lines).toContain('error unstored request messages over the bound: the oldest are dropped');
    state.error = undefined;
    await unstored.flush();
    expect(written.map((w) => w.message)).toEqual([answer(1), answer(2)]);
  });

  it('a failure retrying cannot mend is logged and not kept; a session gone is a warning', () => {
    const { store } = flakyStore();
    const { lines, logger } = logs();
    const unstored = new UnstoredEvents(store, { sessionId: SESSION, logger });
    unstored.add('s1', answer(1), new StoreError('corrupt'));
    unstored.add('s1', answer(2), new SessionNotFoundError(SESSION));
    expect(unstored.size).toBe(0);
    expect(lines).toEqual([
      'error request message not stored in the event log',
      'warn request message not stored in the event log',
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives up after giveUpAfterMs of failures: what is left is dropped, and said so', async () => {
    const { store, state } = flakyStore();
    const { lines, logger } = logs();
    let now = 1_000;
    const unstored = new UnstoredEvents(store, {
      sessionId: SESSION,
      logger,
      giveUpAfterMs: 60_000,
      clock: { now: () => now },
    });
    state.error = down();
    unstored.add('s1', answer(1), state.error);
    await expect(unstored.flush()).rejects.toBeInstanceOf(StoreUnavailableError);
    now += 60_000;
    await unstored.flush();
    expect(unstored.size).toBe(0);
    expect(lines).toContain('error event log unavailable for too long: unstored request messages dropped');
  });
});
