/**
 * SDK v1's experimental task interfaces (protocol 2025-11-25), durable: `DurableTaskStore` and
 * `DurableTaskMessageQueue` unit by unit on the memory store and on a SQLite file (a second
 * instance on a second connection to it), then a real v1 `McpServer` with task tools behind
 * `createSessionHandler` over HTTP with a real v1 client (1.32.2 and 1.25.2): a task called,
 * polled and read, the instance replaced by another on the same SQLite file where the task and
 * its result are still there, an elicitation through the durable queue, a worker lost mid-task,
 * a cancel from another instance. Time is an injected clock; manager timers are off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  CreateTaskRequestHandlerExtra,
  TaskMessageQueue,
  TaskStore,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type {
  TaskMessageQueue as TaskMessageQueue125,
  TaskStore as TaskStore125,
} from 'mcp-sdk-1-25/experimental/tasks/interfaces.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  createNodeSessionHandler,
  DurableTaskMessageQueue,
  DurableTaskStore,
  type NodeSessionHandler,
  V1_TASK_QUEUE_AGENT_PREFIX,
  type V1QueuedMessage,
} from '../src/http/index';
import {
  DEFAULT_TASK_LEASE_MS,
  InvalidArgumentError,
  InvalidValueError,
  SessionManager,
  SessionNotFoundError,
  type SessionStore,
  TaskManager,
  TaskNotFoundError,
  TaskQueueError,
  TaskRefusedError,
  TaskResultUnavailableError,
} from '../src/index';
import { WORKER_LOST_ERROR } from '../src/task-lifecycle';
import type { TaskStore as TasksFacet } from '../src/task-store';
import { FAST_RECONNECT, listen, loadSdk, type RunningHttp, type Sdk } from './fixtures/http-app';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const sqliteDir = mkdtempSync(join(tmpdir(), 'mcp-sessions-v1-tasks-'));
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));
let files = 0;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Opened = { store: SessionStore; reopen(): SessionStore };
/** Each store, and how a second instance reaches it: the same object (memory), a new connection (SQLite). */
const STORES: [string, () => Opened][] = [
  [
    'memory',
    () => {
      const store = new MemorySessionStore();
      return { store, reopen: () => store };
    },
  ],
  [
    'sqlite',
    () => {
      const filename = join(sqliteDir, `unit-${++files}.db`);
      return {
        store: new SqliteSessionStore({ filename, logger: false }),
        reopen: () => new SqliteSessionStore({ filename, logger: false }),
      };
    },
  ],
];

const T0 = 1_700_000_000_000;
const S = 'session-one';
const OTHER = 'session-two';
const CALL = { method: 'tools/call', params: { name: 'sum', arguments: { a: 1, b: 2 } } };
const RESULT = { content: [{ type: 'text', text: '3' }] };

/** Two instances (a, b) sharing one store, each with its managers, durable task store and queue. */
async function fleet(open: () => Opened) {
  const clock = { t: T0, now: () => clock.t };
  const { store, reopen } = open();
  const instance = (s: SessionStore, instanceId: string) => {
    const manager = new SessionManager({ store: s, clock, timers: false, logger: false, instanceId });
    const tasks = new TaskManager({ store: s, clock, timers: false, logger: false, instanceId });
    cleanups.push(
      () => manager.dispose(),
      () => tasks.dispose(),
    );
    const taskStore = new DurableTaskStore({ tasks });
    return { manager, tasks, taskStore, queue: new DurableTaskMessageQueue({ manager }) };
  };
  cleanups.push(() => store.close());
  const a = instance(store, 'a');
  const second = reopen();
  if (second !== store) cleanups.push(() => second.close());
  const b = instance(second, 'b');
  await a.manager.initialize(S);
  await a.manager.initialize(OTHER);
  return { clock, facet: store as SessionStore & TasksFacet, a, b };
}

