/**
 * MCP's Tasks extension (SEP-2663, protocol revision 2026-07-28) on SDK v2 servers, durable and
 * multi-instance: a tool that declares task support answers a client that declared the extension
 * with a task, stored before the answer; `tasks/get`, `tasks/update` and `tasks/cancel` are served
 * by any instance from the store; the worker runs on the instance that accepted the call, under
 * a lease, and runs again elsewhere when that instance dies (if the tool says that is safe).
 *
 * @example
 * ```ts
 * const taskManager = new TaskManager({ store, instanceId: manager.instanceId });
 * const tasks = createTasksExtension({ tasks: taskManager, bus });
 * tasks.registerTool('report', { inputSchema: z.object({ month: z.string() }), rerunnable: true },
 *   async ({ month }, task) => {
 *     await task.status(`collecting ${month}`);
 *     return { content: [{ type: 'text', text: await buildReport(month, task.signal) }] };
 *   });
 * const modern = createMcpHandler(() => {
 *   const server = new McpServer({ name: 'reports', version: '1.0.0' });
 *   tasks.install(server);
 *   return server;
 * }, { legacy: 'reject' });
 * // on shutdown: await tasks.close(); (hands running tasks to the other instances)
 * ```
 */
import type { SessionBus } from '../bus';
import { InvalidArgumentError, TaskNotFoundError, TaskRefusedError } from '../errors';
import { isValidSessionId } from '../ids';
import type { JsonObject } from '../json';
import { type LoggerLike, resolveLogger } from '../logger';
import { assertKnownOptions, positiveNumber } from '../options';
import type { TaskRecord } from '../task-store';
import type { TaskManager } from '../tasks';
import { type ModernHandler, withTaskNotifications } from './task-listen';
import { type TaskHandler, TaskRunner } from './task-runner';
import {
  clientCapabilities,
  defaultPrincipal,
  inputResponsesOf,
  type McpServerLike,
  parseArgs,
  registerSyncTool,
  routeToolsCall,
  TASK_ID_PARAMS,
  type TaskParams,
  type TaskTool,
  type TaskToolConfig,
  type TaskToolHandler,
  type ToolCallRequest,
} from './task-sdk';
import {
  createTaskResult,
  declaresTasks,
  detailedTask,
  EMPTY_ACK,
  missingTasksCapability,
  TASKS_EXTENSION,
  taskNotFound,
  toolErrorResult,
} from './task-wire';

export type { McpServerLike, StandardSchemaLike, TaskToolConfig, TaskToolHandler } from './task-sdk';

export interface TasksExtensionOptions {
  /** Stores, leases and sweeps the tasks (one per process, beside the `SessionManager`). */
  tasks: TaskManager;
  /** The store's live bus: carries updates and cancels to the instance running a task. */
  bus: SessionBus;
  /**
   * Who a request acts for: only that principal reads, updates and cancels the tasks it created.
   * Default: the request's OAuth `authInfo.clientId`, else null (everyone unauthenticated is one).
   */
  principal?: (ctx: unknown) => string | null | undefined;
  /** The `pollIntervalMs` suggested to clients. Default 1000. */
  pollIntervalMs?: number;
  /** How long `tasks/update` waits for the worker, on another instance, to take the answers. Default 10 s. */
  updateTimeoutMs?: number;
  logger?: LoggerLike | false;
}

export interface TasksExtension {
  /**
   * Declares a task tool (before serving): listed like any tool, run as a task for clients that
   * declare the extension. The 2026-07-28 wire has no per-tool declaration (task creation is the
   * server's call); `execution.taskSupport` is set on the registered tool for older listings.
   */
  registerTool<Args = unknown>(
    name: string,
    config: TaskToolConfig<Args>,
    handler: TaskToolHandler<Args>,
  ): void;
  /** Serves the extension on a server: its task tools, `tasks/*`, and the capability. Call it before or after your own tools. */
  install(server: McpServerLike): void;
  /**
   * `handler` (SDK v2's `createMcpHandler(...)`) with `notifications/tasks` on its
   * `subscriptions/listen` streams for the `notifications.taskIds` a client lists, from any
   * instance. Use the result as the stateless handler (alone or as `createDualEraHandler`'s leg).
   */
  withStatusNotifications(handler: ModernHandler): ModernHandler;
  /** A planned stop: stops this instance's workers and hands their tasks to the other instances. */
  close(): Promise<void>;
  /** The workers this instance runs. */
  readonly runner: TaskRunner;
}

