/**
 * Durable MCP Tasks (2026-07-28, `io.modelcontextprotocol/tasks`) across real example processes:
 * three instances on one store behind a round-robin proxy, driven by the official Tasks client
 * (`@modelcontextprotocol/ext-tasks`) on an SDK v2 client. A task is created on one instance and
 * polled on all; its input is answered, and it is cancelled, on an instance other than its
 * worker's; a SIGKILLed worker's task is taken over and run again; finished tasks outlive a
 * SIGTERM of every instance. Raw `tasks/get` to one instance (bypassing the proxy) checks what
 * each instance reads.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sessionTag } from '@mcp-sessions/core';
import {
  createApplicationInputHandler,
  resultFromTaskOutcome,
  type SerializedTaskReference,
  type TaskExecutionEvent,
  taskViewFromExecutionEvent,
} from '@modelcontextprotocol/ext-tasks/client';
import type { TaskId } from '@modelcontextprotocol/ext-tasks/core';
import { describe, expect, it, vi } from 'vitest';

import { type RunningProxy, startProxy } from '../../../packages/core/test/fixtures/http-proxy';
import { EXAMPLE_DIR, freePort, type ServerProcess } from '../src/spawn';
import { backends, cleanups, toolJson as json, server, tempSqlite } from './fixtures/processes';
import { readTask, taskClient } from './fixtures/task-client';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const BACKENDS = backends('tasks');

/** A lease short enough that a SIGKILLed worker's task is taken over within seconds (sweep: half of it). */
const SHORT_LEASE = { MCP_SESSIONS_TASK_LEASE_MS: '2000' };
const TAKEN_OVER = 'task taken over from a lost worker';

interface Fleet {
  envs: Record<string, string>[];
  servers: ServerProcess[];
  proxy: RunningProxy;
  /** The instance listening on `port`. */
  at(port: number): ServerProcess;
}

/** Three example instances on `store` (the first alone, so it migrates the store) behind a round-robin proxy. */
async function fleet(store: string, env: Record<string, string> = {}): Promise<Fleet> {
  const envs: Record<string, string>[] = [];
  for (let i = 0; i < 3; i++) {
    envs.push({
      PORT: String(await freePort()),
      MCP_SESSIONS_STORE: store,
      MCP_SESSIONS_INSTANCE_ID: `p${i}`,
      ...env,
    });
  }
  const first = await server(envs[0]!);
  const servers = [first, ...(await Promise.all(envs.slice(1).map((e) => server(e))))];
  const proxy = await startProxy(envs.map((e) => Number(e.PORT)));
  cleanups.push(() => proxy.close());
  return { envs, servers, proxy, at: (port) => servers.find((s) => Number(new URL(s.url).port) === port)! };
}

/** The port that accepted the latest `countdown` call: the task's worker runs there. */
function workerPort(proxy: RunningProxy): number {
  const calls = proxy.requests().filter((r) => r.method === 'tools/call' && r.name === 'countdown');
  return calls.at(-1)!.port;
}

/** Ports that served `method` for the task (its `Mcp-Name`). */
function servedBy(proxy: RunningProxy, method: string, taskId: string): number[] {
  return proxy
    .requests()
    .filter((r) => r.method === method && r.name === taskId)
    .map((r) => r.port);
}

/** Every statusMessage ext-tasks observed while the task was working. */
function workingMessages(events: TaskExecutionEvent<unknown>[]): string[] {
  return events
    .map((e) => taskViewFromExecutionEvent(e))
    .filter((t) => t?.status === 'working' && t.statusMessage !== undefined)
    .map((t) => t!.statusMessage!);
}

/**
 * One instance claimed the task (the library logs the takeover, and the example once more) and
 * runs it again: its second attempt. No other task was taken over.
 */
function expectOneTakeover(servers: ServerProcess[], taskId: string): void {
  const claimers = servers.filter((s) => s.lines.some((l) => l.includes(TAKEN_OVER)));
  expect(claimers).toHaveLength(1);
  const lines = claimers[0]!.lines.filter((l) => l.includes(TAKEN_OVER));
  for (const line of lines) expect(line).toContain(`task="${sessionTag(taskId)}" status="working"`);
  expect(lines.some((l) => l.includes('attempts=2'))).toBe(true);
}

const done = (from: number) => ({ content: [{ type: 'text', text: JSON.stringify({ done: true, from }) }] });

