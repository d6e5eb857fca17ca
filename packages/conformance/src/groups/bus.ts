import assert from 'node:assert/strict';
import {
  generateSessionId,
  InvalidArgumentError,
  InvalidValueError,
  type JsonValue,
  type SessionBus,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { rejectsWith } from '../assert';
import type { ConformanceContext, GroupDefinition } from '../harness';

/**
 * The live bus (`SessionBus`): delivery on the same and on another instance, per-session order,
 * isolation, unsubscribe, fan-out, large payloads, contained listener errors, close. Reconnect
 * after an outage is tested per adapter (it needs a server to stop).
 */
export const bus: GroupDefinition = {
  id: 'bus',
  tests: [
    {
      title: 'delivers to a subscriber on the same bus instance, asynchronously, whole',
      requires: ['bus'],
      async run(ctx) {
        const b = await ctx.bus();
        const id = generateSessionId();
        const inbox = new Inbox();
        let publishing = false;
        const calledInPublish: boolean[] = [];
        await b.subscribe(id, (m) => {
          calledInPublish.push(publishing);
          inbox.listener(m);
        });
        const message = {
          jsonrpc: '2.0',
          id: 1,
          result: { ok: true, list: [1, 'two', null], nested: { x: -1.5 } },
        };
        publishing = true;
        const done = b.publish(id, message);
        publishing = false;
        await done;
        await inbox.until(1, 'the message');
        assert.deepStrictEqual(
          inbox.messages,
          [message],
          'a subscriber receives the published message whole',
        );
        assert.deepStrictEqual(calledInPublish, [false], 'the listener ran inside publish()');
      },
    },
    {
      title: 'delivers to a subscriber on another bus instance on the same backend',
      requires: ['bus', 'backendBus'],
      async run(ctx) {
        const [a, b] = [await ctx.bus(), await ctx.bus()];
        const id = generateSessionId();
        const onB = new Inbox();
        const onA = new Inbox();
        await b.subscribe(id, onB.listener);
        await a.subscribe(id, onA.listener);
        await a.publish(id, { from: 'a' });
        await b.publish(id, { from: 'b' });
        await onB.until(2, 'both messages on b');
        await onA.until(2, 'both messages on a');
        assert.deepStrictEqual(
          onB.messages,
          [{ from: 'a' }, { from: 'b' }],
          'a subscriber on instance b gets messages published on a and b, in publish order',
        );
        assert.deepStrictEqual(
          onA.messages,
          [{ from: 'a' }, { from: 'b' }],
          'a subscriber on instance a gets messages published on a and b, in publish order',
        );
      },
    },
    {
      title: 'keeps per-session publish order (200 messages, published without waiting)',
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const id = generateSessionId();
        const inbox = new Inbox();
        await receiver.subscribe(id, inbox.listener);
        const n = 200;
        await Promise.all(Array.from({ length: n }, (_, i) => publisher.publish(id, { n: i })));
        await publisher.publish(id, END);
        await inbox.untilEnd();
        assertSequence(
          inbox.messages,
          Array.from({ length: n }, (_, i) => ({ n: i })),
          'received',
        );
      },
    },
    {
      title: "never delivers a session's messages to another session (ids differing in case or by a prefix)",
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const base = `Ab${generateSessionId()}`;
        const ids = [base, base.toLowerCase(), base.toUpperCase(), `${base}x`, base.slice(0, -1), `${base}/`];
        assert.equal(new Set(ids).size, ids.length, "the test's session ids are distinct");
        const inboxes = ids.map(() => new Inbox());
        for (const [i, id] of ids.entries()) await receiver.subscribe(id, inboxes[i]!.listener);
        for (let round = 0; round < 3; round++) {
          for (const id of ids) await publisher.publish(id, { to: id, round });
        }
        for (const id of ids) await publisher.publish(id, END);
        for (const [i, id] of ids.entries()) {
          await inboxes[i]!.untilEnd();
          assertSequence(
            inboxes[i]!.messages,
            [0, 1, 2].map((round) => ({ to: id, round })),
            `session ${JSON.stringify(id)} received`,
          );
        }
      },
    },
    {
      title: 'unsubscribe stops delivery to that listener only; a session can be subscribed again',
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const id = generateSessionId();
        const [first, second, third] = [new Inbox(), new Inbox(), new Inbox()];
        const sub1 = await receiver.subscribe(id, first.listener);
        const sub2 = await receiver.subscribe(id, second.listener);
        await publisher.publish(id, { m: 1 });
        await first.until(1, 'm1 on the first listener');
        await second.until(1, 'm1 on the second listener');
        await sub1.unsubscribe();
        await sub1.unsubscribe(); // idempotent
        await publisher.publish(id, { m: 2 });
        await publisher.publish(id, END);
        await second.untilEnd();
        assert.deepStrictEqual(first.messages, [{ m: 1 }], 'the unsubscribed listener got more');
        assert.deepStrictEqual(
          second.messages,
          [{ m: 1 }, { m: 2 }],
          'unsubscribing one listener leaves the other subscribed',
        );

        await sub2.unsubscribe();
        await publisher.publish(id, { m: 3 });
        await receiver.subscribe(id, third.listener);
        await publisher.publish(id, { m: 4 });
        await publisher.publish(id, END);
        await third.untilEnd();
        assert.deepStrictEqual(
          third.messages,
          [{ m: 4 }],
          'a session subscribed again gets only what is published after',
        );
        assert.deepStrictEqual(
          second.messages,
          [{ m: 1 }, { m: 2 }],
          'an unsubscribed listener gets nothing more',
        );
      },
    },
    {
      title: 'several subscribers to one session (one on each instance too) each get every message once',
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const id = generateSessionId();
        const inboxes = [new Inbox(), new Inbox(), new Inbox(), new Inbox()];
        const sameListener = new Inbox();
        for (const inbox of inboxes.slice(0, 3)) await receiver.subscribe(id, inbox.listener);
        await publisher.subscribe(id, inboxes[3]!.listener);
        // One function subscribed twice: two subscriptions, each delivered once.
        await receiver.subscribe(id, sameListener.listener);
        await receiver.subscribe(id, sameListener.listener);
        for (let i = 0; i < 10; i++) await publisher.publish(id, { i });
        await publisher.publish(id, END);
        const expected = Array.from({ length: 10 }, (_, i) => ({ i }));
        for (const [k, inbox] of inboxes.entries()) {
          await inbox.untilEnd();
          assertSequence(inbox.messages, expected, `subscriber ${k}`);
        }
        // 10 messages twice, then END twice (the first END is not kept in `messages`).
        await sameListener.until(21, 'both subscriptions of one function');
        assert.deepStrictEqual(
          sameListener.messages.filter((m) => !isEnd(m)),
          expected.flatMap((m) => [m, m]),
          'a function subscribed twice gets every message once per subscription',
        );
      },
    },
    {
      title: 'carries large payloads whole (100 KB and 1 MB)',
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const id = generateSessionId();
        const inbox = new Inbox();
        await receiver.subscribe(id, inbox.listener);
        const big = (kib: number, seed: string) => ({
          seed,
          text: `é✓${'x'.repeat(kib * 1024)}`,
          items: Array.from({ length: 100 }, (_, i) => ({ i, s: `${seed}-${i}` })),
        });
        const messages = [big(100, 'a'), { small: true }, big(1024, 'b')];
        for (const m of messages) await publisher.publish(id, m);
        await publisher.publish(id, END);
        await inbox.untilEnd();
        assert.equal(inbox.messages.length, messages.length, 'every large payload is delivered');
        for (const [i, m] of messages.entries()) {
          assert.ok(sameJson(inbox.messages[i], m), `message ${i} came back different`);
        }
      },
    },
    {
      title: 'a listener that throws does not stop delivery to others or to itself',
      requires: ['bus'],
      async run(ctx) {
        const { publisher, receiver } = await publisherAndReceiver(ctx);
        const id = generateSessionId();
        const other = new Inbox();
        const thrower = new Inbox();
        await receiver.subscribe(id, (m) => {
          thrower.listener(m);
          throw new Error('listener failure (expected by the test)');
        });
        await receiver.subscribe(id, other.listener);
        for (let i = 0; i < 3; i++) await publisher.publish(id, { i });
        await publisher.publish(id, END);
        await other.untilEnd();
        await thrower.untilEnd();
        assert.deepStrictEqual(
          other.messages,
          [{ i: 0 }, { i: 1 }, { i: 2 }],
          'a listener that throws does not stop delivery to other listeners',
        );
        assert.deepStrictEqual(
          thrower.messages,
          [{ i: 0 }, { i: 1 }, { i: 2 }],
          'a listener that throws still gets the next messages',
        );
      },
    },
    {
      title:
        'rejects bad input with typed errors: non-JSON messages, malformed ids, a listener that is not a function',
      requires: ['bus'],
      async run(ctx) {
        const b = await ctx.bus();
        const id = generateSessionId();
        const cyclic: { self?: unknown } = {};
        cyclic.self = cyclic;
        await rejectsWith(b.publish(id, cyclic as JsonValue), InvalidValueError, 'a cycle');
        await rejectsWith(b.publish(id, { n: Number.NaN }), InvalidValueError, 'NaN');
        await rejectsWith(
          b.publish(id, { d: new Date(0) } as unknown as JsonValue),
          InvalidValueError,
          'a Date',
        );
        await rejectsWith(b.publish('', {}), InvalidArgumentError, 'an empty id');
        await rejectsWith(b.publish('has space', {}), InvalidArgumentError, 'an id with a space');
        await rejectsWith(b.publish('x'.repeat(257), {}), InvalidArgumentError, 'a 257-character id');
        await rejectsWith(
          b.subscribe('bad\nid', () => {}),
          InvalidArgumentError,
          'subscribe to a bad id',
        );
        await rejectsWith(
          b.subscribe(id, 'nope' as unknown as () => void),
          InvalidArgumentError,
          'a listener that is not a function',
        );
      },
    },
    {
      title:
        'after close, publish and subscribe reject with StoreUnavailableError and nothing more is delivered',
      requires: ['bus'],
      async run(ctx) {
        const b = await ctx.bus();
        const id = generateSessionId();
        const inbox = new Inbox();
        await b.subscribe(id, inbox.listener);
        await b.publish(id, END);
        await inbox.untilEnd();
        await b.close();
        await b.close(); // idempotent
        await rejectsWith(b.publish(id, { late: true }), StoreUnavailableError, 'publish after close');
        await rejectsWith(
          b.subscribe(id, () => {}),
          StoreUnavailableError,
          'subscribe after close',
        );
        if (b.reach === 'backend') {
          // Another instance still publishes: the closed one must not deliver it.
          const other = await ctx.bus();
          const witness = new Inbox();
          await other.subscribe(id, witness.listener);
          await other.publish(id, { after: 'close' });
          await other.publish(id, END);
          await witness.untilEnd();
        }
        assert.deepStrictEqual(inbox.messages, [], 'delivered after close');
      },
    },
  ],
};