/** Creates the extension; one per process, installed on every per-request server. */
export function createTasksExtension(options: TasksExtensionOptions): TasksExtension {
  assertKnownOptions(options, EXTENSION_OPTIONS, 'createTasksExtension');
  const { tasks, bus } = options;
  if (!tasks || typeof tasks.create !== 'function')
    throw new InvalidArgumentError('tasks', 'must be a TaskManager');
  if (!bus || typeof bus.publish !== 'function')
    throw new InvalidArgumentError('bus', 'must be a SessionBus');
  const pollIntervalMs = Math.round(positiveNumber('pollIntervalMs', options.pollIntervalMs, 1000));
  const principalOf = options.principal ?? defaultPrincipal;
  const tools = new Map<string, TaskTool>();
  const logger = resolveLogger(options.logger);
  const runner = new TaskRunner({
    tasks,
    bus,
    tools,
    logger,
    updateTimeoutMs: positiveNumber('updateTimeoutMs', options.updateTimeoutMs, 10_000),
  });

  const principal = (ctx: unknown) => principalOf(ctx) ?? null;

  /** A task of this caller's, or -32602 (an unknown id, an expired task and another's read the same). */
  const readTask = async (taskId: string, ctx: unknown): Promise<TaskRecord> => {
    if (!isValidSessionId(taskId)) throw taskNotFound();
    try {
      return await tasks.get(taskId, { principal: principal(ctx) });
    } catch (error) {
      if (error instanceof TaskNotFoundError) throw taskNotFound();
      throw error;
    }
  };

  const createTask = async (tool: TaskTool, request: ToolCallRequest, ctx: unknown): Promise<JsonObject> => {
    const parsed = await tool.parse(request.params.arguments ?? {});
    if (!parsed.ok) return toolErrorResult(`Input validation error: ${parsed.message}`);
    const asked = await tool.config.beforeTask?.(parsed.value, ctx);
    if (asked !== undefined) return asked;
    // The answers a multi round-trip gathered before the task (SDK v2 lifts them off the params).
    const inputResponses =
      request.params.inputResponses ??
      (ctx as { mcpReq?: { inputResponses?: unknown } } | undefined)?.mcpReq?.inputResponses;
    const task = await tasks.create(
      {
        method: 'tools/call',
        params: {
          name: tool.name,
          arguments: (request.params.arguments ?? {}) as JsonObject,
          ...(inputResponses !== undefined && { inputResponses: inputResponses as JsonObject }),
        },
      },
      { principal: principal(ctx), rerunnable: tool.config.rerunnable ?? false, pollIntervalMs },
    );
    await runner.start(task, tool, parsed.value);
    return createTaskResult(task);
  };

  return {
    runner,
    registerTool(name, config, handler) {
      if (typeof name !== 'string' || name === '')
        throw new InvalidArgumentError('name', 'must be a tool name');
      if (tools.has(name))
        throw new InvalidArgumentError('name', `task tool "${name}" is already registered`);
      if (typeof handler !== 'function') throw new InvalidArgumentError('handler', 'must be a function');
      if (
        config.inputSchema !== undefined &&
        typeof config.inputSchema?.['~standard']?.validate !== 'function'
      ) {
        throw new InvalidArgumentError(
          'inputSchema',
          'must be a Standard Schema object such as z.object({...})',
        );
      }
      if (config.taskSupport !== undefined && !['optional', 'required'].includes(config.taskSupport)) {
        throw new InvalidArgumentError('taskSupport', "must be 'optional' or 'required'");
      }
      // Kept untyped: `parse` (the tool's own schema) is what gives the handler its arguments.
      tools.set(name, {
        name,
        config: config as TaskToolConfig,
        handler: handler as TaskHandler,
        parse: (args) => parseArgs(config.inputSchema, args),
      });
    },

    install(server) {
      server.server.registerCapabilities({ extensions: { [TASKS_EXTENSION]: {} } });
      const declared = (ctx: unknown) => declaresTasks(clientCapabilities(server, ctx));
      const gate = (method: string, ctx: unknown) => {
        if (!declared(ctx)) throw missingTasksCapability(method);
      };

      for (const tool of tools.values()) registerSyncTool(server, tool);
      // A task tool's call from a client that opted in (or one that must) is answered here; every
      // other call, as before, by McpServer's handler.
      routeToolsCall(
        server,
        (request, ctx) => {
          const tool = tools.get(request.params?.name);
          return tool !== undefined && (tool.config.taskSupport === 'required' || declared(ctx));
        },
        async (request, ctx) => {
          const tool = tools.get(request.params.name)!;
          if (!declared(ctx)) throw missingTasksCapability(`tools/call ${tool.name}`);
          return createTask(tool, request, ctx);
        },
      );

      server.server.setRequestHandler(
        'tasks/get',
        TASK_ID_PARAMS,
        async (params: TaskParams, ctx: unknown) => {
          gate('tasks/get', ctx);
          return detailedTask(await readTask(params.taskId, ctx));
        },
      );

      server.server.setRequestHandler(
        'tasks/update',
        TASK_ID_PARAMS,
        async (params: TaskParams, ctx: unknown) => {
          gate('tasks/update', ctx);
          const responses = inputResponsesOf(params, ctx);
          const task = await readTask(params.taskId, ctx);
          await runner.update(task, responses);
          return EMPTY_ACK;
        },
      );

      server.server.setRequestHandler(
        'tasks/cancel',
        TASK_ID_PARAMS,
        async (params: TaskParams, ctx: unknown) => {
          gate('tasks/cancel', ctx);
          const { taskId } = params;
          if (!isValidSessionId(taskId)) throw taskNotFound();
          try {
            // The cancel reads the task once, and refuses another principal's as not found.
            await tasks.cancel(taskId, {
              principal: principal(ctx),
              statusMessage: 'Cancelled by the client',
            });
          } catch (error) {
            // Cancelling a finished task is acknowledged like any other (the spec's idempotent ack).
            if (error instanceof TaskRefusedError && error.reason === 'terminal') return EMPTY_ACK;
            if (error instanceof TaskNotFoundError) throw taskNotFound();
            throw error;
          }
          await runner.cancelled(taskId);
          return EMPTY_ACK;
        },
      );
    },

    withStatusNotifications: (handler) =>
      withTaskNotifications(handler, { tasks, bus, logger, principal: (ctx) => principal(ctx) }),

    close: () => runner.close(),
  };
}

// --- Internal helpers ---

const EXTENSION_OPTIONS = Object.keys({
  tasks: true,
  bus: true,
  principal: true,
  pollIntervalMs: true,
  updateTimeoutMs: true,
  logger: true,
} satisfies Record<keyof TasksExtensionOptions, true>);
