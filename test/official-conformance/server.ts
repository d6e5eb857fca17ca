/**
 * The server the official MCP conformance suite (`@modelcontextprotocol/conformance`) runs against:
 * every tool, resource and prompt its server scenarios call, for both protocol eras on one URL
 * through `createDualEraHandler`: 2025-era requests (classified by SDK v2's `isLegacyRequest`) go
 * to the session handler (SDK 1.32 `McpServer`, the event store, the live bus, the SDK's
 * DNS-rebinding protection); 2026-07-28 requests go to SDK v2's `createMcpHandler` (`stateless.ts`),
 * behind the same Host check, its `subscriptions/listen` fan-out on the same live bus.
 *
 * Env: PORT (required), MCP_SESSIONS_STORE (`sqlite:<path>` default, `memory:`, `redis://…`,
 * `postgres://…`), MCP_CONFORMANCE_INSTANCE (a name for the log lines), MCP_CONFORMANCE_HOSTS
 * (comma-separated extra allowed Host values: the proxy's `127.0.0.1:<port>`).
 *
 * stderr lines the runner reads: `listening url="…"` once serving, and `conformance-answer
 * tool=<name> instance=<name> answer=<json>` each time a tool got the client's answer to its
 * sampling or elicitation request (the suite itself only checks that the client was asked).
 */
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The workspace root has no SDK or zod dependency: take the example server's (it pins SDK 1.32.2).
import { completable } from '../../examples/server/node_modules/@modelcontextprotocol/sdk/dist/esm/server/completable.js';
import {
  McpServer,
  ResourceTemplate,
} from '../../examples/server/node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js';
import type { RequestHandlerExtra } from '../../examples/server/node_modules/@modelcontextprotocol/sdk/dist/esm/shared/protocol.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  type ServerNotification,
  type ServerRequest,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '../../examples/server/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';
import {
  createMcpHandler,
  hostHeaderValidationResponse,
  isLegacyRequest,
} from '../../examples/server/node_modules/@modelcontextprotocol/server/dist/index.mjs';
import { z } from '../../examples/server/node_modules/zod/index.js';
import { stderrLogger } from '../../examples/server/src/logger';
import { openBackend } from '../../examples/server/src/store';
import {
  createDualEraHandler,
  createEventStore,
  createNodeSessionHandler,
  createTasksExtension,
  SharedServerEventBus,
} from '../../packages/core/src/http/index';
import { type SessionBus, SessionManager, TaskManager } from '../../packages/core/src/index';
import { MemorySessionBus } from '../../packages/memory/src/index';
import { CONTENT_TOOLS, completeArg1, PROMPT_RESULTS, RESOURCE_CONTENTS, text } from './fixtures';
import { buildStatelessServer } from './stateless';
import { registerTaskTools } from './tasks';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be a port number');
const instance = process.env.MCP_CONFORMANCE_INSTANCE || `:${port}`;
const storeSpec =
  process.env.MCP_SESSIONS_STORE || `sqlite:${join(tmpdir(), `mcp-conformance-${process.pid}.db`)}`;
const allowedHosts = [
  `127.0.0.1:${port}`,
  `localhost:${port}`,
  ...(process.env.MCP_CONFORMANCE_HOSTS ?? '').split(',').filter((h) => h !== ''),
];

/** SDK v2's Host check compares host names only (the 2025 leg's, host and port). */
const allowedHostnames = [...new Set(allowedHosts.map((host) => new URL(`http://${host}`).hostname))];
const log = (line: string) => process.stderr.write(`[${instance}] ${line}\n`);

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

