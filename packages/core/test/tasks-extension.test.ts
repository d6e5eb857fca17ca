/**
 * The Tasks extension on SDK v2 `createMcpHandler` servers, two instances sharing one memory store
 * and bus (as instances share a backend), spoken to on the 2026-07-28 wire: a task created on one
 * is read, answered and cancelled on the other; what a client without the extension gets; the
 * error codes; principals; a planned stop handing a task over to the other instance.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { TaskManager } from '@mcp-sessions/core';
import { createTasksExtension, type TasksExtension } from '@mcp-sessions/core/http';
import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { answerMessages, modernRequest } from './fixtures/modern-request';

const TASKS = 'io.modelcontextprotocol/tasks';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Wire answers are read loosely in assertions. */
// biome-ignore lint/suspicious/noExplicitAny: one alias instead of a cast per field
type Loose = any;

interface Instance {
  ext: TasksExtension;
  manager: TaskManager;
  call(method: string, params: Record<string, unknown>, options?: CallOptions): Promise<RpcAnswer>;
  listen(taskIds: string[], options?: CallOptions): Promise<{ status: number; messages: Loose[] }>;
}
interface CallOptions {
  declared?: boolean;
  principal?: string;
}
interface RpcAnswer {
  notifications?: Loose[];
  result?: Record<string, Loose>;
  error?: { code: number; message: string; data?: Loose };
}

/** Instances on one store; `cutOff`: the first one has a bus of its own (no message reaches it). */
function fleet(count = 2, { cutOff = false } = {}) {
  const store = new MemorySessionStore();
  const bus = new MemorySessionBus();
  const instances = Array.from({ length: count }, (_, i) =>
    instance(store, cutOff && i === 0 ? new MemorySessionBus() : bus, `i${i}`),
  );
  cleanups.push(async () => {
    for (const { ext, manager } of instances) {
      await ext.close();
      await manager.dispose();
    }
  });
  return { store, instances, a: instances[0]!, b: instances[1]! };
}

function instance(store: MemorySessionStore, bus: MemorySessionBus, instanceId: string): Instance {
  const manager = new TaskManager({ store, instanceId, logger: false, leaseMs: 600 });
  const ext = createTasksExtension({
    tasks: manager,
    bus,
    logger: false,
    updateTimeoutMs: 2000,
    principal: (ctx: Loose) => ctx.http?.req?.headers?.get?.('x-principal') ?? null,
  });
  ext.registerTool(
    'slow',
    { inputSchema: z.object({ ms: z.number().int().min(0) }), rerunnable: true },
    async ({ ms }, task) => {
      await task.status(`sleeping ${ms} ms on ${instanceId}`);
      await sleep(ms, undefined, { signal: task.signal });
      return { content: [{ type: 'text', text: `slept ${ms} on ${instanceId} (attempt ${task.attempt})` }] };
    },
  );
  ext.registerTool('ask', { taskSupport: 'required' }, async (_args, task) => {
    const answers = await task.input({
      first: { method: 'elicitation/create', params: { message: 'first?' } },
      second: { method: 'elicitation/create', params: { message: 'second?' } },
    });
    return { content: [{ type: 'text', text: JSON.stringify(answers) }] };
  });
  ext.registerTool('broken', { taskSupport: 'required' }, async () => {
    throw Object.assign(new Error('exploded'), { code: -32603 });
  });
  ext.registerTool('tool_error', {}, async () => {
    throw new Error('the tool says no');
  });
  const handler = ext.withStatusNotifications(
    createMcpHandler(
      () => {
        const server = new McpServer(
          { name: 'tasks-test', version: '1.0.0' },
          { capabilities: { logging: {} } },
        );
        ext.install(server as never);
        server.registerTool('greet', { inputSchema: z.object({ name: z.string() }) }, async ({ name }) => ({
          content: [{ type: 'text', text: `Hello, ${name}!` }],
        }));
        return server;
      },
      { legacy: 'reject' },
    ),
  );
  let id = 0;
  const declared = (options: CallOptions) =>
    options.declared === false ? {} : { extensions: { [TASKS]: {} } };
  const call = async (method: string, params: Record<string, unknown>, options: CallOptions = {}) => {
    const messages = await answerMessages(
      await handler.fetch(
        modernRequest(method, params, {
          id: ++id,
          capabilities: declared(options),
          headers: options.principal ? { 'x-principal': options.principal } : {},
        }),
      ),
    );
    // A streamed answer: its notifications, then the response.
    return { ...messages.at(-1)!, notifications: messages.slice(0, -1) } as RpcAnswer;
  };
  /** Opens `subscriptions/listen` for `taskIds`; resolves with every message once the stream ends. */
  const listen = async (taskIds: string[], options: CallOptions = {}) => {
    const response = await handler.fetch(
      modernRequest(
        'subscriptions/listen',
        { notifications: { taskIds } },
        {
          id: 'listen-1',
          capabilities: declared(options),
        },
      ),
    );
    return { status: response.status, messages: (await answerMessages(response)) as Loose[] };
  };
  return { ext, manager, call, listen };
}

