import assert from 'node:assert/strict';
import { StoreUnavailableError } from '@mcp-sessions/core';
import {
  createTask,
  type JsonObject,
  type TaskEvent,
  type TaskPolicy,
  type TaskRecord,
  type TaskStore,
  taskStateOf,
  transitionTask,
} from '@mcp-sessions/core/adapter';
import { rejectsWith } from '../assert';
import { HOUR, MINUTE, SECOND } from '../fixtures';
import type { ConformanceContext, GroupDefinition } from '../harness';

const TASKS = ['tasks'] as const;
const ATOMIC_TASKS = ['tasks', 'atomic'] as const;
const POLICY: TaskPolicy = { leaseMs: 30 * SECOND, defaultTtlMs: HOUR };

/**
 * The tasks facet (MCP's Tasks extension): records kept as written, a state written only on the
 * expected version, leases renewed only by their holder and claimed by one instance once they
 * lapse, and tasks deleted once their ttl is over. Skipped unless the store declares `tasks`.
 */
export const tasks: GroupDefinition = {
  id: 'tasks',
  tests: [
    {
      title: 'insertTask writes a task that reads back exactly; a taken id is refused and the first kept',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const task = newTask('t1', now, {
          principal: 'alice',
          request: {
            method: 'tools/call',
            params: { name: 'countdown', arguments: { from: 3, é: ['ü', null] } },
          },
          rerunnable: true,
          pollIntervalMs: 500,
          statusMessage: 'starting',
        });
        assert.equal(await store.insertTask(task), true, 'a new id is written');
        assert.deepStrictEqual(await store.getTask('t1'), task, 'the task reads back as written');
        assert.equal(
          await store.insertTask({ ...task, principal: 'mallory', statusMessage: 'second' }),
          false,
          'a taken id is refused',
        );
        assert.deepStrictEqual(await store.getTask('t1'), task, 'the first task is kept');
        assert.equal(await store.getTask('missing'), undefined, 'an unknown id reads as undefined');
        const unlimited = newTask('t2', now, { ttlMs: null });
        await store.insertTask(unlimited);
        assert.deepStrictEqual(await store.getTask('t2'), unlimited, 'no ttl reads back as null');
      },
    },
    {
      title: 'compareAndSetTask writes the state only, on the expected version; a stale version is refused',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const task = newTask('t1', now, { request: { method: 'tools/call', params: { name: 'a' } } });
        await store.insertTask(task);
        const progressed = step(task, { type: 'progress', workerId: 'w1', statusMessage: '2 of 3' }, now + 5);
        assert.equal(
          await store.compareAndSetTask('t1', taskStateOf(progressed), task.version),
          true,
          'the expected version is written',
        );
        assert.deepStrictEqual(await store.getTask('t1'), progressed, 'the written state reads back');
        // A JavaScript caller passing a whole task with other identity fields changes no identity.
        const again = step(
          progressed,
          { type: 'progress', workerId: 'w1', statusMessage: '3 of 3' },
          now + 6,
        );
        const forged = {
          ...again,
          principal: 'mallory',
          request: { method: 'x' },
          createdAt: 1,
        } as TaskRecord;
        assert.equal(
          await store.compareAndSetTask('t1', forged, progressed.version),
          true,
          'a write on the expected version is accepted',
        );
        assert.deepStrictEqual(await store.getTask('t1'), again, 'identity is written once, by insertTask');
        assert.equal(
          await store.compareAndSetTask('t1', taskStateOf(again), progressed.version),
          false,
          'a stale version is refused',
        );
        assert.equal(
          await store.compareAndSetTask('missing', taskStateOf(again), 1),
          false,
          'no task: false',
        );
        assert.deepStrictEqual(await store.getTask('t1'), again, 'a refused write changes nothing');
      },
    },
    {
      title:
        'a completed task keeps its result, a failed one its error, an input_required one its input requests',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const result: JsonObject = {
          content: [{ type: 'text', text: 'done: 3, 2, 1 ✓' }],
          structuredContent: { count: 3, nested: { deep: [1, 2, { x: null }] } },
          isError: false,
        };
        const inputRequests: JsonObject = {
          confirm: {
            method: 'elicitation/create',
            params: { message: 'go on?', requestedSchema: { type: 'object' } },
          },
        };
        const error: JsonObject = { code: -32603, message: 'tool failed', data: { why: 'disk' } };
        const cases: [string, TaskEvent[], Partial<TaskRecord>][] = [
          ['done', [{ type: 'complete', workerId: 'w1', result }], { status: 'completed', result }],
          ['oops', [{ type: 'fail', workerId: 'w1', error }], { status: 'failed', error }],
          [
            'ask',
            [{ type: 'need_input', workerId: 'w1', inputRequests, statusMessage: 'waiting' }],
            { status: 'input_required', inputRequests },
          ],
        ];
        for (const [id, events, expected] of cases) {
          let task = newTask(id, now);
          await store.insertTask(task);
          for (const event of events) {
            const next = step(task, event, ctx.clock.advance(SECOND));
            assert.equal(
              await store.compareAndSetTask(id, taskStateOf(next), task.version),
              true,
              `${id}: the ${event.type} is written`,
            );
            task = next;
          }
          const stored = await store.getTask(id);
          assert.deepStrictEqual(stored, task, `${id}: the task reads back as written`);
          assert.deepStrictEqual(
            pick(stored!, Object.keys(expected) as (keyof TaskRecord)[]),
            expected,
            `${id}: ${Object.keys(expected).join(', ')} kept`,
          );
        }
        const done = await store.getTask('done');
        assert.equal(done?.leaseUntil, null, 'a terminal task holds no lease');
        assert.equal(done?.workerId, null, 'a terminal task has no worker');
      },
    },
    {
      title:
        'a cancelled task stays cancelled: a worker write on the version it read is refused, no claim takes it',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const task = newTask('t1', now);
        await store.insertTask(task);
        // The worker read the task, then the client cancelled it on another instance.
        const cancelled = step(task, { type: 'cancel', statusMessage: 'stopped by the client' }, now + 1);
        assert.equal(
          await store.compareAndSetTask('t1', taskStateOf(cancelled), task.version),
          true,
          'the cancel is written',
        );
        const late = step(task, { type: 'complete', workerId: 'w1', result: { content: [] } }, now + 2);
        assert.equal(
          await store.compareAndSetTask('t1', taskStateOf(late), task.version),
          false,
          'the worker completing on the version before the cancel is refused',
        );
        assert.deepStrictEqual(
          await store.renewTaskLeases(['t1'], 'w1', now + HOUR),
          [],
          'a cancelled task holds no lease to renew',
        );
        const claimed = await store.claimLapsedTasks({
          now: now + 10 * HOUR,
          limit: 10,
          workerId: 'w2',
          leaseUntil: now + 11 * HOUR,
        });
        assert.deepStrictEqual(claimed, [], 'a cancelled task is never claimed');
        assert.deepStrictEqual(await store.getTask('t1'), cancelled, 'it reads cancelled');
      },
    },
    {
      title:
        'renewTaskLeases renews only the leases the worker holds, in input order, and bumps each version',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        for (const id of ['a', 'b', 'c']) await store.insertTask(newTask(id, now));
        await store.insertTask(newTask('other', now, { workerId: 'w2' }));
        const ended = newTask('ended', now);
        await store.insertTask(ended);
        const failed = step(ended, { type: 'fail', workerId: 'w1', error: { code: -1, message: 'x' } }, now);
        await store.compareAndSetTask('ended', taskStateOf(failed), ended.version);
        const renewed = await store.renewTaskLeases(
          ['c', 'missing', 'other', 'a', 'ended', 'b'],
          'w1',
          now + 5 * MINUTE,
        );
        assert.deepStrictEqual(renewed, ['c', 'a', 'b'], "the worker's running tasks, in input order");
        for (const id of ['a', 'b', 'c']) {
          const task = await store.getTask(id);
          assert.equal(task?.leaseUntil, now + 5 * MINUTE, `${id}: lease renewed`);
          assert.equal(task?.version, 2, `${id}: version bumped`);
        }
        assert.equal(
          (await store.getTask('other'))?.leaseUntil,
          now + POLICY.leaseMs,
          "another worker's lease untouched",
        );
        assert.deepStrictEqual(await store.getTask('ended'), failed, 'a terminal task untouched');
      },
    },
    {
      title:
        'claimLapsedTasks takes lapsed leases only, earliest first, at most limit, and hands each to the claimer',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        // Leases lapse at now + 30 s + i × 1 s.
        for (let i = 0; i < 5; i++) await store.insertTask(newTask(`t${i}`, now + i * SECOND));
        const at = now + POLICY.leaseMs + 2 * SECOND; // t0, t1, t2 lapsed
        assert.deepStrictEqual(
          await store.claimLapsedTasks({ now: now, limit: 10, workerId: 'w2', leaseUntil: at }),
          [],
          'nothing lapsed yet',
        );
        const first = await store.claimLapsedTasks({
          now: at,
          limit: 2,
          workerId: 'w2',
          leaseUntil: at + MINUTE,
        });
        assert.deepStrictEqual(
          first.map((t) => t.id),
          ['t0', 't1'],
          'the earliest lapsed leases, at most limit',
        );
        for (const task of first) {
          assert.equal(task.workerId, 'w2', 'handed to the claimer');
          assert.equal(task.leaseUntil, at + MINUTE, 'under the new lease');
          assert.equal(task.version, 2, 'version bumped');
          assert.deepStrictEqual(await store.getTask(task.id), task, 'returned as stored after the claim');
        }
        const rest = await store.claimLapsedTasks({
          now: at,
          limit: 10,
          workerId: 'w3',
          leaseUntil: at + MINUTE,
        });
        assert.deepStrictEqual(
          rest.map((t) => t.id),
          ['t2'],
          'the next call takes what is left lapsed, not what was just claimed',
        );
      },
    },
    {
      title:
        "a claimed task's lease is held: another claim takes nothing until it lapses again, and only its holder renews it",
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        await store.insertTask(newTask('t1', now));
        const lapsed = now + POLICY.leaseMs;
        const [claimed] = await store.claimLapsedTasks({
          now: lapsed,
          limit: 1,
          workerId: 'w2',
          leaseUntil: lapsed + POLICY.leaseMs,
        });
        assert.equal(claimed?.workerId, 'w2', 'the lapsed task goes to the claimer');
        assert.deepStrictEqual(
          await store.claimLapsedTasks({ now: lapsed, limit: 1, workerId: 'w3', leaseUntil: lapsed + HOUR }),
          [],
          'a held lease is not claimed again',
        );
        assert.deepStrictEqual(
          await store.renewTaskLeases(['t1'], 'w1', lapsed + HOUR),
          [],
          'the lost worker renews nothing',
        );
        assert.deepStrictEqual(
          await store.renewTaskLeases(['t1'], 'w2', lapsed + HOUR),
          ['t1'],
          'the holder renews',
        );
        assert.equal((await store.getTask('t1'))?.workerId, 'w2', 'one worker holds it');
      },
    },
    {
      title: '10 concurrent claims of lapsed tasks: each task goes to exactly one claimer',
      requires: ATOMIC_TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        for (let i = 0; i < 4; i++) await store.insertTask(newTask(`t${i}`, now));
        const at = now + HOUR;
        const claims = await Promise.all(
          Array.from({ length: 10 }, (_, w) =>
            store.claimLapsedTasks({ now: at, limit: 2, workerId: `w${w}`, leaseUntil: at + HOUR }),
          ),
        );
        const ids = claims.flat().map((t) => t.id);
        assert.deepStrictEqual([...ids].sort(), ['t0', 't1', 't2', 't3'], 'every lapsed task claimed once');
        for (const [w, claim] of claims.entries()) {
          for (const task of claim) {
            assert.equal(
              (await store.getTask(task.id))?.workerId,
              `w${w}`,
              `${task.id}: held by its claimer`,
            );
          }
        }
      },
    },
    {
      title:
        'deleteExpiredTasks deletes the tasks whose ttl is over, and only those, counting what it deleted',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        await store.insertTask(newTask('short', now, { ttlMs: MINUTE }));
        await store.insertTask(newTask('long', now, { ttlMs: HOUR }));
        await store.insertTask(newTask('forever', now, { ttlMs: null }));
        const done = newTask('done', now, { ttlMs: 2 * MINUTE });
        await store.insertTask(done);
        const completed = step(done, { type: 'complete', workerId: 'w1', result: { content: [] } }, now);
        await store.compareAndSetTask('done', taskStateOf(completed), done.version);
        assert.equal(
          await store.deleteExpiredTasks(now + MINUTE - 1, 100),
          0,
          'nothing before its ttl is over',
        );
        assert.equal(await store.deleteExpiredTasks(now + MINUTE, 100), 1, 'at its expiresAt');
        assert.equal(await store.getTask('short'), undefined, 'the expired task is gone');
        assert.equal(await store.deleteExpiredTasks(now + 10 * MINUTE, 100), 1, 'a finished task too');
        assert.equal(await store.getTask('done'), undefined, 'the finished task past its ttl is gone');
        assert.equal(await store.deleteExpiredTasks(now + 2 * HOUR, 1), 1, 'at most limit');
        assert.equal(await store.deleteExpiredTasks(now + 1000 * HOUR, 100), 0, 'nothing else expires');
        assert.notEqual(await store.getTask('forever'), undefined, 'a task with no ttl stays');
      },
    },
    {
      title: 'listTasks pages newest first by createdAt, then id, with no gap or duplicate',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const ids: string[] = [];
        for (let i = 0; i < 25; i++) {
          const id = `t${String(i).padStart(2, '0')}`;
          await store.insertTask(newTask(id, now + Math.floor(i / 2)));
          ids.push(id);
        }
        const expected = [...ids].sort((a, b) => (a < b ? 1 : -1));
        const seen: string[] = [];
        let after: { createdAt: number; id: string } | undefined;
        for (;;) {
          const page = await store.listTasks({ limit: 7, after });
          seen.push(...page.map((t) => t.id));
          const last = page[page.length - 1];
          if (page.length < 7 || !last) break;
          after = { createdAt: last.createdAt, id: last.id };
        }
        assert.deepStrictEqual(seen, expected, 'every task once, newest first');
      },
    },
    {
      title: 'every task method rejects with StoreUnavailableError after close()',
      requires: TASKS,
      async run(ctx) {
        const store = taskStore(ctx);
        const now = ctx.clock.now();
        const task = newTask('t1', now);
        await store.insertTask(task);
        await ctx.store.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['insertTask', () => store.insertTask(newTask('t2', now))],
          ['getTask', () => store.getTask('t1')],
          ['compareAndSetTask', () => store.compareAndSetTask('t1', taskStateOf(task), 1)],
          ['renewTaskLeases', () => store.renewTaskLeases(['t1'], 'w1', now)],
          ['renewTaskLeases (no ids)', () => store.renewTaskLeases([], 'w1', now)],
          [
            'claimLapsedTasks',
            () => store.claimLapsedTasks({ now, limit: 1, workerId: 'w', leaseUntil: now }),
          ],
          ['deleteExpiredTasks', () => store.deleteExpiredTasks(now, 1)],
          ['listTasks', () => store.listTasks({ limit: 1 })],
        ];
        for (const [name, call] of calls) {
          await rejectsWith(call(), StoreUnavailableError, `${name} after close()`);
        }
      },
    },
  ],
};

