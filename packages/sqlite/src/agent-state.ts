/** Facet 2, agent state: one row per (session, agent, key), written only while the session is live. */
import { type AgentStateEntry, SessionNotFoundError } from '@mcp-sessions/core';
import { type AgentStateKey, decodeJson, encodeJson } from '@mcp-sessions/core/adapter';
import type { Row, SqliteContext, Statements } from './connection';

export class SqliteAgentState {
  private readonly stmt: Statements;

  constructor(private readonly ctx: SqliteContext) {
    this.stmt = ctx.stmt;
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    const { sessionId, agentId, key, updatedAt, expiresAt } = entry;
    const changes = this.ctx.run(
      'setState',
      () => this.stmt.setState.run(sessionId, agentId, key, json, updatedAt, expiresAt, sessionId).changes,
    );
    if (changes === 0) throw new SessionNotFoundError(sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const row = this.ctx.run(
      'getState',
      () => this.stmt.getState.get(key.sessionId, key.agentId, key.key, now) as Row | undefined,
    );
    return row && toStateEntry(key.sessionId, row);
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    return this.ctx.run(
      'deleteState',
      () => this.stmt.deleteState.run(key.sessionId, key.agentId, key.key).changes === 1,
    );
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    const rows = this.ctx.run('listState', () =>
      agentId === undefined
        ? (this.stmt.listState.all(sessionId, now) as Row[])
        : (this.stmt.listAgentState.all(sessionId, agentId, now) as Row[]),
    );
    // BINARY collation compares UTF-8 bytes: code point order, as the contract asks.
    return rows.map((row) => toStateEntry(sessionId, row));
  }

  async purgeExpiredState(now: number): Promise<number> {
    return this.ctx.run('purgeExpiredState', () => this.stmt.purgeExpiredState.run(now).changes);
  }
}

// --- Internal helpers ---

function toStateEntry(sessionId: string, row: Row): AgentStateEntry {
  return {
    sessionId,
    agentId: row.agent_id as string,
    key: row.key as string,
    value: decodeJson(row.value as string),
    updatedAt: row.updated_at as number,
    expiresAt: row.expires_at as number | null,
  };
}
