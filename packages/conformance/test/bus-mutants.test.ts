/**
 * The bus group tested: deliberately broken buses must each fail the named test, while the
 * unbroken memory bus fails none.
 */
import type { JsonValue, SessionBus } from '@mcp-sessions/core';
import type { BusListener, BusSubscription } from '@mcp-sessions/core/adapter';
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { busTests } from '../src/index';
import { type Outcome, Recorder } from './recorder';

// --- The mutants: each breaks one promise of the contract ---

/** A bus that hands everything to a correct one; mutants override one step. */
class Delegating implements SessionBus {
  readonly name = 'mutant';
  readonly reach = 'process' as const;
  protected readonly inner = new MemorySessionBus();
  publish(sessionId: string, message: JsonValue): Promise<void> {
    return this.inner.publish(sessionId, message);
  }
  subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    return this.inner.subscribe(sessionId, this.wrap(listener));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Per subscription: what the listener sees. */
  protected wrap(listener: BusListener): BusListener {
    return listener;
  }
}

/** Each subscription loses its 5th message. */
class Drops extends Delegating {
  protected override wrap(listener: BusListener): BusListener {
    let n = 0;
    return (m) => {
      if (++n !== 5) listener(m);
    };
  }
}

/** Each subscription gets its 5th message twice. */
class Duplicates extends Delegating {
  protected override wrap(listener: BusListener): BusListener {
    let n = 0;
    return (m) => {
      listener(m);
      if (++n === 5) listener(m);
    };
  }
}

/** Each subscription gets its 5th and 6th messages swapped. */
class Reorders extends Delegating {
  protected override wrap(listener: BusListener): BusListener {
    let n = 0;
    let held: JsonValue | undefined;
    return (m) => {
      n++;
      if (n === 5) held = m;
      else if (n === 6) {
        listener(m);
        listener(held as JsonValue);
      } else listener(m);
    };
  }
}

/** Channels compared case-insensitively: a message also reaches the lower-cased id's subscribers. */
class CaseInsensitive extends Delegating {
  override async publish(sessionId: string, message: JsonValue): Promise<void> {
    await super.publish(sessionId, message);
    if (sessionId.toLowerCase() !== sessionId) await super.publish(sessionId.toLowerCase(), message);
  }
}

/** Channels matched by prefix: a message also reaches subscribers of every shorter prefix of the id. */
class PrefixMatch extends Delegating {
  override async publish(sessionId: string, message: JsonValue): Promise<void> {
    await super.publish(sessionId, message);
    for (let n = sessionId.length - 1; n >= sessionId.length - 2 && n > 0; n--) {
      await super.publish(sessionId.slice(0, n), message);
    }
  }
}

/** unsubscribe() resolves but the listener stays. */
class KeepsListeners extends Delegating {
  override async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    await super.subscribe(sessionId, listener);
    return { unsubscribe: async () => {} };
  }
}

/** Calls listeners inside publish(), on the publisher's stack. */
class Synchronous extends Delegating {
  private readonly subs = new Map<string, BusListener[]>();
  override async publish(sessionId: string, message: JsonValue): Promise<void> {
    for (const l of this.subs.get(sessionId) ?? []) l(structuredClone(message));
    return super.publish(sessionId, message);
  }
  override async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    this.subs.set(sessionId, [...(this.subs.get(sessionId) ?? []), listener]);
    return super.subscribe(sessionId, () => {});
  }
}

/** Keeps accepting publishes after close(). */
class OpenAfterClose extends Delegating {
  private closed = false;
  override async publish(sessionId: string, message: JsonValue): Promise<void> {
    if (this.closed) return;
    return super.publish(sessionId, message);
  }
  override async close(): Promise<void> {
    this.closed = true;
    return super.close();
  }
}

interface Mutant {
  name: string;
  create(): SessionBus;
  caughtBy: string;
}

const ORDER = 'bus: keeps per-session publish order (200 messages, published without waiting)';
const ISOLATION =
  "bus: never delivers a session's messages to another session (ids differing in case or by a prefix)";

const mutants: Mutant[] = [
  { name: 'drops a message', create: () => new Drops(), caughtBy: ORDER },
  { name: 'duplicates a message', create: () => new Duplicates(), caughtBy: ORDER },
  { name: 'reorders two messages', create: () => new Reorders(), caughtBy: ORDER },
  {
    name: 'cross-delivers to an id differing in case',
    create: () => new CaseInsensitive(),
    caughtBy: ISOLATION,
  },
  { name: 'cross-delivers to a prefix of the id', create: () => new PrefixMatch(), caughtBy: ISOLATION },
  {
    name: 'ignores unsubscribe',
    create: () => new KeepsListeners(),
    caughtBy: 'bus: unsubscribe stops delivery to that listener only; a session can be subscribed again',
  },
  {
    name: 'delivers inside publish',
    create: () => new Synchronous(),
    caughtBy: 'bus: delivers to a subscriber on the same bus instance, asynchronously, whole',
  },
  {
    name: 'accepts publishes after close',
    create: () => new OpenAfterClose(),
    caughtBy:
      'bus: after close, publish and subscribe reject with StoreUnavailableError and nothing more is delivered',
  },
];

async function runGroup(createBus: () => SessionBus): Promise<Map<string, Outcome>> {
  const recorder = new Recorder();
  busTests({ name: 'mutant', ...recorder.runner, createStore: () => new MemorySessionStore(), createBus });
  return recorder.run();
}

describe('the bus group catches broken buses', () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  beforeAll(() => warn.mockClear());
  afterAll(() => warn.mockRestore());

  it('the unbroken memory bus fails no test', async () => {
    const results = await runGroup(() => new MemorySessionBus());
    const failed = [...results].filter(([, o]) => o.status === 'fail');
    expect(failed.map(([name, o]) => `${name}: ${o.status === 'fail' ? String(o.error) : ''}`)).toEqual([]);
    expect([...results].filter(([, o]) => o.status === 'skip').map(([n]) => n)).toEqual([
      'bus: delivers to a subscriber on another bus instance on the same backend',
    ]);
  });

  for (const mutant of mutants) {
    it(`catches: ${mutant.name}`, async () => {
      const results = await runGroup(mutant.create);
      const failed = [...results].filter(([, o]) => o.status === 'fail').map(([n]) => n);
      expect(failed, `${mutant.name} failed only: ${failed.join(' | ')}`).toContain(mutant.caughtBy);
    });
  }
});
