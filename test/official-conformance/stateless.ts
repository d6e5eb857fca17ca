/**
 * The 2026-07-28 half of the conformance server: one SDK v2 `McpServer` per request (served by
 * `createMcpHandler` behind the dual-era endpoint) with every tool, resource and prompt the
 * suite's stateless scenarios call, the multi round-trip (`input_required`) tools among them.
 *
 * `requestState` is sealed with the SDK's HMAC codec under a key every instance shares, so a
 * retry may land on any instance (the `two` and `cross` modes send it round-robin); the
 * tampered-state scenario is refused by the codec before a handler runs.
 */
import { randomUUID } from 'node:crypto';
import {
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type JsonSchemaType,
  McpServer,
  ResourceTemplate,
  type ServerContext,
} from '../../examples/server/node_modules/@modelcontextprotocol/server/dist/index.mjs';
import { z } from '../../examples/server/node_modules/zod/index.js';
import type { TasksExtension } from '../../packages/core/src/http/index';
import { CONTENT_TOOLS, completeArg1, PROMPT_RESULTS, RESOURCE_CONTENTS, text } from './fixtures';

/** The key every instance seals `requestState` with: test-only, never a production secret. */
const STATE_KEY = 'mcp-sessions official conformance: shared requestState key';

/** The suite's SEP-1613/SEP-2106 fixture, which `tools/list` must return keyword for keyword. */
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  // biome-ignore lint/suspicious/noThenProperty: a JSON Schema keyword, never awaited
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};

interface ConformanceState {
  kind: string;
  nonce: string;
  /** The instance that minted it: a retry read elsewhere is logged for the runner. */
  by: string;
  round?: number;
  name?: string;
}

const states = createRequestStateCodec<ConformanceState>({ key: STATE_KEY });

export interface StatelessServerOptions {
  /** Called by `test_trigger_tool_change` / `test_trigger_prompt_change`: publish on the shared bus. */
  listChanged(kind: 'tools' | 'prompts'): Promise<void>;
  /** This instance's name, sealed into every `requestState` it mints. */
  instance: string;
  /** A line for the runner: `conformance-state-crossed`, a retry whose state another instance minted. */
  log(line: string): void;
  /** The Tasks extension (its tools registered), installed on every server. */
  tasks: TasksExtension;
}

/** The capabilities the client declared on this request (its `_meta` envelope in 2026-07-28). */
function clientCapabilities(server: McpServer): Record<string, unknown> {
  return (server.server.getClientCapabilities() ?? {}) as Record<string, unknown>;
}

const askName = (message: string) =>
  inputRequired.elicit({
    message,
    requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
  });
const confirm = () =>
  inputRequired.elicit({
    message: 'Please confirm',
    requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
  });

/** An accepted elicitation's `field`, when the response for `key` is one with a string there. */
function elicited(ctx: ServerContext, key: string, field: string): string | undefined {
  const view = inputResponse(ctx.mcpReq.inputResponses, key);
  if (view.kind !== 'elicit' || view.action !== 'accept') return undefined;
  const value = view.content?.[field];
  return typeof value === 'string' ? value : undefined;
}

