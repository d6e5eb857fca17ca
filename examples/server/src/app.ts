import { InvalidArgumentError, type SessionManager, SessionNotFoundError } from '@mcp-sessions/core';
import { agentState, type SessionContext, type TasksExtension } from '@mcp-sessions/core/http';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import {
  acceptedContent,
  inputRequired,
  type RequestStateCodec,
  McpServer as StatelessMcpServer,
  ResourceTemplate as StatelessResourceTemplate,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { type ForgetState, newNonce, REQUEST_STATE_TTL_SECONDS } from './mrtr';
import { type Notebooks, notebooks } from './notebook';

/**
 * One JSON-schema validator for every session's server. The SDK otherwise builds a new Ajv per
 * `McpServer`, which is most of what rebuilding a session costs (a quarter of a recovery here).
 */
const validator = new AjvJsonSchemaValidator();

/** Agent id of clients that send no `clientInfo.name`. */
const DEFAULT_AGENT = 'default';

/**
 * The example's MCP server for 2025-era clients, one per session: `remember`/`recall` (per-agent
 * state that survives restarts, in the session or in a notebook `handle`), `notebook_open`,
 * `session_info`, and `countdown` (one notification per step, to show resumption).
 */
export function createAppServer(
  manager: SessionManager,
  ctx: SessionContext,
  notes: Notebooks = notebooks(manager, undefined),
): McpServer {
  const server = new McpServer(
    { name: 'mcp-sessions-example', version: '0.1.0' },
    { capabilities: { logging: {}, resources: { subscribe: true } }, jsonSchemaValidator: validator },
  );
  const agent = ctx.clientName ?? DEFAULT_AGENT;
  const json = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

  // Without a handle: the session's own state.
  const state = async (handle: string | undefined, extra: { sessionId?: string | undefined }) =>
    handle === undefined ? agentState(manager, extra, agent) : notes.state(handle, agent);

  server.registerTool(
    'remember',
    {
      description: 'Store a value under a key for this agent, in this session or in the notebook `handle`',
      inputSchema: { key: z.string().min(1), value: z.string(), handle: z.string().min(1).optional() },
    },
    async ({ key, value, handle }, extra) => {
      await (await state(handle, extra)).save(key, value);
      if (handle !== undefined) await notes.changed(handle);
      return json({ remembered: key });
    },
  );

  server.registerTool(
    'recall',
    {
      description: 'Read a value stored with remember',
      inputSchema: { key: z.string().min(1), handle: z.string().min(1).optional() },
    },
    async ({ key, handle }, extra) =>
      json({ key, value: (await (await state(handle, extra)).load(key)) ?? null }),
  );

  server.registerTool(
    'notebook_open',
    { description: 'A new notebook: state both eras reach by its handle' },
    async () => json({ handle: await notes.open() }),
  );

  server.registerResource(
    'notebook',
    new ResourceTemplate('notebook://{handle}', { list: undefined }),
    {
      description: 'A notebook from notebook_open: its entries by agent and key',
      mimeType: 'application/json',
    },
    (uri, { handle }) => readNotebook(notes, uri, handle),
  );

  server.registerTool(
    'session_info',
    { description: 'Which session and instance serve this call' },
    async (extra) => {
      const sessionId = extra.sessionId ?? ctx.sessionId;
      const record = await manager.getSession(sessionId);
      if (!record) throw new SessionNotFoundError(sessionId);
      return json({
        sessionId,
        instanceId: manager.instanceId,
        recoveryAttempts: record.recoveryAttempts,
        status: record.status,
        agent,
      });
    },
  );

  server.registerTool(
    'countdown',
    {
      description: 'Count down from `from`, one log notification every `intervalMs`',
      inputSchema: {
        from: z.number().int().min(1).max(1000),
        intervalMs: z.number().int().min(0).max(60_000),
      },
    },
    async ({ from, intervalMs }, extra) => {
      for (let n = from; n >= 1; n--) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: n } });
        if (intervalMs > 0 && n > 1) await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
      return json({ done: true, from });
    },
  );

  return server;
}

/**
 * The example's MCP server for 2026-07-28 clients (stateless, one per request, through SDK v2's
 * `createMcpHandler`): the same tools, except that with no session `remember` and `recall` need a
 * notebook `handle` (from `notebook_open`), and `session_info` reports the era and instance; plus
 * `forget`, a Multi Round-Trip Request whose `requestState` is single-use on every instance; and
 * `countdown` from the Tasks extension (`countdown.ts`): a durable task for clients that opt in.
 */
