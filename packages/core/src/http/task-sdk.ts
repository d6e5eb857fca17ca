/**
 * Where the Tasks extension meets SDK v2's server: the tool's shapes, how a task tool is listed
 * and run for a client without the extension, how task calls are routed ahead of McpServer's
 * `tools/call`, and the `tasks/*` params. Structural: no SDK value is imported.
 */

import { InvalidArgumentError } from '../errors';
import type { JsonObject } from '../json';
import type { RunnableTool, TaskContext } from './task-runner';
import { INVALID_PARAMS, missingTasksCapability, TaskProtocolError, type TaskSupport } from './task-wire';

/**
 * A Standard Schema (`z.object(...)` and most validators): what a task tool's `inputSchema` must
 * be. `Output` is what it validates to, read from the schema's `types`: the handler's arguments.
 */
export interface StandardSchemaLike<Output = unknown> {
  readonly '~standard': {
    validate(
      value: unknown,
    ):
      | { value: unknown; issues?: undefined }
      | { issues: ReadonlyArray<{ message: string }> }
      | Promise<{ value: unknown; issues?: undefined } | { issues: ReadonlyArray<{ message: string }> }>;
    readonly types?: { readonly output: Output } | undefined;
  };
}

export interface TaskToolConfig<Args = unknown> {
  title?: string;
  description?: string;
  /** The arguments' schema, a Standard Schema object such as `z.object({...})`. Default: none. */
  inputSchema?: StandardSchemaLike<Args>;
  annotations?: JsonObject;
  /**
   * `'optional'` (default): a client without the extension gets the result from `tools/call` (the
   * handler runs in the request; `task.input` is unavailable there). `'required'`: such a client
   * gets -32021.
   */
  taskSupport?: TaskSupport;
  /**
   * Running the tool again from the start after its worker was lost (an instance killed
   * mid-task) is safe. Default false: such a task fails, with a statusMessage saying so.
   */
  rerunnable?: boolean;
  /**
   * Runs in the `tools/call` request before a task is created: return an input-required result
   * (SDK v2's `inputRequired(...)`) to ask the client first (a multi round-trip request); the
   * answers then reach the task as `task.inputResponses`. Return undefined to create the task.
   */
  beforeTask?(args: Args, ctx: unknown): Promise<JsonObject | undefined> | JsonObject | undefined;
}

/** A task tool's work: its arguments as the input schema gives them, and the task it runs as. */
export type TaskToolHandler<Args = unknown> = (
  args: Args,
  task: TaskContext,
) => Promise<JsonObject> | JsonObject;

/** SDK v2's `McpServer`, structurally: what `install` uses. */
export interface McpServerLike {
  registerTool(name: string, config: never, callback: never): unknown;
  readonly server: {
    registerCapabilities(capabilities: JsonObject): void;
    getClientCapabilities(): unknown;
    getCapabilities?(): { logging?: unknown };
    setRequestHandler(method: string, schemasOrHandler: unknown, handler?: unknown): void;
  };
}

/** A registered task tool. */
export interface TaskTool extends RunnableTool {
  readonly config: TaskToolConfig;
}

export interface ToolCallRequest {
  method: string;
  params: { name: string; arguments?: unknown; inputResponses?: unknown; [key: string]: unknown };
}

export interface TaskParams {
  taskId: string;
  inputResponses?: JsonObject;
}

export type RequestHandler = (request: ToolCallRequest, ctx: unknown) => Promise<unknown>;

export function defaultPrincipal(ctx: unknown): string | null {
  const clientId = (ctx as { http?: { authInfo?: { clientId?: unknown } } } | undefined)?.http?.authInfo
    ?.clientId;
  return typeof clientId === 'string' ? clientId : null;
}

/** The capabilities the request declared: its `_meta` envelope (2026-07-28), else the connection's. */
export function clientCapabilities(server: McpServerLike, ctx: unknown): unknown {
  const envelope = (ctx as { mcpReq?: { envelope?: { clientCapabilities?: unknown } } } | undefined)?.mcpReq
    ?.envelope;
  return envelope?.clientCapabilities ?? server.server.getClientCapabilities();
}

/**
 * SDK assumption 9: a server keeps its request handlers, each wrapped once by the SDK
 * (request-state verification, the input-required checks, result validation), in the private
 * map `_requestHandlers` by method, read by the protected `_getRequestHandler`. McpServer's
 * `tools/call` handler is set by its constructor or first tool, whichever comes first. This
 * sets `handler` through `setRequestHandler` (so the SDK wraps it as any other), then stores one
 * that sends the calls `mine` picks to it and every other to McpServer's: each wrapped once.
 */