function buildServer(): McpServer {
  const server = new McpServer(
    { name: 'mcp-sessions-official-conformance', version: '0.1.0' },
    { capabilities: { logging: {}, completions: {}, resources: { subscribe: true } } },
  );
  const subscriptions = new Set<string>();

  // --- Tools ---
  for (const [name, description, result] of CONTENT_TOOLS) {
    server.registerTool(name, { description }, async () => result());
  }
  server.registerTool(
    'test_tool_with_logging',
    { description: 'Sends three log messages while it runs' },
    async (extra) => {
      const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
      for (const [i, data] of steps.entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      }
      return text('Tool with logging executed successfully');
    },
  );
  server.registerTool('test_error_handling', { description: 'Always fails' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50, 100' },
    async (extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progress > 0) await sleep(50);
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100 },
          });
        }
      }
      return text('Tool with progress executed successfully');
    },
  );
  server.registerTool(
    'test_sampling',
    { description: 'Asks the client for an LLM completion', inputSchema: { prompt: z.string() } },
    async ({ prompt }, extra) => {
      if (!server.server.getClientCapabilities()?.sampling)
        throw new Error('the client does not support sampling');
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const answer = result.content.type === 'text' ? result.content.text : JSON.stringify(result.content);
      log(`conformance-answer tool=test_sampling instance=${instance} answer=${JSON.stringify(answer)}`);
      return text(`LLM response: ${answer}`);
    },
  );
  server.registerTool(
    'test_elicitation',
    { description: 'Asks the user for input', inputSchema: { message: z.string() } },
    async ({ message }, extra) =>
      elicit('test_elicitation', 'User response', extra, {
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      }),
  );
  server.registerTool(
    'test_elicitation_sep1034_defaults',
    { description: 'Elicitation with a default for every primitive type' },
    async (extra) =>
      elicit('test_elicitation_sep1034_defaults', 'Elicitation completed', extra, {
        message: 'Please review and update the form fields with defaults',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: {
              type: 'string',
              description: 'User status',
              enum: ['active', 'inactive', 'pending'],
              default: 'active',
            },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
        },
      }),
  );
  server.registerTool(
    'test_elicitation_sep1330_enums',
    { description: 'Elicitation with the five enum schema variants' },
    async (extra) =>
      elicit('test_elicitation_sep1330_enums', 'Elicitation completed', extra, {
        message: 'Please select options from the enum fields',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        },
      }),
  );
  const address = { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } };
  server.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      // zod writes draft-07; its metadata is merged into the JSON Schema it emits, which keeps these keywords.
      inputSchema: z
        .object({
          name: z.string().optional(),
          address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
        })
        .strict()
        .meta({ $schema: 'https://json-schema.org/draft/2020-12/schema', $defs: { address } }),
    },
    async (args) => text(`received ${JSON.stringify(args)}`),
  );
  server.registerTool(
    'test_reconnection',
    { description: 'Closes its SSE stream mid-call; the result is replayed on reconnection' },
    async (extra) => {
      extra.closeSSEStream?.();
      return text('Reconnection test completed');
    },
  );

  // --- Resources ---
  server.registerResource(
    'static-text',
    'test://static-text',
    { description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => RESOURCE_CONTENTS.staticText(uri),
  );
  server.registerResource(
    'static-binary',
    'test://static-binary',
    { description: 'A static PNG', mimeType: 'image/png' },
    async (uri) => RESOURCE_CONTENTS.staticBinary(uri),
  );
  server.registerResource(
    'watched-resource',
    'test://watched-resource',
    { description: 'A resource to subscribe to', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'watched' }] }),
  );
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'A resource template', mimeType: 'application/json' },
    async (uri, { id }) => RESOURCE_CONTENTS.template(uri, id!),
  );
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  // --- Prompts ---
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' }, async () =>
    PROMPT_RESULTS.simple(),
  );
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), completeArg1),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => PROMPT_RESULTS.withArguments(arg1, arg2),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt that embeds a resource',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => PROMPT_RESULTS.withEmbeddedResource(resourceUri),
  );
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, async () =>
    PROMPT_RESULTS.withImage(),
  );

  /** Asks the client, and returns (and logs) what came back: proof that the answer reached this tool. */
  async function elicit(
    tool: string,
    prefix: string,
    extra: RequestHandlerExtra<ServerRequest, ServerNotification>,
    params: { message: string; requestedSchema: Record<string, unknown> },
  ) {
    if (!server.server.getClientCapabilities()?.elicitation) {
      throw new Error('the client does not support elicitation');
    }
    const result = await extra.sendRequest(
      { method: 'elicitation/create', params: params as never },
      ElicitResultSchema,
    );
    log(
      `conformance-answer tool=${tool} instance=${instance} action=${result.action} answer=${JSON.stringify(result.content ?? {})}`,
    );
    return text(`${prefix}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  }

  return server;
}

// One process's memory store has no cross-process bus: the in-process one keeps the suite's
// single-instance run on the same code path.
const backend = await openBackend(storeSpec);
const store = backend.store;
const bus: SessionBus = backend.bus ?? new MemorySessionBus();
const manager = new SessionManager({ store });
// Durable tasks (the Tasks extension's scenarios): a short lease, so a stopped instance's tasks move soon.
const taskManager = new TaskManager({
  store,
  instanceId: manager.instanceId,
  leaseMs: 3000,
  logger: stderrLogger(instance),
});
const tasks = createTasksExtension({ tasks: taskManager, bus, logger: stderrLogger(instance) });
registerTaskTools(tasks, log);
// 2026-07-28 change events (`subscriptions/listen`) cross instances on the store's live bus.
const events = new SharedServerEventBus({ bus });
await events.start();
const modern = tasks.withStatusNotifications(
  createMcpHandler(
    () =>
      buildStatelessServer({
        listChanged: async (kind) => {
          await events.send({ kind: kind === 'tools' ? 'tools_list_changed' : 'prompts_list_changed' });
        },
        instance,
        log,
        tasks,
      }),
    { legacy: 'reject', bus: events, onerror: (error) => log(`2026-07-28 request failed: ${error.message}`) },
  ),
);
const handler = createNodeSessionHandler(
  createDualEraHandler({
    sessions: {
      manager,
      createServer: () => buildServer(),
      eventStore: createEventStore(manager),
      bus,
      // Info too: the runner counts `session rebuilt` lines (a session served by a process that did not create it).
      logger: stderrLogger(instance),
      transportOptions: { enableDnsRebindingProtection: true, allowedHosts, retryInterval: 500 },
    },
    // createMcpHandler validates no Host header: the same allow-list as the 2025 leg, in front.
    stateless: {
      fetch: async (request, options) =>
        hostHeaderValidationResponse(request, allowedHostnames) ?? modern.fetch(request, options),
      close: () => modern.close!(),
    },
    isLegacyRequest: (request, parsedBody) => isLegacyRequest(request, parsedBody),
  }),
);

const http = createServer((req, res) => {
  if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') {
    res.writeHead(404).end();
    return;
  }
  void handler(req, res);
});
http.listen(port, '127.0.0.1', () => log(`listening url="http://127.0.0.1:${port}/mcp"`));

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await handler.close();
  await tasks.close();
  await taskManager.dispose();
  await manager.dispose();
  http.closeAllConnections();
  await new Promise<void>((done) => http.close(() => done()));
  await events.close();
  await bus.close();
  await store.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