export function createStatelessServer(
  manager: SessionManager,
  notes: Notebooks,
  states: RequestStateCodec<ForgetState>,
  tasks: TasksExtension,
): StatelessMcpServer {
  const server = new StatelessMcpServer(
    { name: 'mcp-sessions-example', version: '0.1.0' },
    {
      capabilities: { logging: {}, resources: { subscribe: true } },
      // Every echoed requestState is checked (HMAC, expiry) before a handler runs.
      requestState: { verify: states.verify },
    },
  );
  // The Tasks extension: `countdown`, `tasks/get|update|cancel`, and the capability.
  tasks.install(server);
  const json = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });
  const agent = () => server.server.getClientVersion()?.name ?? DEFAULT_AGENT;
  const handleRequired = z
    .string({ error: 'handle is required without a session: call notebook_open' })
    .min(1);

  server.registerTool(
    'remember',
    {
      description: 'Store a value under a key for this agent, in the notebook `handle`',
      inputSchema: z.object({ key: z.string().min(1), value: z.string(), handle: handleRequired }),
    },
    async ({ key, value, handle }) => {
      await (await notes.state(handle, agent())).save(key, value);
      await notes.changed(handle);
      return json({ remembered: key });
    },
  );

  server.registerTool(
    'recall',
    {
      description: 'Read a value stored with remember',
      inputSchema: z.object({ key: z.string().min(1), handle: handleRequired }),
    },
    async ({ key, handle }) =>
      json({ key, value: (await (await notes.state(handle, agent())).load(key)) ?? null }),
  );

  server.registerTool(
    'notebook_open',
    { description: 'A new notebook: state both eras reach by its handle' },
    async () => json({ handle: await notes.open() }),
  );

  server.registerResource(
    'notebook',
    new StatelessResourceTemplate('notebook://{handle}', { list: undefined }),
    {
      description: 'A notebook from notebook_open: its entries by agent and key',
      mimeType: 'application/json',
    },
    (uri, { handle }) => readNotebook(notes, uri, handle),
  );

  const confirmation = z.object({ confirm: z.boolean() });
  server.registerTool(
    'forget',
    {
      description:
        'Delete a key from the notebook `handle` once the user confirms (a multi round-trip request)',
      inputSchema: z.object({ key: z.string().min(1), handle: handleRequired }),
    },
    async ({ key, handle }, ctx) => {
      const state = ctx.mcpReq.requestState<ForgetState>();
      if (state === undefined) {
        await notes.state(handle, agent()); // an unknown notebook fails now, not after the user answers
        return inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              message: `Forget "${key}" from notebook ${handle}?`,
              requestedSchema: confirmation,
            }),
          },
          requestState: await states.mint({ nonce: newNonce(), handle, key }),
        });
      }
      // The codec proved the state is ours and fresh; it must also be this call's.
      if (state.handle !== handle || state.key !== key) {
        throw new InvalidArgumentError('requestState', 'it confirms another forget call');
      }
      // The spec's single-use MUST: the first retry wins on any instance, a replay is refused.
      if (
        !(await manager.consumeOnce(`forget:${state.nonce}`, { ttlMs: REQUEST_STATE_TTL_SECONDS * 1000 }))
      ) {
        throw new InvalidArgumentError('requestState', 'already used: call forget again to confirm anew');
      }
      if (acceptedContent(ctx.mcpReq.inputResponses, 'confirm', confirmation)?.confirm !== true) {
        return json({ forgotten: false, key });
      }
      const deleted = await (await notes.state(handle, agent())).delete(key);
      if (deleted) await notes.changed(handle);
      return json({ forgotten: deleted, key });
    },
  );

  server.registerTool(
    'session_info',
    { description: 'Which instance serves this call (no session in this era)' },
    async () => json({ sessionId: null, era: '2026-07-28', instanceId: manager.instanceId, agent: agent() }),
  );

  return server;
}

/** A `notebook://<handle>` resource's contents: its entries, as JSON. Both eras serve it. */
async function readNotebook(notes: Notebooks, uri: URL, handle: string | string[] | undefined) {
  return {
    contents: [{ uri: uri.href, mimeType: 'application/json', text: await notes.read(String(handle)) }],
  };
}