describe('the SDK v1 interfaces, by type', () => {
  it('DurableTaskStore and DurableTaskMessageQueue are SDK v1 1.32.2 and 1.25.2 TaskStore and TaskMessageQueue', () => {
    const tasks = new TaskManager({ store: new MemorySessionStore(), timers: false, logger: false });
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false, logger: false });
    cleanups.push(
      () => tasks.dispose(),
      () => manager.dispose(),
    );
    // Compile-time: tsc fails this file if a class stops fitting either version's interface.
    const stores: [TaskStore, TaskStore125] = [
      new DurableTaskStore({ tasks }),
      new DurableTaskStore({ tasks }),
    ];
    const queues: [TaskMessageQueue, TaskMessageQueue125] = [
      new DurableTaskMessageQueue({ manager }),
      new DurableTaskMessageQueue({ manager }),
    ];
    for (const method of [
      'createTask',
      'getTask',
      'storeTaskResult',
      'getTaskResult',
      'updateTaskStatus',
      'listTasks',
    ]) {
      expect(typeof (stores[0] as unknown as Record<string, unknown>)[method]).toBe('function');
    }
    expect(typeof queues[1].dequeueAll).toBe('function');
    expect(() => new DurableTaskStore({ tasks, pagesize: 2 } as never)).toThrow(InvalidArgumentError);
    expect(() => new DurableTaskMessageQueue({ manager: {} as never })).toThrow(InvalidArgumentError);
  });
});

