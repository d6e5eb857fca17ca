import { type SessionManager, SessionNotLiveError } from '@mcp-sessions/core';
import { agentState, type SessionContext } from '@mcp-sessions/core/http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { z } from 'zod';

/**
 * One JSON-schema validator for every session's server. The SDK otherwise builds a new Ajv per
 * `McpServer`, which is most of what rebuilding a session costs (a quarter of a recovery here).
 */
const validator = new AjvJsonSchemaValidator();

/** Agent id of clients that send no `clientInfo.name`. */
const DEFAULT_AGENT = 'default';

/**
 * The example's MCP server, one per session: `remember`/`recall` (per-agent state that survives
 * restarts), `session_info`, and `countdown` (one notification per step, to show resumption).
 */
export function createAppServer(manager: SessionManager, ctx: SessionContext): McpServer {
  const server = new McpServer(
    { name: 'mcp-sessions-example', version: '0.1.0' },
    { capabilities: { logging: {} }, jsonSchemaValidator: validator },
  );
  const agent = ctx.clientName ?? DEFAULT_AGENT;
  const json = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

  server.registerTool(
    'remember',
    {
      description: 'Store a value under a key for this agent, in this session',
      inputSchema: { key: z.string().min(1), value: z.string() },
    },
    async ({ key, value }, extra) => {
      await agentState(manager, extra, agent).save(key, value);
      return json({ remembered: key });
    },
  );

  server.registerTool(
    'recall',
    { description: 'Read a value stored with remember', inputSchema: { key: z.string().min(1) } },
    async ({ key }, extra) =>
      json({ key, value: (await agentState(manager, extra, agent).load(key)) ?? null }),
  );

  server.registerTool(
    'session_info',
    { description: 'Which session and instance serve this call' },
    async (extra) => {
      const sessionId = extra.sessionId ?? ctx.sessionId;
      const record = await manager.getSession(sessionId);
      if (!record) throw new SessionNotLiveError(sessionId, 'gone');
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