export function routeToolsCall(
  server: McpServerLike,
  mine: (request: ToolCallRequest, ctx: unknown) => boolean,
  handler: (request: ToolCallRequest, ctx: unknown) => Promise<unknown>,
): void {
  const low = server.server as unknown as {
    _requestHandlers?: Map<string, RequestHandler>;
    _getRequestHandler?: (method: string) => RequestHandler | undefined;
    setRequestHandler(method: string, handler: RequestHandler): void;
  };
  const mcpServers = low._getRequestHandler?.('tools/call');
  if (!mcpServers || !(low._requestHandlers instanceof Map)) {
    throw new InvalidArgumentError(
      'server',
      'must be an SDK v2 McpServer (2.4+) with its tools/call handler',
    );
  }
  low.setRequestHandler('tools/call', handler);
  const tasks = low._getRequestHandler!('tools/call')!;
  low._requestHandlers.set('tools/call', (request, ctx) =>
    mine(request, ctx) ? tasks(request, ctx) : mcpServers(request, ctx),
  );
}

/** The tool as McpServer lists and runs it for clients without the extension. */
export function registerSyncTool(server: McpServerLike, tool: TaskTool): void {
  const { config } = tool;
  // Status messages become log notifications where the server declares logging.
  const logs = server.server.getCapabilities?.().logging !== undefined;
  const run = async (args: unknown, ctx: unknown) =>
    tool.handler(args, requestContext(ctx, tool.name, logs)) as Promise<never>;
  const registered = server.registerTool(
    tool.name,
    {
      title: config.title,
      description: config.description,
      inputSchema: config.inputSchema,
      annotations: config.annotations,
    } as never,
    (config.inputSchema ? run : (ctx: unknown) => run({}, ctx)) as never,
  ) as { execution?: unknown };
  // registerTool takes no `execution`; tools/list reads it from the registered tool.
  registered.execution = { taskSupport: config.taskSupport ?? 'optional' };
}

/**
 * A task handler run inside its `tools/call` (no task): a status message goes to the client as a
 * log notification on the request's stream (when the server logs); no input can be asked.
 */
function requestContext(ctx: unknown, name: string, logs: boolean): TaskContext {
  const request = (ctx as { mcpReq?: RequestSide } | undefined)?.mcpReq;
  return {
    taskId: '',
    attempt: 1,
    signal: request?.signal ?? new AbortController().signal,
    inputResponses: undefined,
    status: async (message) => {
      if (logs)
        await request?.notify?.({
          method: 'notifications/message',
          params: { level: 'info', data: message },
        });
    },
    input: async () => {
      throw missingTasksCapability(`tool ${name} asking for input`);
    },
  };
}

interface RequestSide {
  signal?: AbortSignal;
  notify?(notification: { method: string; params: JsonObject }): Promise<void>;
}

export async function parseArgs(
  schema: StandardSchemaLike | undefined,
  args: unknown,
): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  if (!schema) return { ok: true, value: args };
  const result = await schema['~standard'].validate(args);
  if (result.issues) return { ok: false, message: result.issues.map((issue) => issue.message).join('; ') };
  return { ok: true, value: result.value };
}

/** A `tasks/*` request's params, as a Standard Schema: a `taskId` string. */
export const TASK_ID_PARAMS = {
  params: {
    '~standard': {
      validate(value: unknown) {
        const taskId = (value as { taskId?: unknown } | undefined)?.taskId;
        return typeof taskId === 'string' ? { value } : { issues: [{ message: 'taskId must be a string' }] };
      },
    },
  } satisfies StandardSchemaLike,
};

/**
 * `tasks/update`'s answers. SDK v2 lifts `params.inputResponses` off every request (it is the
 * multi round-trip field) into `ctx.mcpReq.inputResponses`, dropping entries that are not
 * response-shaped; read there, else from the params.
 */
export function inputResponsesOf(params: TaskParams, ctx: unknown): JsonObject {
  const lifted = (ctx as { mcpReq?: { inputResponses?: unknown } } | undefined)?.mcpReq?.inputResponses;
  const responses = params.inputResponses ?? lifted;
  if (typeof responses !== 'object' || responses === null || Array.isArray(responses)) {
    throw new TaskProtocolError(
      INVALID_PARAMS,
      'Invalid params for tasks/update: inputResponses must be an object',
    );
  }
  return responses as JsonObject;
}
