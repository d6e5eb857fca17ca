/**
 * One test (or a few) per defect of the seed listed at the end of DESIGN.md, each proving the
 * defect is gone. Time is an injected clock moved by hand; only the timer tests use timers.
 *
 * "The rebuilt transport is not initialized" belongs to the MCP HTTP integration and is tested
 * with it (packages/core/test/http*).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type Logger,
  RecoveryRefusedError,
  SessionManager,
  type SessionManagerOptions,
  type SessionStore,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, describe, expect, it, vi } from 'vitest';

const T0 = 1_700_000_000_000;
const HEARTBEAT = 30_000;
const STALE = 90_000;
const GRACE = 600_000;
const TOMBSTONE = 3_600_000;

const managers: SessionManager[] = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

function clockAt(t: number) {
  const clock = { t, now: () => clock.t };
  return clock;
}

function manager(
  store: SessionStore,
  clock: { now(): number },
  options: Partial<SessionManagerOptions> = {},
) {
  const m = new SessionManager({ store, clock, timers: false, ...options });
  managers.push(m);
  return m;
}

/**
 * The memory store behind a switch: while `down`, every method rejects with
 * `StoreUnavailableError`, as an adapter does when its backend is unreachable.
 */
function switchable(store: SessionStore) {
  const state = { down: false, calls: [] as string[] };
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        state.calls.push(String(prop));
        if (state.down) {
          const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
            code: 'ECONNREFUSED',
          });
          return Promise.reject(new StoreUnavailableError('backend unreachable', { cause }));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, state };
}

describe('defect: errors caught, logged and turned into false/null', () => {
  it('propagates a store failure from every manager method as the typed error', async () => {
    const clock = clockAt(T0);
    const { store, state } = switchable(new MemorySessionStore());
    const m = manager(store, clock);
    await m.initialize('s1');
    await m.saveAgentState('a', 's1', 'k', 1);
    await m.initialize('s2');
    await m.markDisconnected('s2');
    state.down = true;

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['initialize', () => m.initialize('s3')],
      ['heartbeat', () => m.heartbeat('s1')],
      ['markDisconnected', () => m.markDisconnected('s1')],
      ['canRecover', () => m.canRecover('s2')],
      ['recover', () => m.recover('s2')],
      ['resume', () => m.resume('s2')],
      ['close', () => m.close('s1')],
      ['getSession', () => m.getSession('s1')],
      ['getActiveSessions', () => m.getActiveSessions()],
      ['saveAgentState', () => m.saveAgentState('a', 's1', 'k', 2)],
      ['loadAgentState', () => m.loadAgentState('a', 's1', 'k')],
      ['deleteAgentState', () => m.deleteAgentState('a', 's1', 'k')],
      ['listAgentState', () => m.listAgentState('s1')],
      ['cleanupExpired', () => m.cleanupExpired()],
      ['tick', () => m.tick()],
    ];
    for (const [name, call] of calls) {
      const outcome = await call().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      expect(outcome, name).toHaveProperty('error');
      const error = (outcome as { error: unknown }).error;
      expect(error, name).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      expect((error as Error).cause, name).toMatchObject({ code: 'ECONNREFUSED' });
    }

    state.down = false;
    expect(await m.loadAgentState('a', 's1', 'k')).toBe(1);
    expect((await m.getSession('s1'))?.status).toBe('active');
    expect(m.heldSessionIds.has('s1')).toBe(true);
  });

  describe('a failing background tick or sweep is never lost', () => {
    function timed(options: Partial<SessionManagerOptions> = {}) {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
      const { store, state } = switchable(new MemorySessionStore());
      const m = manager(store, clockAt(T0), { timers: true, heartbeatIntervalMs: HEARTBEAT, ...options });
      return { m, state };
    }

    it('emits the heartbeat failure as an error event', async () => {
      const { m, state } = timed();
      await m.initialize('s1');
      state.down = true;
      const errored = once(m, 'error');
      await vi.advanceTimersByTimeAsync(HEARTBEAT);
      const [error] = await errored;
      expect(error).toBeInstanceOf(StoreUnavailableError);
    });

    it('emits the cleanup failure as an error event', async () => {
      const { m, state } = timed({ cleanupIntervalMs: 1000 });
      state.down = true;
      const errored = once(m, 'error');
      await vi.advanceTimersByTimeAsync(1200);
      const [error] = await errored;
      expect(error).toBeInstanceOf(StoreUnavailableError);
    });

    it('logs it at error level when there is no listener', async () => {
      let resolve: (entry: [string, Record<string, unknown> | undefined]) => void = () => {};
      const logged = new Promise<[string, Record<string, unknown> | undefined]>((r) => {
        resolve = r;
      });
      const logger: Logger = {
        debug() {},
        info() {},
        warn() {},
        error: (message, fields) => resolve([message, fields]),
      };
      const { m, state } = timed({ logger });
      await m.initialize('s1');
      state.down = true;
      await vi.advanceTimersByTimeAsync(HEARTBEAT);
      const [message, fields] = await logged;
      expect(message).toBe('heartbeat failed');
      expect(fields?.error).toBeInstanceOf(StoreUnavailableError);
      expect(fields?.code).toBe('STORE_UNAVAILABLE');
    });

    it('raises a process warning when there is no listener and the logger is silenced (logger: false)', async () => {
      const { m, state } = timed({ logger: false });
      await m.initialize('s1');
      state.down = true;
      const warned = once(process, 'warning');
      await vi.advanceTimersByTimeAsync(HEARTBEAT);
      const [warning] = await warned;
      expect(warning).toBeInstanceOf(StoreUnavailableError);
    });
  });
});

