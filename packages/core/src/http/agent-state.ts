import type { AgentState } from '../agent-state';
import { InvalidArgumentError } from '../errors';
import type { SessionManager } from '../manager';

export type { AgentState } from '../agent-state';

/** The part of the SDK's `RequestHandlerExtra` (a tool handler's second argument) used here. */
export interface SessionExtra {
  sessionId?: string | undefined;
}

/**
 * Binds the manager's agent-state calls to the session of a tool call and to an agent.
 * `agentId` is explicit (a tool argument) or, usually, the client's name:
 * `server.server.getClientVersion()?.name`, or `SessionContext.clientName` in `createServer`.
 *
 * @example
 * ```ts
 * server.registerTool('remember', { inputSchema: { key: z.string(), value: z.string() } },
 *   async ({ key, value }, extra) => {
 *     await agentState(manager, extra, ctx.clientName ?? 'default').save(key, value);
 *     return { content: [{ type: 'text', text: 'saved' }] };
 *   });
 * ```
 */
export function agentState(
  manager: SessionManager,
  extra: SessionExtra,
  agentId: string | undefined,
): AgentState {
  const sessionId = extra.sessionId;
  if (sessionId === undefined) {
    throw new InvalidArgumentError('extra.sessionId', 'the request has no session (stateless transport?)');
  }
  if (agentId === undefined || agentId.length === 0) {
    throw new InvalidArgumentError(
      'agentId',
      'no agent id: pass one, or have the client send clientInfo.name',
    );
  }
  return {
    sessionId,
    agentId,
    load: (key) => manager.loadAgentState(agentId, sessionId, key),
    save: (key, value, options) => manager.saveAgentState(agentId, sessionId, key, value, options),
    delete: (key) => manager.deleteAgentState(agentId, sessionId, key),
    list: () => manager.listAgentState(sessionId, agentId),
  };
}
