/**
 * The Tasks extension's fixtures (SEP-2663 scenarios `tasks-*`), served through
 * `createTasksExtension` on the conformance server's store: the tasks are durable, so in the
 * two-instance modes a task created on one instance is polled, answered and cancelled on the other.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  inputRequired,
  inputResponse,
  type ServerContext,
} from '../../examples/server/node_modules/@modelcontextprotocol/server/dist/index.mjs';
import { z } from '../../examples/server/node_modules/zod/index.js';
import { TaskProtocolError, type TasksExtension } from '../../packages/core/src/http/index';

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

const elicit = (message: string, properties: Record<string, unknown>) =>
  inputRequired.elicit({
    message,
    requestedSchema: { type: 'object', properties: properties as never },
  }) as unknown as Record<string, never>;

export function registerTaskTools(tasks: TasksExtension, log: (line: string) => void): void {
  tasks.registerTool(
    'slow_compute',
    {
      description: 'Sleeps `seconds`, then answers; cancellable; safe to run again',
      inputSchema: z.object({ seconds: z.number().min(0).max(600), label: z.string().optional() }),
      rerunnable: true,
    },
    async ({ seconds, label }, task) => {
      await task.status(`computing ${label ?? ''} for ${seconds} s`);
      await sleep(seconds * 1000, undefined, { signal: task.signal }); // rejects once cancelled
      return text(`slow_compute ${label ?? ''} done after ${seconds} s`);
    },
  );

  tasks.registerTool(
    'failing_job',
    { description: 'Fails as a tool (isError) after about a second', taskSupport: 'required' },
    async (_args, task) => {
      await sleep(1000, undefined, { signal: task.signal });
      throw new Error('failing_job: the job failed');
    },
  );

  tasks.registerTool(
    'protocol_error_job',
    { description: 'Fails with a JSON-RPC internal error' },
    async () => {
      throw new TaskProtocolError(-32603, 'protocol_error_job: internal failure');
    },
  );

  tasks.registerTool(
    'confirm_delete',
    {
      description: 'Asks the client to confirm, then answers',
      inputSchema: z.object({ filename: z.string() }),
    },
    async ({ filename }, task) => {
      const { confirm } = await task.input({
        confirm: elicit(`Delete ${filename}?`, { confirm: { type: 'boolean' } }),
      });
      log(`conformance-task-input tool=confirm_delete answer=${JSON.stringify(confirm)}`);
      const ok = (confirm as { action?: string; content?: { confirm?: unknown } }).content?.confirm === true;
      return text(ok ? `deleted ${filename}` : `kept ${filename}`);
    },
  );

  tasks.registerTool('multi_input', { description: 'Asks two questions at once' }, async (_args, task) => {
    const [name, confirm] = await Promise.all([
      task.input({ name: elicit('Your name?', { name: { type: 'string' } }) }),
      task.input({ confirm: elicit('Proceed?', { confirm: { type: 'boolean' } }) }),
    ]);
    return text(`answers: ${JSON.stringify({ ...name, ...confirm })}`);
  });

  tasks.registerTool(
    'test_tool_with_task',
    {
      description: 'Asks for user_name in the request (multi round-trip), then runs as a task',
      taskSupport: 'required',
      beforeTask: (_args, ctx) => {
        const view = inputResponse((ctx as ServerContext).mcpReq.inputResponses, 'user_name');
        if (view.kind === 'elicit' && view.action === 'accept') return undefined;
        return inputRequired({
          inputRequests: {
            user_name: inputRequired.elicit({
              message: 'What is your name?',
              requestedSchema: {
                type: 'object',
                properties: { name: { type: 'string' } },
                required: ['name'],
              },
            }),
          },
        }) as never;
      },
    },
    async (_args, task) => {
      const answer = task.inputResponses?.user_name as { content?: { name?: unknown } } | undefined;
      return text(`Hello, ${String(answer?.content?.name)}! (from a task)`);
    },
  );
}
