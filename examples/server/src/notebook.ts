/**
 * A minimal notebook handle: state reached by an explicit id instead of a session, so a
 * 2026-07-28 client (no sessions) and a 2025 client reach the same state. A handle is a session
 * record with no server behind it (192 random bits, like a session id), handed off at once so no
 * instance heartbeats it: it lives as an idle session does (stale after `staleAfterMs`, expired
 * after the grace period) and is swept with the sessions. Not yet: a principal bound to it, a TTL
 * of its own, renewal on use (issue #14, part 3).
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, type SessionManager } from '@mcp-sessions/core';
import { type AgentState, agentState } from '@mcp-sessions/core/http';

/** A new notebook's handle. */
export async function openNotebook(manager: SessionManager): Promise<string> {
  const handle = randomBytes(24).toString('base64url');
  await manager.initialize(handle, { metadata: { kind: 'notebook' } });
  await manager.handOff(handle);
  return handle;
}

/** The notebook's state for one agent; a clear error when the handle is unknown or expired. */
export async function notebookState(
  manager: SessionManager,
  handle: string,
  agentId: string,
): Promise<AgentState> {
  const record = await manager.getSession(handle);
  if (!record || (record.status !== 'active' && record.status !== 'disconnected')) {
    throw new InvalidArgumentError(
      'handle',
      'unknown or expired notebook: open a new one with notebook_open',
    );
  }
  return agentState(manager, { sessionId: handle }, agentId);
}