async function until(
  read: () => Promise<RpcAnswer>,
  done: (task: Record<string, Loose>) => boolean,
  timeoutMs = 5000,
): Promise<Record<string, Loose>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await read();
    if (answer.result && done(answer.result)) return answer.result;
    if (Date.now() > deadline) throw new Error(`not reached: ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Tasks extension (2026-07-28, two instances on one store)', () => {
  it('creates the task durably on one instance; another reads it working, then completed with the result inline', async () => {
    const { a, b } = fleet();
    const created = await a.call('tools/call', { name: 'slow', arguments: { ms: 300 } });
    expect(created.result).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 3_600_000 });
    expect(created.result).not.toHaveProperty('result');
    expect(created.result!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const taskId = created.result!.taskId as string;
    const working = await b.call('tasks/get', { taskId });
    expect(working.result).toMatchObject({ resultType: 'complete', taskId, status: 'working' });
    const done = await until(
      () => b.call('tasks/get', { taskId }),
      (t) => t.status === 'completed',
    );
    expect(done.result).toEqual({
      content: [{ type: 'text', text: 'slept 300 on i0 (attempt 1)' }],
      resultType: 'complete', // the CallToolResult as the 2026-07-28 wire carries it
    });
    expect(done.statusMessage).toBe('sleeping 300 ms on i0');
  });

  it('lists task tools beside the others and advertises the extension (not a v1 capabilities.tasks)', async () => {
    const { a } = fleet(1);
    const listed = await a.call('tools/list', {});
    // Task creation is server-directed in 2026-07-28: the wire's Tool has no per-tool declaration.
    expect(listed.result!.tools.map((t: Loose) => t.name).sort()).toEqual([
      'ask',
      'broken',
      'greet',
      'slow',
      'tool_error',
    ]);
    const discovered = await a.call('server/discover', {});
    expect(discovered.result!.capabilities.extensions).toEqual({ [TASKS]: {} });
    expect(discovered.result!.capabilities.tasks).toBeUndefined();
  });

  it('input across instances: a partial answer keeps the task waiting for the rest, then it completes', async () => {
    const { a, b } = fleet();
    const { taskId } = (await a.call('tools/call', { name: 'ask', arguments: {} })).result!;
    const asked = await until(
      () => b.call('tasks/get', { taskId }),
      (t) => t.status === 'input_required',
    );
    expect(Object.keys(asked.inputRequests).sort()).toEqual(['first', 'second']);
    const ack = await b.call('tasks/update', {
      taskId,
      inputResponses: { first: { action: 'accept', content: { v: 1 } }, stray: { action: 'accept' } },
    });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    expect(Object.keys(ack.result!).filter((k) => k !== '_meta')).toEqual(['resultType']);
    const half = await b.call('tasks/get', { taskId });
    expect(half.result).toMatchObject({ status: 'input_required' });
    expect(Object.keys(half.result!.inputRequests)).toEqual(['second']);
    await b.call('tasks/update', { taskId, inputResponses: { second: { action: 'decline' } } });
    const done = await until(
      () => a.call('tasks/get', { taskId }),
      (t) => t.status === 'completed',
    );
    expect(JSON.parse(done.result.content[0].text)).toEqual({
      first: { action: 'accept', content: { v: 1 } },
      second: { action: 'decline' },
    });
  });

  it('cancel on another instance: acked empty, reads cancelled everywhere, and the worker stops', async () => {
    const { a, b } = fleet();
    const { taskId } = (await a.call('tools/call', { name: 'slow', arguments: { ms: 60_000 } })).result!;
    await until(
      () => a.call('tasks/get', { taskId }),
      (t) => t.statusMessage !== undefined,
    );
    expect(a.ext.runner.running.has(taskId)).toBe(true);
    const ack = await b.call('tasks/cancel', { taskId });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    expect(Object.keys(ack.result!).filter((k) => k !== '_meta')).toEqual(['resultType']);
    expect((await a.call('tasks/get', { taskId })).result).toMatchObject({ status: 'cancelled' });
    await until(
      async () => ({ result: { running: a.ext.runner.running.has(taskId) } }),
      (r) => r.running === false,
    );
    // Cancelling a finished task: the same ack.
    expect((await b.call('tasks/cancel', { taskId })).result).toMatchObject({ resultType: 'complete' });
  });

  it('a JSON-RPC error fails the task; a tool error completes it with isError', async () => {
    const { a } = fleet(1);
    const broken = (await a.call('tools/call', { name: 'broken', arguments: {} })).result!;
    const failed = await until(
      () => a.call('tasks/get', { taskId: broken.taskId }),
      (t) => t.status !== 'working',
    );
    expect(failed).toMatchObject({ status: 'failed', error: { code: -32603, message: 'exploded' } });
    expect(failed).not.toHaveProperty('result');
    const toolError = (await a.call('tools/call', { name: 'tool_error', arguments: {} })).result!;
    const completed = await until(
      () => a.call('tasks/get', { taskId: toolError.taskId }),
      (t) => t.status !== 'working',
    );
    expect(completed).toMatchObject({ status: 'completed', result: { isError: true } });
  });

  it('without the extension: optional tools answer in the request, required ones and tasks/* are -32021', async () => {
    const { a } = fleet(1);
    const plain = await a.call('tools/call', { name: 'slow', arguments: { ms: 1 } }, { declared: false });
    expect(plain.result).toMatchObject({
      resultType: 'complete',
      content: [{ text: 'slept 1 on i0 (attempt 1)' }],
    });
    const required = await a.call('tools/call', { name: 'ask', arguments: {} }, { declared: false });
    expect(required.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [TASKS]: {} } } },
    });
    for (const method of ['tasks/get', 'tasks/cancel']) {
      expect((await a.call(method, { taskId: 'x' }, { declared: false })).error?.code).toBe(-32021);
    }
    expect(
      (await a.call('tasks/update', { taskId: 'x', inputResponses: {} }, { declared: false })).error?.code,
    ).toBe(-32021);
    expect((await a.call('tools/call', { name: 'greet', arguments: { name: 'W' } })).result).toMatchObject({
      resultType: 'complete',
      content: [{ text: 'Hello, W!' }],
    });
  });

  it('an unknown, malformed or another principal’s task is -32602 on every method', async () => {
    const { a, b } = fleet();
    const { taskId } = (
      await a.call('tools/call', { name: 'slow', arguments: { ms: 50 } }, { principal: 'alice' })
    ).result!;
    expect((await b.call('tasks/get', { taskId }, { principal: 'alice' })).result?.taskId).toBe(taskId);
    for (const id of [taskId, 'no-such-task', 'x'.repeat(300)]) {
      expect((await b.call('tasks/get', { taskId: id }, { principal: 'mallory' })).error?.code).toBe(-32602);
      expect((await b.call('tasks/cancel', { taskId: id }, { principal: 'mallory' })).error?.code).toBe(
        -32602,
      );
      expect(
        (await b.call('tasks/update', { taskId: id, inputResponses: {} }, { principal: 'mallory' })).error
          ?.code,
      ).toBe(-32602);
    }
    expect((await a.call('tasks/get', { taskId }, { principal: 'alice' })).result?.status).not.toBe(
      'cancelled',
    );
  });

  it('a planned stop hands a rerunnable task to the other instance, which runs it again to the end', async () => {
    const { a, b } = fleet();
    const { taskId } = (await a.call('tools/call', { name: 'slow', arguments: { ms: 400 } })).result!;
    await a.ext.close();
    await b.manager.sweep();
    const done = await until(
      () => b.call('tasks/get', { taskId }),
      (t) => t.status === 'completed',
    );
    expect(done.result.content[0].text).toBe('slept 400 on i1 (attempt 2)');
  });

  it('status notifications: subscriptions/listen on another instance sends the task at each change, then closes once it ended', async () => {
    const { a, b } = fleet();
    const { taskId } = (await a.call('tools/call', { name: 'ask', arguments: {} })).result!;
    const listening = b.listen([taskId, 'no-such-task']);
    await until(
      () => a.call('tasks/get', { taskId }),
      (t) => t.status === 'input_required',
    );
    await a.call('tasks/update', {
      taskId,
      inputResponses: { first: { action: 'decline' }, second: { action: 'decline' } },
    });
    const { status, messages } = await listening;
    expect(status).toBe(200);
    expect(messages[0]).toMatchObject({
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { taskIds: [taskId] },
        _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' },
      },
    });
    const updates = messages.filter((m) => m.method === 'notifications/tasks').map((m) => m.params);
    expect(updates.every((u) => u.taskId === taskId)).toBe(true);
    expect(updates.map((u) => u.status)).toContain('input_required');
    expect(updates.at(-1)).toMatchObject({ status: 'completed', result: { content: [{ type: 'text' }] } });
    // The router's closing result comes last, after the task ended.
    expect(messages.at(-1)).toMatchObject({ id: 'listen-1', result: { resultType: 'complete' } });
    // Without the extension declared: -32021.
    const refused = await b.listen([taskId], { declared: false });
    expect(refused.status).toBe(400);
    expect(refused.messages[0].error).toMatchObject({ code: -32021 });
  });

  it('an update the worker cannot be reached for is -32603 after updateTimeoutMs, and nothing is lost', async () => {
    const { a, b } = fleet(2, { cutOff: true });
    const { taskId } = (await a.call('tools/call', { name: 'ask', arguments: {} })).result!;
    await until(
      () => b.call('tasks/get', { taskId }),
      (t) => t.status === 'input_required',
    );
    const started = Date.now();
    const refused = await b.call('tasks/update', {
      taskId,
      inputResponses: { first: { action: 'decline' } },
    });
    expect(refused.error).toMatchObject({
      code: -32603,
      message: expect.stringMatching(/did not take the input/),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900); // updateTimeoutMs: 2000
    // Still asked for, both of them: sent again where the worker is reached, it is taken.
    const still = await b.call('tasks/get', { taskId });
    expect(Object.keys(still.result!.inputRequests).sort()).toEqual(['first', 'second']);
    expect(
      (await a.call('tasks/update', { taskId, inputResponses: { first: { action: 'decline' } } })).result,
    ).toMatchObject({ resultType: 'complete' });
    expect(Object.keys((await b.call('tasks/get', { taskId })).result!.inputRequests)).toEqual(['second']);
  });
});