export function buildStatelessServer(options: StatelessServerOptions): McpServer {
  const { instance, log } = options;
  const mint = (state: Omit<ConformanceState, 'by' | 'nonce'>) =>
    states.mint({ ...state, nonce: randomUUID(), by: instance });
  /** The verified state of this retry, if any (the codec ran before the handler). */
  const stateOf = (ctx: ServerContext, tool: string) => {
    const state = ctx.mcpReq.requestState<ConformanceState>();
    if (state !== undefined && state.by !== instance) {
      log(`conformance-state-crossed tool=${tool} minted=${state.by} served=${instance}`);
    }
    return state;
  };
  const server = new McpServer(
    { name: 'mcp-sessions-official-conformance', version: '0.1.0' },
    {
      capabilities: {
        logging: {},
        completions: {},
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: {},
      },
      // Every echoed requestState is verified (HMAC, expiry) before a handler runs.
      requestState: { verify: states.verify },
    },
  );

  // The Tasks extension's tools and methods (installed before any other tool).
  options.tasks.install(server);

  // --- Tools shared with the 2025 era ---
  server.registerTool(
    'greet',
    { description: 'Greets `name` (no task)', inputSchema: z.object({ name: z.string() }) },
    async ({ name }) => text(`Hello, ${name}!`),
  );
  for (const [name, description, result] of CONTENT_TOOLS) {
    server.registerTool(name, { description }, async () => result());
  }
  server.registerTool('test_error_handling', { description: 'Always fails' }, async () => ({
    isError: true,
    content: [{ type: 'text' as const, text: 'This tool intentionally returns an error for testing' }],
  }));
  server.registerTool(
    'test_tool_with_progress',
    { description: 'Reports progress 0, 50, 100' },
    async (ctx: ServerContext) => {
      const token = ctx.mcpReq._meta?.progressToken;
      if (token !== undefined) {
        for (const progress of [0, 50, 100]) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `Completed step ${progress}` },
          });
        }
      }
      return text(String(token ?? 'no progress token'));
    },
  );
  server.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      // Raw JSON Schema: zod would drop $anchor, allOf and if/then/else, which SEP-2106 keeps.
      inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12),
    },
    async (args) => text(`received ${JSON.stringify(args)}`),
  );
  server.registerTool(
    'test_custom_header',
    {
      description: 'Mirrors its region argument in the Mcp-Param-Region header (SEP-2243)',
      inputSchema: fromJsonSchema<{ region: string }>({
        type: 'object',
        properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
        required: ['region'],
      } as JsonSchemaType),
    },
    async ({ region }) => text(`region ${region}`),
  );

  // --- The stateless scenario's diagnostic tools ---
  // McpServer turns whatever a tool throws into an `isError` result, so a tool cannot answer
  // -32021 itself: it asks for a completion and the SDK refuses to send that request to a client
  // that did not declare sampling (MissingRequiredClientCapabilityError, HTTP 400).
  server.registerTool(
    'test_missing_capability',
    { description: 'Needs a completion from the client, so the sampling capability' },
    async (ctx: ServerContext) => {
      if (inputResponse(ctx.mcpReq.inputResponses, 'completion').kind === 'sampling') return text('Success');
      return inputRequired({
        inputRequests: {
          completion: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Say anything' } }],
            maxTokens: 10,
          }),
        },
      });
    },
  );
  server.registerTool(
    'test_streaming_elicitation',
    { description: 'Streams a notification before its result' },
    async (ctx: ServerContext) => {
      await ctx.mcpReq.log('info', 'streaming before the result');
      return text('Streaming complete');
    },
  );
  server.registerTool(
    'test_logging_tool',
    { description: 'Logs, which the SDK delivers only to a request that set a log level' },
    async (ctx: ServerContext) => {
      await ctx.mcpReq.log('info', 'Diagnostic trace logging activated');
      return text('Logging evaluated');
    },
  );
  server.registerTool(
    'test_trigger_tool_change',
    { description: 'Publishes tools/list_changed to every listening stream, on every instance' },
    async () => {
      await options.listChanged('tools');
      return text('Mutation triggered');
    },
  );
  server.registerTool(
    'test_trigger_prompt_change',
    { description: 'Publishes prompts/list_changed to every listening stream, on every instance' },
    async () => {
      await options.listChanged('prompts');
      return text('Mutation triggered');
    },
  );

  // --- Multi round-trip tools (input_required) ---
  server.registerTool(
    'test_input_required_result_elicitation',
    { description: 'MRTR: asks for a name' },
    async (ctx: ServerContext) => {
      const name = elicited(ctx, 'user_name', 'name');
      if (name === undefined)
        return inputRequired({ inputRequests: { user_name: askName('What is your name?') } });
      return text(`Hello, ${name}!`);
    },
  );
  server.registerTool(
    'test_input_required_result_sampling',
    { description: 'MRTR: asks for a completion' },
    async (ctx: ServerContext) => {
      const view = inputResponse(ctx.mcpReq.inputResponses, 'sample_request');
      if (view.kind !== 'sampling') {
        return inputRequired({
          inputRequests: {
            sample_request: inputRequired.createMessage({
              messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
              maxTokens: 100,
            }),
          },
        });
      }
      const content = view.result.content;
      const answer = !Array.isArray(content) && content.type === 'text' ? content.text : 'no text';
      return text(`Sampling result: ${answer}`);
    },
  );
  server.registerTool(
    'test_input_required_result_list_roots',
    { description: 'MRTR: asks for the roots' },
    async (ctx: ServerContext) => {
      const view = inputResponse(ctx.mcpReq.inputResponses, 'roots_request');
      if (view.kind !== 'roots') {
        return inputRequired({ inputRequests: { roots_request: inputRequired.listRoots() } });
      }
      return text(`Found ${view.roots.length} root(s)`);
    },
  );
  for (const tool of [
    'test_input_required_result_request_state',
    'test_input_required_result_tampered_state',
  ]) {
    server.registerTool(
      tool,
      { description: 'MRTR: a sealed requestState and a confirmation' },
      async (ctx) => {
        const state = stateOf(ctx, tool);
        const view = inputResponse(ctx.mcpReq.inputResponses, 'confirm');
        if (state?.kind === tool && view.kind === 'elicit' && view.action === 'accept') {
          return text('state-ok: requestState validated');
        }
        return inputRequired({
          inputRequests: { confirm: confirm() },
          requestState: await mint({ kind: tool }),
        });
      },
    );
  }
  server.registerTool(
    'test_input_required_result_multiple_inputs',
    { description: 'MRTR: an elicitation, a completion and the roots in one round' },
    async (ctx: ServerContext) => {
      const state = stateOf(ctx, 'test_input_required_result_multiple_inputs');
      const name = elicited(ctx, 'user_name', 'name');
      const greeting = inputResponse(ctx.mcpReq.inputResponses, 'greeting');
      const roots = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
      if (
        state?.kind === 'multiple-inputs' &&
        name !== undefined &&
        greeting.kind === 'sampling' &&
        roots.kind === 'roots'
      ) {
        const content = greeting.result.content;
        const said = !Array.isArray(content) && content.type === 'text' ? content.text : '';
        return text(`Name: ${name}; Greeting: ${said}; Roots: ${roots.roots.length}`);
      }
      return inputRequired({
        inputRequests: {
          user_name: askName('What is your name?'),
          greeting: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: await mint({ kind: 'multiple-inputs' }),
      });
    },
  );
  server.registerTool(
    'test_input_required_result_multi_round',
    { description: 'MRTR: a name, then a colour, across two rounds' },
    async (ctx: ServerContext) => {
      const state = stateOf(ctx, 'test_input_required_result_multi_round');
      const name = elicited(ctx, 'step1', 'name');
      if (state?.round === 1 && name !== undefined) {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: 'Step 2: What is your favorite color?',
              requestedSchema: {
                type: 'object',
                properties: { color: { type: 'string' } },
                required: ['color'],
              },
            }),
          },
          requestState: await mint({ kind: 'multi-round', round: 2, name }),
        });
      }
      const color = elicited(ctx, 'step2', 'color');
      if (state?.round === 2 && color !== undefined) {
        return text(`Multi-round complete for ${state.name ?? 'friend'} who likes ${color}`);
      }
      return inputRequired({
        inputRequests: { step1: askName('Step 1: What is your name?') },
        requestState: await mint({ kind: 'multi-round', round: 1 }),
      });
    },
  );
  server.registerTool(
    'test_input_required_result_capabilities',
    { description: 'MRTR: asks only for what the client declared it can answer' },
    async (ctx: ServerContext) => {
      stateOf(ctx, 'test_input_required_result_capabilities');
      const received = Object.keys(ctx.mcpReq.inputResponses ?? {});
      if (received.length > 0) return text(`capabilities-ok: received ${received.join(',')}`);
      const declared = clientCapabilities(server);
      const inputRequests: Record<string, ReturnType<typeof inputRequired.listRoots>> = {};
      if (declared.elicitation) {
        inputRequests.elicit_input = inputRequired.elicit({
          message: 'Elicitation input',
          requestedSchema: { type: 'object', properties: { value: { type: 'string' } }, required: ['value'] },
        });
      }
      if (declared.sampling) {
        inputRequests.sample_input = inputRequired.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: 'Sample request' } }],
          maxTokens: 50,
        });
      }
      if (Object.keys(inputRequests).length === 0) return text('No supported capabilities declared');
      return inputRequired({
        inputRequests,
        requestState: await mint({ kind: 'capabilities' }),
      });
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
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'A resource template', mimeType: 'application/json' },
    async (uri, { id }) => RESOURCE_CONTENTS.template(uri, id!),
  );

  // --- Prompts ---
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments' }, async () =>
    PROMPT_RESULTS.simple(),
  );
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two arguments',
      argsSchema: z.object({
        arg1: completable(z.string().describe('First test argument'), completeArg1),
        arg2: z.string().describe('Second test argument'),
      }),
    },
    async ({ arg1, arg2 }) => PROMPT_RESULTS.withArguments(arg1, arg2),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      description: 'A prompt that embeds a resource',
      argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
    },
    async ({ resourceUri }) => PROMPT_RESULTS.withEmbeddedResource(resourceUri),
  );
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, async () =>
    PROMPT_RESULTS.withImage(),
  );
  server.registerPrompt(
    'test_input_required_result_prompt',
    { description: 'MRTR: a prompt that asks for its context first' },
    async (ctx: ServerContext) => {
      const context = elicited(ctx, 'user_context', 'context');
      if (context === undefined) {
        return inputRequired({
          inputRequests: {
            user_context: inputRequired.elicit({
              message: 'What context should the prompt use?',
              requestedSchema: {
                type: 'object',
                properties: { context: { type: 'string' } },
                required: ['context'],
              },
            }),
          },
        });
      }
      return {
        messages: [{ role: 'user', content: { type: 'text', text: `Prompt with context: ${context}` } }],
      };
    },
  );

  return server;
}
