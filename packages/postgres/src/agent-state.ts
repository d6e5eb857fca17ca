/** Facet 2, agent state: written only while the session row is live, held `FOR SHARE` until commit. */
import { type AgentStateEntry, SessionNotFoundError } from '@mcp-sessions/core';
import { type AgentStateKey, decodeJson, encodeJson } from '@mcp-sessions/core/adapter';
import { assertNoNul, hasNul, int, intOrNull, type PostgresContext, text } from './connection';
import type { Statements } from './sql';

export class PostgresAgentState {
  private readonly sql: Statements;

  constructor(private readonly ctx: PostgresContext) {
    this.sql = ctx.sql;
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    assertNoNul('agentId', entry.agentId);
    assertNoNul('key', entry.key);
    if (hasNul(entry.sessionId)) throw new SessionNotFoundError(entry.sessionId);
    const result = await this.ctx.query('setState', this.sql.setState, [
      entry.sessionId,
      entry.agentId,
      entry.key,
      json,
      entry.updatedAt,
      entry.expiresAt,
    ]);
    if (result.rowCount === 0) throw new SessionNotFoundError(entry.sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    if (hasNul(key.sessionId) || hasNul(key.agentId) || hasNul(key.key)) return undefined;
    const { rows } = await this.ctx.query('getState', this.sql.getState, [
      key.sessionId,
      key.agentId,
      key.key,
      now,
    ]);
    const row = rows[0];
    return (
      row && {
        sessionId: key.sessionId,
        agentId: key.agentId,
        key: key.key,
        value: decodeJson(text(row.value)),
        updatedAt: int(row.updated_at),
        expiresAt: intOrNull(row.expires_at),
      }
    );
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    if (hasNul(key.sessionId) || hasNul(key.agentId) || hasNul(key.key)) return false;
    const result = await this.ctx.query('deleteState', this.sql.deleteState, [
      key.sessionId,
      key.agentId,
      key.key,
    ]);
    return result.rowCount === 1;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    if (hasNul(sessionId) || (agentId !== undefined && hasNul(agentId))) return [];
    const { rows } =
      agentId === undefined
        ? await this.ctx.query('listState', this.sql.listState, [sessionId, now])
        : await this.ctx.query('listState', this.sql.listAgentState, [sessionId, now, agentId]);
    return rows.map((row) => ({
      sessionId,
      agentId: text(row.agent_id),
      key: text(row.key),
      value: decodeJson(text(row.value)),
      updatedAt: int(row.updated_at),
      expiresAt: intOrNull(row.expires_at),
    }));
  }

  async purgeExpiredState(now: number): Promise<number> {
    const result = await this.ctx.query('purgeExpiredState', this.sql.purgeExpiredState, [now]);
    return result.rowCount ?? 0;
  }
}
