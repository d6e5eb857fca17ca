import type { AgentStateEntry } from '@mcp-sessions/core';
import { type AgentStateKey, compareNames, encodeJson } from '@mcp-sessions/core/adapter';
import { copy, type JsonFileContext, slot } from './connection';
import type { Change } from './journal';

/**
 * Agent state, per session keyed by `(agentId, key)`. A database indexes `expiresAt` for
 * `purgeExpiredState`; this example scans.
 */
export class JsonFileAgentState {
  constructor(private readonly ctx: JsonFileContext) {}

  async setState(entry: AgentStateEntry): Promise<void> {
    this.ctx.open();
    encodeJson(entry.value); // checked as a value of its own: inside an entry, `undefined` would vanish
    this.ctx.assertLive(entry.sessionId);
    this.ctx.commit([['state', entry]]);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    this.ctx.open();
    const entry = this.ctx.state.get(key.sessionId)?.get(slot(key.agentId, key.key));
    return entry && !expired(entry, now) ? copy(entry) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    this.ctx.open();
    if (!this.ctx.state.get(key.sessionId)?.has(slot(key.agentId, key.key))) return false;
    this.ctx.commit([['unstate', key.sessionId, key.agentId, key.key]]);
    return true;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    this.ctx.open();
    return [...(this.ctx.state.get(sessionId)?.values() ?? [])]
      .filter((e) => (agentId === undefined || e.agentId === agentId) && !expired(e, now))
      .sort((a, b) => compareNames(a.agentId, b.agentId) || compareNames(a.key, b.key))
      .map(copy);
  }

  async purgeExpiredState(now: number): Promise<number> {
    this.ctx.open();
    const changes: Change[] = [];
    for (const entries of this.ctx.state.values()) {
      for (const e of entries.values()) {
        if (expired(e, now)) changes.push(['unstate', e.sessionId, e.agentId, e.key]);
      }
    }
    this.ctx.commit(changes);
    return changes.length;
  }
}

// --- Internal helpers ---

function expired(entry: AgentStateEntry, now: number): boolean {
  return entry.expiresAt !== null && entry.expiresAt <= now;
}
