/** The task lifecycle (MCP's Tasks extension), event by event, on the pure functions. */
import { describe, expect, it } from 'vitest';
import {
  createTask,
  isTerminalTask,
  type TaskEvent,
  type TaskPolicy,
  transitionTask,
  WORKER_LOST_ERROR,
} from '../src/task-lifecycle';
import type { TaskRecord } from '../src/task-store';

const T0 = 1_700_000_000_000;
const policy: TaskPolicy = { leaseMs: 30_000, defaultTtlMs: 3_600_000 };
const working = (patch: Partial<Parameters<typeof createTask>[0]> = {}) =>
  createTask({ id: 't1', workerId: 'w1', request: { method: 'tools/call' }, ...patch }, T0, policy);

function ok(task: TaskRecord, event: TaskEvent, now = T0 + 1): TaskRecord {
  const result = transitionTask(task, event, now, policy);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.task;
}

describe('task lifecycle', () => {
  it('creates a working task under a lease, with the default ttl unless given', () => {
    expect(working()).toMatchObject({
      status: 'working',
      version: 1,
      workerId: 'w1',
      leaseUntil: T0 + 30_000,
      ttlMs: 3_600_000,
      expiresAt: T0 + 3_600_000,
      attempts: 1,
      rerunnable: false,
      principal: null,
    });
    expect(working({ ttlMs: null })).toMatchObject({ ttlMs: null, expiresAt: null });
  });

  it('working ⇄ input_required, then completed: the worker writes, each write a new version', () => {
    const asked = ok(working(), {
      type: 'need_input',
      workerId: 'w1',
      inputRequests: { a: { method: 'x' } },
    });
    expect(asked).toMatchObject({
      status: 'input_required',
      version: 2,
      inputRequests: { a: { method: 'x' } },
    });
    const resumed = ok(asked, { type: 'input_received', workerId: 'w1' });
    expect(resumed).toMatchObject({ status: 'working', inputRequests: null, version: 3 });
    const done = ok(resumed, { type: 'complete', workerId: 'w1', result: { content: [] } });
    expect(done).toMatchObject({
      status: 'completed',
      result: { content: [] },
      workerId: null,
      leaseUntil: null,
    });
    expect(isTerminalTask(done.status)).toBe(true);
  });

  it('answering some of the requests keeps the task waiting for the rest', () => {
    const asked = ok(working(), {
      type: 'need_input',
      workerId: 'w1',
      inputRequests: { a: { method: 'x' }, b: { method: 'y' } },
    });
    const half = ok(asked, { type: 'input_received', workerId: 'w1', answered: ['a', 'unknown'] });
    expect(half).toMatchObject({ status: 'input_required', inputRequests: { b: { method: 'y' } } });
    const all = ok(half, { type: 'input_received', workerId: 'w1', answered: ['b'] });
    expect(all).toMatchObject({ status: 'working', inputRequests: null });
  });

  it('only the lease holder writes; input_received needs input_required', () => {
    expect(
      transitionTask(working(), { type: 'progress', workerId: 'w2', statusMessage: 'x' }, T0, policy),
    ).toEqual({
      ok: false,
      reason: 'not_worker',
    });
    expect(transitionTask(working(), { type: 'input_received', workerId: 'w1' }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_waiting',
    });
  });

  it('a terminal task never changes again; cancelling a cancelled one is a no-op', () => {
    const cancelled = ok(working(), { type: 'cancel', statusMessage: 'stop' });
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      statusMessage: 'stop',
      leaseUntil: null,
      workerId: null,
    });
    expect(transitionTask(cancelled, { type: 'cancel' }, T0, policy)).toEqual({
      ok: true,
      changed: false,
      task: cancelled,
    });
    for (const event of [
      { type: 'complete', workerId: 'w1', result: {} },
      { type: 'take_over', workerId: 'w2' },
      { type: 'progress', workerId: 'w1', statusMessage: null },
    ] as TaskEvent[]) {
      expect(transitionTask(cancelled, event, T0, policy)).toEqual({ ok: false, reason: 'terminal' });
    }
  });

  it('fail_with_result (protocol 2025-11-25): failed with the result that reports it, no error; the worker only', () => {
    const result = { content: [{ type: 'text', text: 'disk full' }], isError: true };
    const asked = ok(working({ statusMessage: 'writing' }), {
      type: 'need_input',
      workerId: 'w1',
      inputRequests: {},
    });
    const failed = ok(asked, { type: 'fail_with_result', workerId: 'w1', result });
    expect(failed).toMatchObject({
      status: 'failed',
      result,
      error: null,
      inputRequests: null,
      statusMessage: 'writing',
      workerId: null,
      leaseUntil: null,
      version: 3,
    });
    expect(
      ok(working(), { type: 'fail_with_result', workerId: 'w1', result, statusMessage: 'no space' }),
    ).toMatchObject({ statusMessage: 'no space' });
    expect(
      transitionTask(working(), { type: 'fail_with_result', workerId: 'w2', result }, T0, policy),
    ).toEqual({ ok: false, reason: 'not_worker' });
    expect(transitionTask(failed, { type: 'fail_with_result', workerId: 'w1', result }, T0, policy)).toEqual({
      ok: false,
      reason: 'terminal',
    });
  });

  it('take over after a lost worker: runs again when rerunnable, else fails saying the worker was lost', () => {
    const claimed = { ...working({ rerunnable: true }), workerId: 'w2', version: 2 };
    expect(ok(claimed, { type: 'take_over', workerId: 'w2' }, T0 + 60_000)).toMatchObject({
      status: 'working',
      attempts: 2,
      workerId: 'w2',
      leaseUntil: T0 + 90_000,
    });
    const unsafe = { ...working(), workerId: 'w2', version: 2 };
    const failed = ok(unsafe, { type: 'take_over', workerId: 'w2' });
    expect(failed).toMatchObject({ status: 'failed', error: WORKER_LOST_ERROR, leaseUntil: null });
    expect(failed.statusMessage).toMatch(/worker .* lost/);
  });
});
