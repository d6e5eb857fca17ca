/**
 * One in-process instance of a Tasks server (SEP-2663, 2026-07-28) for the `tasks` suite and its
 * worker process (`probes/tasks-worker.ts`): a `TaskManager`, the extension with two tools, and
 * SDK v2's stateless `createMcpHandler`, spoken to with raw web `Request`s on the 2026-07-28 wire
 * (as packages/core/test/tasks-extension.test.ts does). Instances share the store and bus given.
 */
import type { SessionBus, SessionStore } from '@mcp-sessions/core';
import { TaskManager } from '@mcp-sessions/core';
import { createTasksExtension, type TaskContext, type TasksExtension } from '@mcp-sessions/core/http';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

const TASKS = 'io.modelcontextprotocol/tasks';
const PROTOCOL = '2026-07-28';

export interface TasksInstanceOptions {
  store: SessionStore;
  bus: SessionBus;
  instanceId: string;
  /** The manager's lease (default the library's 15 s). */
  leaseMs?: number;
  /** Renewal and takeover timers (default on, as in production). */
  timers?: boolean;
  /** Told each time `hold` starts a run here (its first, or a run again after a takeover). */
  onHold?: (task: TaskContext) => void;
}

/** A JSON-RPC answer, read loosely: the bench checks a field or two. */
export interface RpcAnswer {
  result?: { taskId?: string; status?: string; content?: { text?: string }[]; [key: string]: unknown };
  error?: { code: number; message: string };
}

export interface TasksInstance {
  manager: TaskManager;
  ext: TasksExtension;
  /** One request into the handler; `declared: false` is a client without the extension. */
  call(method: string, params: Record<string, unknown>, options?: { declared?: boolean }): Promise<RpcAnswer>;
  close(): Promise<void>;
}

/**
 * Tools: `echo` returns its text at once (trivial work, task support optional: a task for a
 * client that declared the extension, a plain result for one that did not); `hold` runs until
 * cancelled or lost, and may run again elsewhere after its worker dies (`rerunnable`).
 */
export function tasksInstance(options: TasksInstanceOptions): TasksInstance {
  const { store, bus, instanceId, onHold } = options;
  const manager = new TaskManager({
    store,
    instanceId,
    leaseMs: options.leaseMs,
    timers: options.timers,
    logger: false,
  });
  const ext = createTasksExtension({ tasks: manager, bus, logger: false });
  ext.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  ext.registerTool('hold', { rerunnable: true }, (_args, task) => {
    onHold?.(task);
    return new Promise((_resolve, reject) => {
      task.signal.addEventListener('abort', () => reject(task.signal.reason), { once: true });
    });
  });
  const handler = createMcpHandler(
    () => {
      const server = new McpServer({ name: 'bench-tasks', version: '1.0.0' });
      ext.install(server as never);
      return server;
    },
    { legacy: 'reject' },
  );
  let id = 0;
  return {
    manager,
    ext,
    async call(method, params, callOptions = {}) {
      const name = typeof params.taskId === 'string' ? params.taskId : params.name;
      const capabilities = callOptions.declared === false ? {} : { extensions: { [TASKS]: {} } };
      const response = await handler.fetch(
        new Request('http://127.0.0.1/mcp', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': PROTOCOL,
            'mcp-method': method,
            ...(typeof name === 'string' && { 'mcp-name': name }),
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: ++id,
            method,
            params: {
              ...params,
              _meta: {
                'io.modelcontextprotocol/protocolVersion': PROTOCOL,
                'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1.0.0' },
                'io.modelcontextprotocol/clientCapabilities': capabilities,
              },
            },
          }),
        }),
      );
      return (await response.json()) as RpcAnswer;
    },
    async close() {
      await ext.close();
      await manager.dispose();
      await handler.close();
    },
  };
}