// --- Internal helpers ---

function taskStore(ctx: ConformanceContext): TaskStore {
  return ctx.store as unknown as TaskStore;
}

function newTask(
  id: string,
  now: number,
  options: {
    principal?: string | null;
    request?: JsonObject;
    rerunnable?: boolean;
    workerId?: string;
    ttlMs?: number | null;
    pollIntervalMs?: number | null;
    statusMessage?: string | null;
  } = {},
): TaskRecord {
  return createTask(
    {
      id,
      principal: options.principal,
      request: options.request ?? { method: 'tools/call', params: { name: 'echo' } },
      rerunnable: options.rerunnable,
      workerId: options.workerId ?? 'w1',
      ttlMs: options.ttlMs,
      pollIntervalMs: options.pollIntervalMs,
      statusMessage: options.statusMessage,
    },
    now,
    POLICY,
  );
}

/** The lifecycle's next task for `event`; the test fails when the lifecycle refuses it. */
function step(task: TaskRecord, event: TaskEvent, now: number): TaskRecord {
  const result = transitionTask(task, event, now, POLICY);
  if (!result.ok) assert.fail(`the lifecycle refused ${event.type}: ${result.reason}`);
  return result.task;
}

function pick(task: TaskRecord, keys: (keyof TaskRecord)[]): Partial<TaskRecord> {
  return Object.fromEntries(keys.map((k) => [k, task[k]]));
}