describe('defect: one setInterval per session, none unref()d; a timer and a log line on import', () => {
  it('runs one heartbeat interval and one cleanup timeout for 10k sessions, both unref()d', async () => {
    const setInterval = vi.spyOn(globalThis, 'setInterval');
    const setTimeout = vi.spyOn(globalThis, 'setTimeout');
    const m = manager(new MemorySessionStore(), clockAt(T0), { timers: true });
    for (let i = 0; i < 10_000; i++) await m.initialize(`s${i}`);
    expect(setInterval).toHaveBeenCalledTimes(1);
    expect(setTimeout).toHaveBeenCalledTimes(1);
    const timers = [
      setInterval.mock.results[0]?.value,
      setTimeout.mock.results[0]?.value,
    ] as NodeJS.Timeout[];
    for (const timer of timers) expect(timer.hasRef()).toBe(false);
  });

  it('touches all 10k held sessions from that one interval, in batches', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const m = manager(store, clock, { timers: true, cleanupIntervalMs: 0 });
    for (let i = 0; i < 10_000; i++) await m.initialize(`s${i}`);
    expect(vi.getTimerCount()).toBe(1);
    const touch = vi.spyOn(store, 'touch');
    clock.t += HEARTBEAT;
    await vi.advanceTimersByTimeAsync(HEARTBEAT);
    await m.dispose();
    expect(touch).toHaveBeenCalledTimes(10);
    expect(touch.mock.calls.reduce((n, [ids]) => n + ids.length, 0)).toBe(10_000);
    expect((await store.get('s9999'))?.lastHeartbeatAt).toBe(clock.t);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts no timer and prints nothing when core is imported', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const entry = new URL('../src/index.ts', import.meta.url).href;
    const probe = `
      const calls = [];
      for (const name of ['setTimeout', 'setInterval', 'setImmediate']) {
        const original = globalThis[name];
        globalThis[name] = (...args) => { calls.push(name); return original(...args); };
      }
      const written = [];
      for (const stream of [process.stdout, process.stderr]) {
        const write = stream.write.bind(stream);
        stream.write = (chunk, ...rest) => { written.push(String(chunk)); return true; };
        stream.restore = write;
      }
      const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
      const core = await import(${JSON.stringify(entry)});
      const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
      process.stdout.write = process.stdout.restore;
      process.stdout.write(JSON.stringify({ calls, written, before, after, exports: Object.keys(core).length }));
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@mcp-sessions/source', '--input-type=module', '-e', probe],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = await once(child, 'exit');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.exports).toBeGreaterThan(10);
    expect(report.calls).toEqual([]);
    expect(report.written).toEqual([]);
    const timers = (resources: string[]) => resources.filter((r) => r === 'Timeout' || r === 'Immediate');
    expect(timers(report.after)).toEqual([]);
    expect(report.after.length).toBeLessThanOrEqual(report.before.length);
  });
});

describe('defect: heartbeats never extend the grace deadline', () => {
  it('keeps an active session with heartbeat ticks through 1 hour of sweeps', async () => {
    const clock = clockAt(T0);
    const m = manager(new MemorySessionStore(), clock);
    const expired: string[] = [];
    m.on('expired', (r) => expired.push(r.id));
    await m.initialize('held');
    // 'pinged' belongs to another instance that never ticks: explicit heartbeat() calls keep it.
    await manager(m.store, clock, { instanceId: 'other' }).initialize('pinged');
    for (let elapsed = HEARTBEAT; elapsed <= 3_600_000; elapsed += HEARTBEAT) {
      clock.t = T0 + elapsed;
      await m.tick();
      await m.heartbeat('pinged');
      if (elapsed % 300_000 === 0) {
        expect(await m.cleanupExpired()).toEqual({ expired: 0, deleted: 0, stateEntriesPurged: 0 });
      }
    }
    clock.t += GRACE - 1; // beyond any grace counted from the start, not from the last heartbeat
    await m.cleanupExpired();
    expect(expired).toEqual([]);
    for (const id of ['held', 'pinged']) {
      const record = await m.getSession(id);
      expect(record?.status).toBe('active');
      expect(record?.lastHeartbeatAt).toBe(T0 + 3_600_000);
    }
  });
});

describe('defect: canRecover then recover is a race; recover does not check the limit', () => {
  it('lets exactly one of 20 concurrent recoveries on two instances win', async () => {
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const a = manager(store, clock, { instanceId: 'A' });
    const b = manager(store, clock, { instanceId: 'B' });
    await a.initialize('s1');
    await a.markDisconnected('s1');
    clock.t += 1000;
    const checks = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).canRecover('s1')));
    expect(checks.every((c) => c.ok)).toBe(true);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).recover('s1')),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(RecoveryRefusedError);
        expect(r.reason.reason).toBe('still_active');
      }
    }
    expect((await store.get('s1'))?.recoveryAttempts).toBe(1);
  });

  it('never passes maxRecoveryAttempts, however many try at once', async () => {
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const a = manager(store, clock, { instanceId: 'A', maxRecoveryAttempts: 3 });
    const b = manager(store, clock, { instanceId: 'B', maxRecoveryAttempts: 3 });
    await a.initialize('s1');
    const winners: number[] = [];
    for (let round = 0; round < 5; round++) {
      await a.markDisconnected('s1');
      clock.t += 1000;
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).recover('s1')),
      );
      winners.push(results.filter((r) => r.status === 'fulfilled').length);
      expect((await store.get('s1'))?.recoveryAttempts).toBeLessThanOrEqual(3);
    }
    expect(winners).toEqual([1, 1, 1, 0, 0]);
    expect(await a.canRecover('s1')).toEqual({ ok: false, reason: 'attempts_exhausted' });
  });
});

describe('defect: recovered sessions never expire; expired rows and their state stay; crashed owners', () => {
  it('expires a recovered session that disconnects again, or whose new owner crashes', async () => {
    const clock = clockAt(T0);
    const m = manager(new MemorySessionStore(), clock);
    for (const id of ['again', 'crashed']) {
      await m.initialize(id);
      await m.markDisconnected(id);
    }
    clock.t += 1000;
    await m.recover('again');
    await m.recover('crashed');
    await m.markDisconnected('again');
    await m.dispose(); // the new owner of 'crashed' dies: no more heartbeats
    const sweeper = manager(m.store, clock);
    clock.t += GRACE - 1;
    expect((await sweeper.cleanupExpired()).expired).toBe(0);
    clock.t += 1;
    expect((await sweeper.cleanupExpired()).expired).toBe(2);
    expect((await sweeper.getSession('again'))?.status).toBe('expired');
    expect((await sweeper.getSession('crashed'))?.status).toBe('expired');
  });

  it('deletes an expired session state and events at once, and the tombstone after tombstoneMs', async () => {
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const m = manager(store, clock);
    await m.initialize('s1');
    await m.saveAgentState('a', 's1', 'k', { big: 'x'.repeat(1000) });
    await store.appendEvent({ sessionId: 's1', streamId: 'st', message: { jsonrpc: '2.0' }, createdAt: T0 });
    await m.markDisconnected('s1');
    clock.t += GRACE;
    expect(await m.cleanupExpired()).toMatchObject({ expired: 1 });
    expect(await store.listState('s1', undefined, clock.t)).toEqual([]);
    expect(await store.getState({ sessionId: 's1', agentId: 'a', key: 'k' }, T0)).toBeUndefined();
    expect(await store.readEvents({ sessionId: 's1', afterSeq: 0 })).toEqual([]);
    expect((await store.get('s1'))?.status).toBe('expired');
    clock.t += TOMBSTONE - 1;
    expect(await m.cleanupExpired()).toMatchObject({ deleted: 0 });
    clock.t += 1;
    expect(await m.cleanupExpired()).toMatchObject({ deleted: 1 });
    expect(await store.get('s1')).toBeUndefined();
  });

  it('lets manager B recover a session of crashed manager A after staleAfterMs, not before', async () => {
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const a = new SessionManager({ store, clock, timers: false, instanceId: 'A' }); // never disposed: it "crashes"
    await a.initialize('s1', { principal: 'alice' });
    await a.saveAgentState('planner', 's1', 'plan', { step: 2 });
    const b = manager(store, clock, { instanceId: 'B' });
    clock.t += STALE - 1;
    expect(await b.canRecover('s1', { principal: 'alice' })).toEqual({ ok: false, reason: 'still_active' });
    await expect(b.recover('s1', { principal: 'alice' })).rejects.toMatchObject({ reason: 'still_active' });
    clock.t += 1;
    const record = await b.recover('s1', { principal: 'alice' });
    expect(record).toMatchObject({ status: 'active', ownerId: 'B', recoveryAttempts: 1 });
    expect(await b.loadAgentState('planner', 's1', 'plan')).toEqual({ step: 2 });
  });

  it('expires the session of a crashed owner once grace from its last heartbeat is over', async () => {
    const clock = clockAt(T0);
    const store = new MemorySessionStore();
    const a = new SessionManager({ store, clock, timers: false, instanceId: 'A' });
    await a.initialize('s1');
    clock.t += HEARTBEAT;
    await a.tick(); // last sign of life
    const b = manager(store, clock, { instanceId: 'B' });
    clock.t = T0 + HEARTBEAT + GRACE - 1;
    expect((await b.cleanupExpired()).expired).toBe(0);
    clock.t += 1;
    expect((await b.cleanupExpired()).expired).toBe(1);
  });
});

describe('defect: listing and cleanup scan whole tables', () => {
  it('lists 10k sessions by keyset cursor with no duplicates and no gaps', async () => {
    const clock = clockAt(T0);
    const { store, state } = switchable(new MemorySessionStore());
    const list = vi.spyOn(store, 'list');
    const m = manager(store, clock);
    for (let i = 0; i < 10_000; i++) {
      if (i % 7 === 0) clock.t += 1; // many ties on createdAt
      await m.initialize(`s${i}`);
    }
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await m.getActiveSessions({ limit: 333, cursor });
      for (const r of page.sessions) {
        expect(seen.has(r.id)).toBe(false);
        seen.add(r.id);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(10_000);
    expect(pages).toBe(Math.ceil(10_000 / 333));
    // Each page after the first resumes strictly after the last record seen: a keyset, never an offset.
    for (const [i, [query]] of list.mock.calls.entries()) {
      expect(query.limit).toBe(334);
      expect(query.after === undefined).toBe(i === 0);
    }
    expect(state.calls.filter((c) => c === 'list')).toHaveLength(pages);
  });

  it('sweeps through claimDue alone: 10k fresh sessions cost one empty claim, no listing or reads', async () => {
    const clock = clockAt(T0);
    const { store, state } = switchable(new MemorySessionStore());
    const m = manager(store, clock);
    for (let i = 0; i < 10_000; i++) await m.initialize(`s${i}`);
    await m.markDisconnected('s42');
    clock.t += GRACE - 1;
    await m.tick();
    clock.t += 1;
    state.calls.length = 0;
    expect(await m.cleanupExpired()).toEqual({ expired: 1, deleted: 0, stateEntriesPurged: 0 });
    expect(state.calls).toEqual(['claimDue', 'compareAndSet', 'purgeSessionData', 'purgeExpiredState']);
  });
});

describe('defect: `any` everywhere', () => {
  it('has no any in core or memory sources', () => {
    const dirs = ['../src/', '../../memory/src/'].map((d) => new URL(d, import.meta.url));
    const offenders: string[] = [];
    for (const dir of dirs) {
      for (const file of readdirSync(dir)) {
        if (!file.endsWith('.ts')) continue;
        const code = readFileSync(new URL(file, dir), 'utf8')
          .replace(/\/\*[\s\S]*?\*\//g, '')
          .replace(/\/\/.*$/gm, '');
        if (/(:\s*any\b|\bas any\b|<any>|\bany\[\])/.test(code)) offenders.push(file);
      }
    }
    expect(offenders).toEqual([]);
  });
});