describe.each(STORES)('DurableTaskStore on %s', (_name, open) => {
  it('creates a working task bound to its session, durable before it is answered; the Task fits the SDK schema', async () => {
    const { a, b, facet } = await fleet(open);
    const { TaskSchema } = await import('@modelcontextprotocol/sdk/types.js');
    const task = await a.taskStore.createTask({ ttl: 60_000 }, 7, CALL, S);
    expect(TaskSchema.parse(task)).toEqual(task);
    expect(task).toEqual({
      taskId: expect.any(String),
      status: 'working',
      ttl: 60_000,
      createdAt: new Date(T0).toISOString(),
      lastUpdatedAt: new Date(T0).toISOString(),
      pollInterval: 1000,
    });
    // Another instance (for SQLite another connection) reads it, for the same session only.
    expect(await b.taskStore.getTask(task.taskId, S)).toEqual(task);
    expect(await b.taskStore.getTask(task.taskId, OTHER)).toBeNull();
    expect(await b.taskStore.getTask(task.taskId)).toBeNull();
    expect(await b.taskStore.getTask('not a task id', S)).toBeNull();
    const record = await facet.getTask(task.taskId);
    expect(record).toMatchObject({ request: CALL, rerunnable: false, workerId: 'a', status: 'working' });
    // The session id is a credential: the task is bound to its hash, never to the id itself.
    expect(record?.principal).toMatch(/^v1-session:/);
    expect(record?.principal).not.toContain(S);
    expect(a.tasks.runningTaskIds.has(task.taskId)).toBe(true);
  });

  it("ttl: the manager's default when none is asked, never past maxTtlMs (nor when null is asked); pollInterval", async () => {
    const { a } = await fleet(open);
    const capped = new DurableTaskStore({ tasks: a.tasks, maxTtlMs: 120_000, pollIntervalMs: 250 });
    expect((await a.taskStore.createTask({}, 1, CALL, S)).ttl).toBe(3_600_000);
    expect((await capped.createTask({}, 1, CALL, S)).ttl).toBe(120_000);
    expect((await capped.createTask({ ttl: null }, 1, CALL, S)).ttl).toBe(120_000);
    expect((await capped.createTask({ ttl: 10 ** 9 }, 1, CALL, S)).ttl).toBe(120_000);
    expect(await capped.createTask({ ttl: 5_000, pollInterval: 20 }, 1, CALL, S)).toMatchObject({
      ttl: 5_000,
      pollInterval: 20,
    });
    expect((await capped.createTask({}, 1, CALL, S)).pollInterval).toBe(250);
    await expect(a.taskStore.createTask({ ttl: -1 }, 1, CALL, S)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('the worker stores the result; any instance reads it for the session; then nothing changes it', async () => {
    const { a, b } = await fleet(open);
    const { taskId } = await a.taskStore.createTask({}, 1, CALL, S);
    await expect(b.taskStore.storeTaskResult(taskId, 'completed', RESULT, S)).rejects.toMatchObject({
      reason: 'not_worker',
    });
    await expect(a.taskStore.storeTaskResult(taskId, 'completed', RESULT, OTHER)).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
    await a.taskStore.storeTaskResult(taskId, 'completed', RESULT, S);
    expect(await b.taskStore.getTask(taskId, S)).toMatchObject({ status: 'completed' });
    expect(await b.taskStore.getTaskResult(taskId, S)).toEqual(RESULT);
    await expect(b.taskStore.getTaskResult(taskId, OTHER)).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(a.taskStore.storeTaskResult(taskId, 'failed', RESULT, S)).rejects.toMatchObject({
      reason: 'terminal',
    });
    await expect(b.taskStore.updateTaskStatus(taskId, 'cancelled', 'late', S)).rejects.toBeInstanceOf(
      TaskRefusedError,
    );
    expect(a.tasks.runningTaskIds.has(taskId)).toBe(false);
  });

  it('failed with a result: kept and answered; failed without one: tasks/result is a typed error saying why', async () => {
    const { a, b } = await fleet(open);
    const reported = { content: [{ type: 'text', text: 'disk full' }], isError: true };
    const first = await a.taskStore.createTask({}, 1, CALL, S);
    await a.taskStore.storeTaskResult(first.taskId, 'failed', reported, S);
    expect(await b.taskStore.getTask(first.taskId, S)).toMatchObject({ status: 'failed' });
    expect(await b.taskStore.getTaskResult(first.taskId, S)).toEqual(reported);

    const second = await a.taskStore.createTask({}, 2, CALL, S);
    await a.taskStore.updateTaskStatus(second.taskId, 'failed', 'quota exceeded', S);
    expect(await b.taskStore.getTask(second.taskId, S)).toMatchObject({
      status: 'failed',
      statusMessage: 'quota exceeded',
    });
    const error = await b.taskStore.getTaskResult(second.taskId, S).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskResultUnavailableError);
    expect(error).toMatchObject({ status: 'failed', error: { code: -32603, message: 'quota exceeded' } });
    expect((error as Error).message).toMatch(/has no result: it failed: quota exceeded/);

    const running = await a.taskStore.createTask({}, 3, CALL, S);
    await expect(b.taskStore.getTaskResult(running.taskId, S)).rejects.toMatchObject({ status: 'working' });
  });

  it('status through the lifecycle: input_required ⇄ working keeping messages; a cancel from any instance wins', async () => {
    const { a, b } = await fleet(open);
    const lost: string[] = [];
    a.tasks.on('lost', (id) => lost.push(id));
    const { taskId } = await a.taskStore.createTask({}, 1, CALL, S);
    await a.taskStore.updateTaskStatus(taskId, 'input_required', 'waiting for a name', S);
    expect(await b.taskStore.getTask(taskId, S)).toMatchObject({
      status: 'input_required',
      statusMessage: 'waiting for a name',
    });
    await a.taskStore.updateTaskStatus(taskId, 'working', undefined, S);
    expect(await b.taskStore.getTask(taskId, S)).toMatchObject({
      status: 'working',
      statusMessage: 'waiting for a name',
    });
    await a.taskStore.updateTaskStatus(taskId, 'working', '2 of 3', S);
    expect(await b.taskStore.getTask(taskId, S)).toMatchObject({
      status: 'working',
      statusMessage: '2 of 3',
    });
    await expect(b.taskStore.updateTaskStatus(taskId, 'working', 'x', S)).rejects.toMatchObject({
      reason: 'not_worker',
    });
    await expect(a.taskStore.updateTaskStatus(taskId, 'completed', undefined, S)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(b.taskStore.updateTaskStatus(taskId, 'cancelled', 'x', OTHER)).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
    await b.taskStore.updateTaskStatus(taskId, 'cancelled', 'Client cancelled task execution.', S);
    expect(await a.taskStore.getTask(taskId, S)).toMatchObject({
      status: 'cancelled',
      statusMessage: 'Client cancelled task execution.',
    });
    // The worker's late result loses, and it learns it lost the task.
    await expect(a.taskStore.storeTaskResult(taskId, 'completed', RESULT, S)).rejects.toBeInstanceOf(
      TaskRefusedError,
    );
    expect(lost).toEqual([taskId]);
    await expect(a.taskStore.getTaskResult(taskId, S)).rejects.toMatchObject({ status: 'cancelled' });
  });

  it("lists the session's tasks only, newest first, page by page with the store's cursor", async () => {
    const { a, b, clock } = await fleet(open);
    const own: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.t += 1;
      own.push((await a.taskStore.createTask({}, i, CALL, S)).taskId);
      await a.taskStore.createTask({}, i, CALL, OTHER);
    }
    const pager = new DurableTaskStore({ tasks: b.tasks, pageSize: 2 });
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await pager.listTasks(cursor, S);
      pages.push(page.tasks.map((t) => t.taskId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages.flat()).toEqual([...own].reverse());
    expect(pages[0]).toHaveLength(2);
    expect((await pager.listTasks(undefined, 'session-three')).tasks).toEqual([]);
    expect((await pager.listTasks()).tasks).toEqual([]);
    await expect(pager.listTasks('garbage', S)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a worker lost mid-task: another instance claims the lapsed lease and fails it; its ttl then ends it', async () => {
    const { a, b, clock } = await fleet(open);
    const { taskId } = await a.taskStore.createTask({ ttl: 60_000 }, 1, CALL, S);
    clock.t += DEFAULT_TASK_LEASE_MS;
    expect(await b.tasks.sweep()).toEqual({ takenOver: 1, deleted: 0 });
    expect(await b.taskStore.getTask(taskId, S)).toMatchObject({
      status: 'failed',
      statusMessage: expect.stringMatching(/lost/),
    });
    await expect(b.taskStore.getTaskResult(taskId, S)).rejects.toMatchObject({ error: WORKER_LOST_ERROR });
    await expect(a.taskStore.storeTaskResult(taskId, 'completed', RESULT, S)).rejects.toBeInstanceOf(
      TaskRefusedError,
    );
    clock.t += 60_000;
    expect(await b.tasks.sweep()).toMatchObject({ deleted: 1 });
    expect(await b.taskStore.getTask(taskId, S)).toBeNull();
  });

  it('refuses a result JSON cannot keep, before anything is written', async () => {
    const { a } = await fleet(open);
    const { taskId } = await a.taskStore.createTask({}, 1, CALL, S);
    await expect(
      a.taskStore.storeTaskResult(taskId, 'completed', { content: [], n: 1n } as never, S),
    ).rejects.toBeInstanceOf(InvalidValueError);
    expect(await a.taskStore.getTask(taskId, S)).toMatchObject({ status: 'working' });
  });
});

const TASK = 'task-1';
const note = (n: number): V1QueuedMessage => ({
  type: 'notification',
  timestamp: n,
  message: { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: n } },
});
const ask = (n: number): V1QueuedMessage => ({
  type: 'request',
  timestamp: n,
  message: { jsonrpc: '2.0', id: n, method: 'elicitation/create', params: { message: `question ${n}` } },
});

describe.each(STORES)('DurableTaskMessageQueue on %s', (_name, open) => {
  it('FIFO per task and session; another instance (another connection) takes the messages in order', async () => {
    const { a, b } = await fleet(open);
    for (const n of [1, 2, 3]) await a.queue.enqueue(TASK, note(n), S);
    await a.queue.enqueue('task-2', note(9), S);
    await a.queue.enqueue(TASK, note(7), OTHER);
    expect(await b.queue.dequeue(TASK, S)).toEqual(note(1));
    expect(await b.queue.dequeue(TASK, S)).toEqual(note(2));
    expect(await b.queue.dequeueAll(TASK, S)).toEqual([note(3)]);
    expect(await b.queue.dequeue(TASK, S)).toBeUndefined();
    expect(await b.queue.dequeueAll(TASK, S)).toEqual([]);
    expect(await b.queue.dequeue('task-2', S)).toEqual(note(9));
    expect(await b.queue.dequeue(TASK, OTHER)).toEqual(note(7));
  });

  it("bounded by the SDK's maxSize or maxMessages, the lower; exact for concurrent calls on one queue", async () => {
    const { a } = await fleet(open);
    const queue = new DurableTaskMessageQueue({ manager: a.manager, maxMessages: 3 });
    await queue.enqueue(TASK, note(1), S, 2);
    await queue.enqueue(TASK, note(2), S, 2);
    const full = await queue.enqueue(TASK, note(3), S, 2).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(TaskQueueError);
    expect(full).toMatchObject({ reason: 'full', taskId: TASK });
    await queue.enqueue(TASK, note(3), S);
    await expect(queue.enqueue(TASK, note(4), S)).rejects.toMatchObject({ reason: 'full' });
    expect(await queue.dequeue(TASK, S)).toEqual(note(1));
    await queue.enqueue(TASK, note(4), S);
    expect(await queue.dequeueAll(TASK, S)).toEqual([note(2), note(3), note(4)]);

    const outcomes = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => queue.enqueue(TASK, note(n), S, 3)));
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    expect(
      outcomes.every((o) => o.status === 'fulfilled' || (o.reason as TaskQueueError).reason === 'full'),
    ).toBe(true);
    expect((await queue.dequeueAll(TASK, S)).map((m) => m.timestamp)).toEqual([1, 2, 3]);
    await expect(queue.enqueue(TASK, note(1), S, -1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('two instances taking at once: each message goes to exactly one', async () => {
    const { a, b } = await fleet(open);
    for (let n = 1; n <= 6; n++) await a.queue.enqueue(TASK, note(n), S);
    const taken = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).queue.dequeue(TASK, S)),
    );
    const stamps = taken.filter((m) => m !== undefined).map((m) => m.timestamp);
    expect(stamps.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("another server's requests and replies are removed and reported, never handed over; notifications pass", async () => {
    const { a, b } = await fleet(open);
    await a.queue.enqueue(TASK, ask(1), S);
    await a.queue.enqueue(TASK, note(2), S);
    await a.queue.enqueue(
      TASK,
      { ...ask(3), type: 'response', message: { jsonrpc: '2.0', id: 3, result: {} } },
      S,
    );
    const foreign = await b.queue.dequeue(TASK, S).catch((e: unknown) => e);
    expect(foreign).toBeInstanceOf(TaskQueueError);
    expect(foreign).toMatchObject({ reason: 'foreign' });
    expect(await b.queue.dequeue(TASK, S)).toEqual(note(2));
    await expect(b.queue.dequeue(TASK, S)).rejects.toMatchObject({ reason: 'foreign' });
    expect(await a.queue.dequeue(TASK, S)).toBeUndefined();
    // Its own requests come back to the queue that queued them.
    await a.queue.enqueue(TASK, ask(4), S);
    expect(await a.queue.dequeue(TASK, S)).toEqual(ask(4));
    // dequeueAll removes everything and returns what this server may act on.
    await a.queue.enqueue(TASK, ask(5), S);
    await a.queue.enqueue(TASK, note(6), S);
    await b.queue.enqueue(TASK, ask(7), S);
    // (Between two queue objects, order follows their clocks: the same millisecond may go either way.)
    const all = await b.queue.dequeueAll(TASK, S);
    expect(all).toHaveLength(2);
    expect(all).toEqual(expect.arrayContaining([note(6), ask(7)]));
    expect(await a.queue.dequeueAll(TASK, S)).toEqual([]);
  });

  it('kept in its session: needs its id, ends with it, expires after messageTtlMs, holds JSON only', async () => {
    const { a, clock } = await fleet(open);
    await expect(a.queue.enqueue(TASK, note(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await a.queue.dequeue(TASK)).toBeUndefined();
    expect(await a.queue.dequeueAll(TASK)).toEqual([]);
    const bad = { ...note(1), message: { jsonrpc: '2.0', method: 'x', params: { n: 1n } } } as never;
    await expect(a.queue.enqueue(TASK, bad, S)).rejects.toBeInstanceOf(InvalidValueError);
    expect(await a.manager.listAgentState(S, `${V1_TASK_QUEUE_AGENT_PREFIX}${TASK}`)).toEqual([]);

    const brief = new DurableTaskMessageQueue({ manager: a.manager, messageTtlMs: 1_000 });
    await brief.enqueue(TASK, note(1), S);
    clock.t += 1_000;
    expect(await brief.dequeue(TASK, S)).toBeUndefined();

    await a.queue.enqueue(TASK, note(2), S);
    await a.manager.close(S);
    expect(await a.queue.dequeue(TASK, S)).toBeUndefined();
    await expect(a.queue.enqueue(TASK, note(3), S)).rejects.toBeInstanceOf(SessionNotFoundError);
  });
});

// --- Over HTTP: a real SDK v1 server and client ---

type SdkTypes = typeof import('@modelcontextprotocol/sdk/types.js');
type V1Version = '1.32.2' | '1.25.2';

/** A promise and its resolver: the test says when a held task's work goes on. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/**
 * The task tools: `sum` (done at once), `greet` (asks the client's name by elicitation, through
 * the task's message queue), `hold` (waits for the test's gate). Each tool's work runs after its
 * `createTask` answers, as SDK v1 intends; `work` holds every run's promise.
 */
function taskApp(sdk: Sdk, manager: SessionManager, taskStore: DurableTaskStore) {
  const work: Promise<void>[] = [];
  const held = gate();
  const createServer = (): McpServer => {
    const server = new sdk.McpServer(
      { name: 'v1-tasks', version: '1.0.0' },
      {
        capabilities: { tasks: { requests: { tools: { call: {} } }, list: {}, cancel: {} } },
        taskStore,
        taskMessageQueue: new DurableTaskMessageQueue({ manager }),
      },
    );
    // A tool with an input schema is called (args, extra), one without (extra).
    const tool = (
      run: (taskId: string, extra: CreateTaskRequestHandlerExtra, args: unknown) => Promise<void>,
    ) => ({
      createTask: async (...params: unknown[]) => {
        const extra = params.at(-1) as CreateTaskRequestHandlerExtra;
        const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl });
        const running = run(task.taskId, extra, params.length > 1 ? params[0] : undefined);
        running.catch(() => undefined); // settled by the test (Promise.allSettled(work)), not unhandled meanwhile
        work.push(running);
        return { task };
      },
      getTask: async (...args: unknown[]) => {
        const extra = args.at(-1) as CreateTaskRequestHandlerExtra & { taskId: string };
        return extra.taskStore.getTask(extra.taskId);
      },
      getTaskResult: async (...args: unknown[]) => {
        const extra = args.at(-1) as CreateTaskRequestHandlerExtra & { taskId: string };
        return (await extra.taskStore.getTaskResult(extra.taskId)) as never;
      },
    });
    const required = { execution: { taskSupport: 'required' as const } };
    server.experimental.tasks.registerToolTask(
      'sum',
      { ...required, inputSchema: { a: z.number(), b: z.number() } },
      tool(async (taskId, extra, args) => {
        const { a, b } = args as { a: number; b: number };
        await extra.taskStore.storeTaskResult(taskId, 'completed', {
          content: [{ type: 'text', text: String(a + b) }],
        });
      }) as never,
    );
    server.experimental.tasks.registerToolTask(
      'greet',
      required,
      tool(async (taskId, extra) => {
        try {
          await extra.taskStore.updateTaskStatus(taskId, 'input_required');
          const answer = await server.server.elicitInput(
            {
              mode: 'form',
              message: 'Your name?',
              requestedSchema: {
                type: 'object',
                properties: { name: { type: 'string' } },
                required: ['name'],
              },
            },
            { relatedTask: { taskId } },
          );
          await extra.taskStore.updateTaskStatus(taskId, 'working');
          await extra.taskStore.storeTaskResult(taskId, 'completed', {
            content: [{ type: 'text', text: `hello ${String(answer.content?.name)}` }],
          });
        } catch (error) {
          await extra.taskStore.storeTaskResult(taskId, 'failed', {
            content: [{ type: 'text', text: (error as Error).message }],
            isError: true,
          });
          throw error;
        }
      }),
    );
    server.experimental.tasks.registerToolTask(
      'hold',
      required,
      tool(async (taskId, extra) => {
        await held.opened;
        await extra.taskStore.storeTaskResult(taskId, 'completed', {
          content: [{ type: 'text', text: 'late' }],
        });
      }),
    );
    return server;
  };
  return { createServer, work, release: held.open };
}

describe.each(['1.32.2', '1.25.2'] as V1Version[])(
  'an SDK v1 %s server over HTTP, tasks on a SQLite file',
  (version) => {
    let sdk: Sdk;
    let types: SdkTypes;
    let now = Date.now();
    const clock = { now: () => now };

    beforeAll(async () => {
      sdk = await loadSdk(version);
      types =
        version === '1.32.2'
          ? await import('@modelcontextprotocol/sdk/types.js')
          : ((await import('mcp-sdk-1-25/types.js')) as unknown as SdkTypes);
    });

    /** One instance: its own SQLite connection to `filename`, managers, task store and handler. */
    function instance(filename: string, instanceId: string) {
      const store = new SqliteSessionStore({ filename, logger: false });
      const manager = new SessionManager({ store, clock, timers: false, logger: false, instanceId });
      const tasks = new TaskManager({ store, clock, timers: false, logger: false, instanceId });
      const app = taskApp(sdk, manager, new DurableTaskStore({ tasks, pollIntervalMs: 50 }));
      const handler = createNodeSessionHandler({
        manager,
        createServer: app.createServer,
        transportClass: sdk.transportClass,
        logger: false,
      });
      let stopped = false;
      /** The process ends: managers gone, SQLite connection closed (its HTTP server is closed apart). */
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        await manager.dispose();
        await tasks.dispose();
        await store.close();
      };
      cleanups.push(async () => {
        app.release();
        await Promise.allSettled(app.work);
        await stop();
      });
      return { manager, tasks, app, handler, stop };
    }

    async function up(handler: NodeSessionHandler, port?: number): Promise<RunningHttp> {
      const http = await listen(handler, port);
      cleanups.push(() => http.close());
      return http;
    }

    async function connect(url: string): Promise<{ client: Client; asked: string[] }> {
      const client = new sdk.Client(
        { name: 'v1-task-client', version: '1.0.0' },
        { capabilities: { elicitation: { form: {} } } },
      );
      const asked: string[] = [];
      client.setRequestHandler(types.ElicitRequestSchema, async (request) => {
        asked.push(request.params.message);
        return { action: 'accept', content: { name: 'Ada' } };
      });
      const transport: StreamableHTTPClientTransport = new sdk.StreamableHTTPClientTransport(new URL(url), {
        reconnectionOptions: FAST_RECONNECT,
      });
      await client.connect(transport);
      cleanups.push(() => client.close());
      return { client, asked };
    }

    /** `greet` (which elicits a name) called as a task on a fresh instance. */
    async function greetAsTask() {
      now = Date.now();
      const a = instance(join(sqliteDir, `http-${++files}.db`), 'a');
      const http = await up(a.handler);
      const { client, asked } = await connect(http.url);
      return { a, asked, called: await callAsTask(client, 'greet') };
    }

    /**
     * A `hold` task created on instance A; then A is cut off from clients (its HTTP server gone,
     * no hand-off) while its process, and worker, live on, and B serves A's port on the same file.
     */
    async function heldTaskMovedToB() {
      now = Date.now();
      const filename = join(sqliteDir, `http-${++files}.db`);
      const a = instance(filename, 'a');
      const httpA = await up(a.handler);
      const { client } = await connect(httpA.url);
      const created = await client.request(
        { method: 'tools/call', params: { name: 'hold', arguments: {}, task: { ttl: 60_000 } } },
        types.CreateTaskResultSchema,
      );
      await httpA.close();
      const b = instance(filename, 'b');
      await up(b.handler, httpA.port);
      return { a, b, client, created };
    }

    /** Calls a tool as a task and follows it (tasks/get, then tasks/result) to its end. */
    async function callAsTask(client: Client, name: string, args: Record<string, unknown> = {}) {
      const seen: string[] = [];
      let taskId = '';
      let outcome: { result?: unknown; error?: Error } = {};
      for await (const message of client.experimental.tasks.callToolStream(
        { name, arguments: args },
        types.CallToolResultSchema,
        { task: { ttl: 60_000 } },
      )) {
        seen.push(message.type === 'taskStatus' ? `status:${message.task.status}` : message.type);
        if (message.type === 'taskCreated') taskId = message.task.taskId;
        if (message.type === 'result') outcome = { result: message.result };
        if (message.type === 'error') outcome = { error: message.error };
      }
      return { taskId, seen, ...outcome };
    }

    it('a task called, polled and read; the instance replaced by another on the same file still has it and its result', async () => {
      now = Date.now();
      const filename = join(sqliteDir, `http-${++files}.db`);
      const a = instance(filename, 'a');
      const httpA = await up(a.handler);
      const { client } = await connect(httpA.url);

      const called = await callAsTask(client, 'sum', { a: 2, b: 3 });
      expect(called.error).toBeUndefined();
      expect(called.seen[0]).toBe('taskCreated');
      expect(called.seen.at(-1)).toBe('result');
      expect((called.result as { content: unknown }).content).toEqual([{ type: 'text', text: '5' }]);
      const polled = await client.experimental.tasks.getTask(called.taskId);
      expect(polled).toMatchObject({
        taskId: called.taskId,
        status: 'completed',
        ttl: 60_000,
        pollInterval: 50,
      });
      const read = await client.experimental.tasks.getTaskResult(called.taskId, types.CallToolResultSchema);
      expect(read.content).toEqual([{ type: 'text', text: '5' }]);

      // Replaced: A's connections cut, its managers gone, its SQLite connection closed; B opens the file.
      await httpA.close();
      await a.stop();
      const b = instance(filename, 'b');
      await up(b.handler, httpA.port);
      const again = await client.experimental.tasks.getTask(called.taskId);
      expect(again).toMatchObject({
        taskId: called.taskId,
        status: 'completed',
        ttl: 60_000,
        createdAt: polled.createdAt,
        lastUpdatedAt: polled.lastUpdatedAt,
      });
      const reread = await client.experimental.tasks.getTaskResult(called.taskId, types.CallToolResultSchema);
      expect(reread.content).toEqual([{ type: 'text', text: '5' }]);
      expect((await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([
        called.taskId,
      ]);

      // Another session, on the same instance, finds nothing of it.
      const { client: stranger } = await connect(httpA.url);
      await expect(stranger.experimental.tasks.getTask(called.taskId)).rejects.toThrow(/not found/i);
      await expect(
        stranger.experimental.tasks.getTaskResult(called.taskId, types.CallToolResultSchema),
      ).rejects.toThrow(/not found/i);
      expect((await stranger.experimental.tasks.listTasks()).tasks).toEqual([]);
    });

    it.runIf(version === '1.32.2')(
      'an elicitation during a task waits in the durable queue and reaches the client through tasks/result',
      async () => {
        const { a, asked, called } = await greetAsTask();
        expect(called.error).toBeUndefined();
        expect((called.result as { content: unknown }).content).toEqual([
          { type: 'text', text: 'hello Ada' },
        ]);
        expect(asked).toEqual(['Your name?']);
        expect(called.seen).toContain('status:input_required');
        // Delivered, then cleared: nothing is left in the session's state.
        const session = (await a.manager.getActiveSessions()).sessions[0]!.id;
        expect(await a.manager.listAgentState(session)).toEqual([]);
      },
    );

    it.runIf(version === '1.25.2')(
      'SDK 1.25 queues an elicitation without the session id: refused with a typed error, the task fails',
      async () => {
        const { a, asked, called } = await greetAsTask();
        expect(called.error?.message).toMatch(/failed/);
        expect(asked).toEqual([]);
        const [outcome] = await Promise.allSettled(a.app.work);
        expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(InvalidArgumentError) });
        expect(String((outcome as PromiseRejectedResult).reason.message)).toMatch(/sessionId/);
      },
    );

    it('a worker lost mid-task: the next instance fails it once its lease lapses, and the lost worker cannot finish it', async () => {
      const { a, b, client, created } = await heldTaskMovedToB();
      const taskId = created.task.taskId;
      expect(created.task.status).toBe('working');

      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'working' });
      now += DEFAULT_TASK_LEASE_MS;
      expect(await b.tasks.sweep()).toMatchObject({ takenOver: 1 });
      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({
        status: 'failed',
        statusMessage: expect.stringMatching(/lost/),
      });
      await expect(
        client.experimental.tasks.getTaskResult(taskId, types.CallToolResultSchema),
      ).rejects.toThrow(/worker running this task was lost/);
      a.app.release();
      const [late] = await Promise.allSettled(a.app.work);
      expect(late).toMatchObject({ status: 'rejected', reason: expect.any(TaskRefusedError) });
      expect(await client.experimental.tasks.getTask(taskId)).toMatchObject({ status: 'failed' });
    });

    it("tasks/cancel answered by another instance wins over the worker's late result", async () => {
      const { a, client, created } = await heldTaskMovedToB();
      const cancelled = await client.experimental.tasks.cancelTask(created.task.taskId);
      expect(cancelled).toMatchObject({
        status: 'cancelled',
        statusMessage: 'Client cancelled task execution.',
      });
      a.app.release();
      const [late] = await Promise.allSettled(a.app.work);
      expect(late).toMatchObject({ status: 'rejected', reason: expect.any(TaskRefusedError) });
      expect(await client.experimental.tasks.getTask(created.task.taskId)).toMatchObject({
        status: 'cancelled',
      });
      await expect(client.experimental.tasks.cancelTask(created.task.taskId)).rejects.toThrow(/terminal/);
    });
  },
);