describe.each(BACKENDS)('durable tasks, three processes on $name behind a round-robin proxy', ({ spec }) => {
  it.skipIf(!spec)(
    'created on one instance, polled on all three, completed with the synchronous call’s result',
    async () => {
      const { proxy } = await fleet(spec!());
      const { client, session } = await taskClient(proxy.url);
      // The example suggests pollIntervalMs 1000 and ext-tasks honours it: the count lasts 2.8 s
      // (four 700 ms steps), so at least three polls go out, one to each instance in turn.
      const execution = await session.callTool('countdown', { from: 5, intervalMs: 700 });
      expect(execution.kind).toBe('task');
      const taskId = execution.handle!.taskId;
      const events: TaskExecutionEvent<unknown>[] = [];
      const { outcome } = await execution.settle({ onEvent: (e) => void events.push(e) });

      expect(outcome).toMatchObject({ status: 'completed', task: { taskId, status: 'completed' } });
      expect(resultFromTaskOutcome(outcome)).toMatchObject(done(5));
      expect(workingMessages(events).length).toBeGreaterThan(0);
      for (const message of workingMessages(events)) expect(message).toMatch(/^[1-5]$/);
      expect(new Set(servedBy(proxy, 'tasks/get', taskId)).size).toBe(3);
      // A client without the extension gets the same content from the call itself.
      const sync = await client.callTool({ name: 'countdown', arguments: { from: 5, intervalMs: 0 } });
      expect(json(sync)).toEqual({ done: true, from: 5 });
      expect(resultFromTaskOutcome(outcome)).toMatchObject({ content: sync.content });
    },
  );

  it.skipIf(!spec)(
    'input across instances: input_required after the first step, answered on another instance, then completed',
    async () => {
      const { proxy } = await fleet(spec!());
      const asked: unknown[] = [];
      let worker: number | undefined;
      const { session, errors } = await taskClient(
        proxy.url,
        createApplicationInputHandler({
          elicitation: async (request, context) => {
            asked.push({ params: request.params, inputId: context.inputId, taskId: context.taskId });
            // The worker leaves the rotation, so the tasks/update that follows lands on another
            // instance and the answer has to cross the bus to reach the worker.
            worker = workerPort(proxy);
            proxy.drain(worker);
            return { action: 'accept', content: { proceed: true } };
          },
          sampling: async () => {
            throw new Error('countdown asks no sampling');
          },
          roots: async () => {
            throw new Error('countdown asks no roots');
          },
        }),
      );
      const execution = await session.callTool('countdown', { from: 3, intervalMs: 50, confirm: true });
      const taskId = execution.handle!.taskId;
      const { outcome } = await execution.settle();
      proxy.restore(worker!);

      expect(errors).toEqual([]);
      expect(outcome).toMatchObject({ status: 'completed', task: { taskId } });
      expect(resultFromTaskOutcome(outcome)).toMatchObject(done(3));
      expect(asked).toEqual([
        {
          params: expect.objectContaining({
            message: 'Counting down from 3: go on to 2?',
            requestedSchema: expect.objectContaining({ properties: { proceed: expect.anything() } }),
          }),
          inputId: 'proceed',
          taskId,
        },
      ]);
      const updates = servedBy(proxy, 'tasks/update', taskId);
      expect(updates).toHaveLength(1);
      expect(updates[0]).not.toBe(worker);
    },
  );

  it.skipIf(!spec)(
    'cancel across instances: every instance reads cancelled within seconds, and the worker stops',
    async () => {
      const { servers, proxy, at } = await fleet(spec!());
      const { session } = await taskClient(proxy.url);
      const execution = await session.callTool('countdown', { from: 1000, intervalMs: 200 });
      const taskId = execution.handle!.taskId;
      const worker = workerPort(proxy);
      const settled = execution.settle();
      await vi.waitFor(
        async () => expect(Number((await readTask(servers[0]!.url, taskId)).statusMessage)).toBeLessThan(999),
        { timeout: 10_000, interval: 100 },
      );

      proxy.drain(worker); // the cancel lands on another instance and crosses the bus
      await session.cancelTask(taskId);
      proxy.restore(worker);
      const cancels = servedBy(proxy, 'tasks/cancel', taskId);
      expect(cancels).toHaveLength(1);
      expect(cancels[0]).not.toBe(worker);
      await vi.waitFor(
        async () => {
          for (const s of servers) expect((await readTask(s.url, taskId)).status).toBe('cancelled');
        },
        { timeout: 5_000, interval: 100 },
      );
      expect((await settled).outcome.status).toBe('cancelled');

      // The worker's instance heard the cancel (over the bus) and stopped the worker at once.
      await vi.waitFor(
        () =>
          expect(
            at(worker).lines.filter(
              (l) => l.includes('task worker stopped') && l.includes(`task="${sessionTag(taskId)}"`),
            ),
          ).toEqual([expect.stringContaining('the task was cancelled')]),
        { timeout: 5_000, interval: 50 },
      );
      // Stopped: three steps later nothing about the task has moved on any instance, and the
      // worker logged no refused write.
      const cancelled = await readTask(servers[0]!.url, taskId);
      expect(cancelled).toMatchObject({ status: 'cancelled', statusMessage: 'Cancelled by the client' });
      await new Promise((resolve) => setTimeout(resolve, 3 * 200));
      for (const s of servers) expect(await readTask(s.url, taskId)).toEqual(cancelled);
      expect(at(worker).lines.filter((l) => / (warn|error) /.test(l))).toEqual([]);
    },
  );

  it.skipIf(!spec)(
    'SIGKILL of the worker’s instance: the task is taken over, runs again, and completes under the same id',
    async () => {
      const { servers, proxy, at } = await fleet(spec!(), SHORT_LEASE);
      const { session } = await taskClient(proxy.url);
      const execution = await session.callTool('countdown', { from: 8, intervalMs: 250 });
      const taskId = execution.handle!.taskId;
      const worker = workerPort(proxy);
      const survivors = servers.filter((s) => s !== at(worker));
      const settled = execution.settle();
      await vi.waitFor(
        async () => expect(Number((await readTask(survivors[0]!.url, taskId)).statusMessage)).toBeLessThan(8),
        { timeout: 10_000, interval: 50 },
      );

      at(worker).child.kill('SIGKILL');
      await at(worker).exited;
      proxy.drain(worker); // a balancer's health check takes it out
      const { outcome } = await settled;

      expect(outcome).toMatchObject({ status: 'completed', task: { taskId, status: 'completed' } });
      expect(resultFromTaskOutcome(outcome)).toMatchObject(done(8));
      expectOneTakeover(survivors, taskId);
      for (const s of survivors)
        expect(await readTask(s.url, taskId)).toMatchObject({ taskId, status: 'completed' });
    },
  );

  it.skipIf(!spec)(
    'SIGTERM of every instance: finished tasks stay readable on new instances until their ttl; a running one is handed off and completes',
    async () => {
      const store = spec!();
      const { envs, servers, proxy } = await fleet(store, SHORT_LEASE);
      const { session } = await taskClient(proxy.url);
      const finished = new Map<TaskId, number>();
      for (const from of [1, 2, 3]) {
        const execution = await session.callTool('countdown', { from, intervalMs: 10 });
        const { outcome } = await execution.settle();
        expect(resultFromTaskOutcome(outcome)).toMatchObject(done(from));
        finished.set(execution.handle!.taskId, from);
      }
      const running = await session.callTool('countdown', { from: 6, intervalMs: 300 });
      if (running.kind !== 'task') throw new Error('countdown answered without a task');
      let reference: SerializedTaskReference | undefined;
      await running.handoff((r) => {
        reference = r;
      });

      for (const s of servers) s.child.kill('SIGTERM');
      await Promise.all(servers.map((s) => s.exited));
      for (const s of servers)
        expect(s.lines.some((l) => l.includes('shutting down signal="SIGTERM"'))).toBe(true);
      const renewed = [];
      for (const [i, env] of envs.entries())
        renewed.push(await server({ ...env, MCP_SESSIONS_INSTANCE_ID: `q${i}` }));

      for (const [taskId, from] of finished) {
        const view = await session.task(taskId).snapshot();
        expect(view).toMatchObject({ taskId, status: 'completed', retentionMs: 3_600_000 });
        expect(Date.parse(view.createdAt!) + view.retentionMs!).toBeGreaterThan(Date.now());
        expect(await session.task(taskId).result()).toMatchObject({
          status: 'completed',
          result: done(from),
        });
        for (const s of renewed) {
          expect(await readTask(s.url, taskId)).toMatchObject({
            taskId,
            status: 'completed',
            result: done(from),
          });
        }
      }
      const resumed = await session.resumeTask(reference!);
      const { outcome } = await resumed.settle();
      expect(outcome).toMatchObject({ status: 'completed', task: { taskId: reference!.taskId } });
      expect(resultFromTaskOutcome(outcome)).toMatchObject(done(6));
      expectOneTakeover(renewed, reference!.taskId);
    },
  );
});

describe('the README’s Tasks client (src/tasks-client.ts)', () => {
  const script = fileURLToPath(new URL('../src/tasks-client.ts', import.meta.url));

  it('is the snippet the README shows', () => {
    const source = readFileSync(script, 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\n\`\`\`ts\n${source.slice(source.indexOf('import {')).trimEnd()}\n\`\`\`\n`);
  });

  it('runs against the example: asked once, answered, completed with the count’s result', async () => {
    const { url } = await server({ PORT: String(await freePort()), MCP_SESSIONS_STORE: tempSqlite() });
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: EXAMPLE_DIR,
      env: { ...process.env, MCP_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let output = '';
    const collect = (chunk: string) => {
      output += chunk;
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    const code = await new Promise((resolve) => child.once('close', resolve));

    expect(output).toMatch(/^task \S+\n/);
    expect(output.match(/server asks: .*/g)).toEqual([
      'server asks: Counting down from 3: go on to 2? -> yes',
    ]);
    expect(output).toContain(`completed: ${JSON.stringify(done(3).content)}\n`);
    expect(code).toBe(0);
  });
});
