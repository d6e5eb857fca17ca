/**
 * Notebooks: agent state reached by an explicit handle instead of a session, so a 2026-07-28
 * client (no sessions) and a 2025 client reach the same state. A notebook is a handle minted by
 * the manager (192 random bits, a TTL, swept with the sessions; the example serves no principals,
 * so every handle is bound to none and anyone holding it may use it). Each notebook is the
 * resource `notebook://<handle>`; a change is published on the shared event bus, so a client
 * listening (`subscriptions/listen`) on any instance is told.
 */
import { InvalidArgumentError, type SessionManager, SessionNotFoundError } from '@mcp-sessions/core';
import type { AgentState, SharedServerEventBus } from '@mcp-sessions/core/http';

/** How long a notebook lives without being written. */
export const NOTEBOOK_TTL_MS = 24 * 60 * 60 * 1000;

export interface Notebooks {
  /** A new notebook's handle. */
  open(): Promise<string>;
  /** The notebook's state for one agent; a clear error for an unknown or expired handle. */
  state(handle: string, agentId: string): Promise<AgentState>;
  /** Everything in the notebook, by agent then key, as the resource's text. */
  read(handle: string): Promise<string>;
  /** After a write: renews the notebook and tells listeners on every instance. */
  changed(handle: string): Promise<void>;
}

export function notebookUri(handle: string): string {
  return `notebook://${handle}`;
}

export function notebooks(manager: SessionManager, events: SharedServerEventBus | undefined): Notebooks {
  const principal = { principal: null };
  const known = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof SessionNotFoundError) {
        throw new InvalidArgumentError('handle', 'unknown notebook: open one with notebook_open');
      }
      throw error; // HandleExpiredError says so itself
    }
  };
  return {
    open: async () => (await manager.mintHandle({ ...principal, ttlMs: NOTEBOOK_TTL_MS })).handle,
    state: (handle, agentId) => known(() => manager.handleState(handle, agentId, principal)),
    read: (handle) =>
      known(async () => {
        await manager.checkHandle(handle, principal);
        const entries = await manager.listAgentState(handle);
        return JSON.stringify(entries.map(({ agentId, key, value }) => ({ agentId, key, value })));
      }),
    changed: async (handle) => {
      await manager.touchHandle(handle, { ...principal, ttlMs: NOTEBOOK_TTL_MS });
      await events?.send({ kind: 'resource_updated', uri: notebookUri(handle) });
    },
  };
}
