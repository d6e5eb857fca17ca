/**
 * Durable tasks through `TaskManager` on the memory store (a store shared by several managers,
 * as instances share a backend): created durably, read and cancelled by any instance for its
 * principal only, written by the lease holder only, leases renewed in one batch, a lost worker's
 * task taken over once (run again or failed), planned stops hand tasks over at once, ttl swept.
 * Time is an injected clock; timers are off.
 */
import { InvalidArgumentError, TaskManager, TaskNotFoundError, TaskRefusedError } from '@mcp-sessions/core';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { describe, expect, it } from 'vitest';

const LEASE = 15_000;

function fleet(count = 2) {
  const store = new MemorySessionStore();
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  const managers = Array.from(
    { length: count },
    (_, i) => new TaskManager({ store, clock, timers: false, logger: false, instanceId: `i${i}` }),
  );
  return { store, clock, managers, a: managers[0]!, b: managers[1]! };
}

describe('TaskManager', () => {
  it('creates a task durably, held by its creator; any instance reads it for its principal only', async () => {
    const { a, b } = fleet();
    const task = await a.create(
      { method: 'tools/call', params: { name: 'countdown' } },
      { principal: 'alice' },
    );
    expect(task).toMatchObject({ status: 'working', workerId: 'i0', attempts: 1, principal: 'alice' });
    expect(a.runningTaskIds.has(task.id)).toBe(true);
    expect(await b.get(task.id, { principal: 'alice' })).toEqual(task);
    await expect(b.get(task.id, { principal: 'mallory' })).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(b.get(task.id)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(b.get('no-such-task', { principal: 'alice' })).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it('the worker reports; another instance cancels; the worker then learns it lost the task', async () => {
    const { a, b } = fleet();
    const lost: string[] = [];
    a.on('lost', (id) => lost.push(id));
    const task = await a.create({ method: 'tools/call' });
    await a.report(task.id, { type: 'progress', workerId: 'i0', statusMessage: '2 left' });
    await expect(
      b.report(task.id, { type: 'progress', workerId: 'i1', statusMessage: 'x' }),
    ).rejects.toMatchObject({
      reason: 'not_worker',
    });
    const cancelled = await b.cancel(task.id, { statusMessage: 'no longer needed' });
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      leaseUntil: null,
      statusMessage: 'no longer needed',
    });
    await expect(a.report(task.id, { type: 'complete', workerId: 'i0', result: {} })).rejects.toBeInstanceOf(
      TaskRefusedError,
    );
    expect(lost).toEqual([task.id]);
    expect(a.runningTaskIds.size).toBe(0);
    expect(await b.cancel(task.id)).toMatchObject({ status: 'cancelled' }); // idempotent
  });

  it('renews its leases in one batch; a task taken over elsewhere is dropped as lost', async () => {
    const { a, b, clock, store } = fleet();
    const t1 = await a.create({ m: 1 });
    const t2 = await a.create({ m: 2 });
    clock.t += LEASE / 3;
    expect(await a.tick()).toBe(2);
    expect((await store.getTask(t1.id))?.leaseUntil).toBe(clock.t + LEASE);
    // a stops renewing (a long GC pause): b takes t2 over once the lease lapsed.
    clock.t += LEASE;
    expect(await b.sweep()).toEqual({ takenOver: 2, deleted: 0 });
    const lost: string[] = [];
    a.on('lost', (id) => lost.push(id));
    expect(await a.tick()).toBe(0);
    expect(lost.sort()).toEqual([t1.id, t2.id].sort());
  });

  it('a lost worker: the task runs again on one instance when rerunnable, else fails saying the worker was lost', async () => {
    const { managers, clock } = fleet(4);
    const [dead, ...others] = managers;
    const safe = await dead!.create({ m: 'safe' }, { rerunnable: true });
    const unsafe = await dead!.create({ m: 'unsafe' });
    const takenOver: string[] = [];
    for (const m of others) m.on('takenOver', (task) => takenOver.push(`${m.instanceId}:${task.status}`));
    clock.t += LEASE;
    const results = await Promise.all(others.map((m) => m.sweep()));
    expect(results.reduce((n, r) => n + r.takenOver, 0)).toBe(2);
    expect(takenOver).toHaveLength(2);
    const runner = others.find((m) => m.runningTaskIds.has(safe.id))!;
    expect(await runner.get(safe.id)).toMatchObject({
      status: 'working',
      attempts: 2,
      workerId: runner.instanceId,
    });
    expect(await runner.get(unsafe.id)).toMatchObject({
      status: 'failed',
      error: { code: -32603 },
      leaseUntil: null,
    });
    expect(others.filter((m) => m.runningTaskIds.has(safe.id))).toHaveLength(1);
  });

  it('a planned stop hands its tasks over at once; finished tasks stay readable until their ttl', async () => {
    const { a, b, clock } = fleet();
    const running = await a.create({ m: 1 }, { rerunnable: true, ttlMs: 60_000 });
    const done = await a.create({ m: 2 }, { ttlMs: 60_000 });
    await a.report(done.id, {
      type: 'complete',
      workerId: 'i0',
      result: { content: [{ type: 'text', text: 'ok' }] },
    });
    await a.handOff();
    expect(a.runningTaskIds.size).toBe(0);
    expect(await b.sweep()).toEqual({ takenOver: 1, deleted: 0 });
    expect(b.runningTaskIds.has(running.id)).toBe(true);
    expect(await b.get(done.id)).toMatchObject({
      status: 'completed',
      result: { content: [{ text: 'ok' }] },
    });
    clock.t += 60_000;
    expect(await b.sweep()).toMatchObject({ deleted: 2 });
    await expect(b.get(done.id)).rejects.toBeInstanceOf(TaskNotFoundError);
  });

  it("lists one principal's tasks, newest first, page by page; a call reads at most maxScanned tasks", async () => {
    const { a, b, clock } = fleet();
    const alice: string[] = [];
    for (let i = 0; i < 7; i++) {
      clock.t += 1;
      alice.push((await a.create({ i }, { principal: 'alice' })).id);
      await a.create({ i }, { principal: 'bob' });
    }
    const ids = async (options: Parameters<TaskManager['list']>[0]) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await b.list({ ...options, cursor });
        seen.push(...page.tasks.map((t) => t.id));
        expect(page.tasks.every((t) => t.principal === (options?.principal ?? null))).toBe(true);
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await ids({ principal: 'alice', limit: 3 })).toEqual([...alice].reverse());
    // Two tasks read per call: pages of at most one of alice's (bob's are read and left out).
    const first = await b.list({ principal: 'alice', limit: 5, maxScanned: 2 });
    expect(first.tasks.map((t) => t.id)).toEqual([alice[6]]);
    expect(first.nextCursor).toBeDefined();
    expect(await ids({ principal: 'alice', limit: 5, maxScanned: 2 })).toEqual([...alice].reverse());
    expect(await b.list({ principal: 'carol' })).toEqual({ tasks: [] });
    expect(await b.list()).toEqual({ tasks: [] });
    await expect(b.list({ cursor: 'garbage' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a store without tasks, and bad ttls', async () => {
    const { a } = fleet();
    const plain = { name: 'x', capabilities: { atomic: true, durable: false, crossProcess: false } };
    expect(() => new TaskManager({ store: plain as never, timers: false })).toThrow(InvalidArgumentError);
    await expect(a.create({}, { ttlMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