// --- Internal helpers ---

/** The last message of a test's stream: by per-session order, everything before it has arrived. */
const END = { end: true } as const;
/** Bound on waiting for a delivery, so a lost message fails the test instead of hanging it. */
const DELIVERY_TIMEOUT_MS = 10_000;

/** Two instances when the bus reaches across them (the receiver is another instance), else one. */
async function publisherAndReceiver(
  ctx: ConformanceContext,
): Promise<{ publisher: SessionBus; receiver: SessionBus }> {
  const publisher = await ctx.bus();
  return { publisher, receiver: publisher.reach === 'backend' ? await ctx.bus() : publisher };
}

function isEnd(message: JsonValue): boolean {
  return typeof message === 'object' && message !== null && !Array.isArray(message) && message.end === true;
}

/** Collects what a listener gets; `until` waits for a count, `untilEnd` for the END marker. */
class Inbox {
  readonly messages: JsonValue[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  readonly listener = (message: JsonValue): void => {
    if (isEnd(message) && !this.ended) this.ended = true;
    else this.messages.push(message);
    this.wake?.();
  };

  /** Waits for END (not kept in `messages`: anything after it would be a duplicate or stray). */
  untilEnd(): Promise<void> {
    return this.wait(() => this.ended, 'the END marker');
  }

  until(count: number, what: string): Promise<void> {
    return this.wait(() => this.messages.length >= count, `${what} (${count} messages)`);
  }

  private async wait(done: () => boolean, what: string): Promise<void> {
    if (done()) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new assert.AssertionError({
                message: `no delivery of ${what} within ${DELIVERY_TIMEOUT_MS} ms; got ${this.messages.length} messages`,
              }),
            ),
          DELIVERY_TIMEOUT_MS,
        );
        this.wake = () => {
          if (done()) resolve();
        };
      });
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }
}

/** Exact sequence check with a short message naming the first difference (no 200-element diff). */
function assertSequence(actual: readonly JsonValue[], expected: readonly JsonValue[], what: string): void {
  const a = actual.map((m) => JSON.stringify(m));
  const e = expected.map((m) => JSON.stringify(m));
  if (a.length === e.length && a.every((m, i) => m === e[i])) return;
  const at = a.findIndex((m, i) => m !== e[i]);
  const first = at === -1 ? Math.min(a.length, e.length) : at;
  assert.fail(
    `${what}: ${a.length} messages, expected ${e.length}; first difference at ${first}: ` +
      `got ${a[first] ?? '(nothing)'}, expected ${e[first] ?? '(nothing)'}`,
  );
}

function sameJson(a: JsonValue | undefined, b: JsonValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
