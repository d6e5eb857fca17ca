/**
 * The parent's side of the cross-process bus tests: runs `bus-child.ts` in another Node process
 * (tsx, against the sources) and exchanges messages with it over the real backend.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { JsonValue, SessionBus } from '../packages/core/src/index';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHILD = fileURLToPath(new URL('./bus-child.ts', import.meta.url));
/** Bound on waiting for a line, so a lost message fails the test instead of hanging it. */
const LINE_TIMEOUT_MS = 20_000;

export class BusPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  private stderr = '';
  private exited = false;

  constructor(config: Record<string, unknown>) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@mcp-sessions/source', CHILD, JSON.stringify(config)],
      { cwd: ROOT },
    );
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d;
    });
    createInterface({ input: this.child.stdout }).on('line', (raw) => {
      if (!raw.startsWith('@@ ')) return;
      const line = raw.slice(3);
      // Several lines can arrive in one chunk: each waiter takes exactly one.
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) waiter(line);
      else this.queue.push(line);
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.waiter?.(`exit ${this.stderr}`);
    });
  }

  /** The child's next line; fails on exit or after a long bound. */
  async next(): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    if (this.exited) throw new Error(`child exited: ${this.stderr}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<string>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no line from the child: ${this.stderr}`)),
          LINE_TIMEOUT_MS,
        );
        this.waiter = resolve;
      });
    } finally {
      clearTimeout(timer);
      this.waiter = undefined;
    }
  }

  async expect(line: string): Promise<void> {
    assert.equal(await this.next(), line);
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** The next `count` messages the child received, asserting they are all for `sessionId`. */
  async messages(sessionId: string, count: number): Promise<JsonValue[]> {
    const out: JsonValue[] = [];
    while (out.length < count) {
      const line = await this.next();
      if (line.startsWith('published ')) continue;
      const prefix = `msg ${sessionId} `;
      assert.ok(line.startsWith(prefix), `expected a message for ${sessionId}, got ${line}`);
      out.push(JSON.parse(line.slice(prefix.length)) as JsonValue);
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    await done;
  }
}

/**
 * Both directions between this process's `bus` and a child's bus on the same backend, `count`
 * messages each, published without waiting: each side receives the other's, whole and in order.
 */
export async function exchangeWithChild(bus: SessionBus, config: Record<string, unknown>, count = 100) {
  const peer = new BusPeer(config);
  try {
    await peer.expect('ready');
    const toChild = `to-child-${process.pid}-${Date.now()}`;
    const toParent = `to-parent-${process.pid}-${Date.now()}`;
    peer.send(`sub ${toChild}`);
    await peer.expect(`subscribed ${toChild}`);
    const received: JsonValue[] = [];
    let wake: (() => void) | undefined;
    await bus.subscribe(toParent, (message) => {
      received.push(message);
      wake?.();
    });

    await Promise.all(Array.from({ length: count }, (_, n) => bus.publish(toChild, { from: 'parent', n })));
    assert.deepStrictEqual(
      await peer.messages(toChild, count),
      Array.from({ length: count }, (_, n) => ({ from: 'parent', n })),
      'the child received the parent’s messages in order',
    );

    peer.send(`pub ${toParent} ${count}`);
    await peer.expect(`published ${toParent}`);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`parent got ${received.length}/${count}`)), LINE_TIMEOUT_MS);
      wake = () => received.length >= count && resolve();
      wake();
    }).finally(() => clearTimeout(timer));
    assert.deepStrictEqual(
      received,
      Array.from({ length: count }, (_, n) => ({ from: 'child', n })),
      'the parent received the child’s messages in order',
    );
  } finally {
    await peer.stop();
  }
}

/**
 * The outage drill for a backend bus: a subscription works; the server stops and `publish`
 * rejects with `unavailable` (checked by `isUnavailable`); the server starts again and, with no
 * new `subscribe`, messages reach the same listener again, in order.
 */
export async function outageDrill(
  bus: SessionBus,
  server: { stop(): Promise<void>; start(): Promise<void> },
  isUnavailable: (error: unknown) => boolean,
): Promise<void> {
  const id = `outage-${process.pid}-${Date.now()}`;
  const received: JsonValue[] = [];
  await bus.subscribe(id, (message) => received.push(message));
  await bus.publish(id, { phase: 'before' });
  await poll(() => received.length === 1, 'the message before the outage');

  await server.stop();
  // The client may need a moment to notice the socket is gone; then every publish fails fast.
  let failure: unknown;
  await poll(async () => {
    try {
      await bus.publish(id, { phase: 'down' });
      return false;
    } catch (error) {
      failure = error;
      return true;
    }
  }, 'a publish to fail while the server is down');
  assert.ok(isUnavailable(failure), `publish while down rejected with ${String(failure)}`);

  await server.start();
  const isProbe = (m: JsonValue) => typeof m === 'object' && m !== null && 'probe' in m;
  // Probe until the restored subscription (restored by the bus itself) delivers one.
  let probes = 0;
  await poll(async () => {
    await bus.publish(id, { probe: probes++ }).catch(() => undefined);
    return received.some(isProbe);
  }, 'delivery after the restart');
  const before = received.length;
  for (let n = 0; n < 20; n++) await bus.publish(id, { after: n });
  // A probe sent just before may still arrive first: it is not part of the sequence.
  const after = () => received.slice(before).filter((m) => !isProbe(m));
  await poll(() => after().length >= 20, '20 messages after the restart');
  assert.deepStrictEqual(
    after(),
    Array.from({ length: 20 }, (_, n) => ({ after: n })),
  );
  assert.deepStrictEqual(received[0], { phase: 'before' });
}

/** Re-checks `done` every 50 ms until it holds (waiting for a state, not for a deadline). */
async function poll(done: () => boolean | Promise<boolean>, what: string, limitMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await done())) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
