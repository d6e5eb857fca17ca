/** Facet 2, agent state: each session's entries, and the expiry index of those that expire. */
import type { AgentStateEntry } from '@mcp-sessions/core';
import { type AgentStateKey, compareNames, decodeJson, encodeJson } from '@mcp-sessions/core/adapter';
import { type MemoryContext, type Session, type StoredState, splitStateKey, stateKey } from './connection';
import type { TimeIndex } from './time-index';

export class MemoryAgentState {
  private readonly sessions: Map<string, Session>;
  private readonly expiry: TimeIndex<string>;

  constructor(private readonly ctx: MemoryContext) {
    this.sessions = ctx.sessions;
    this.expiry = ctx.expiry;
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    this.ctx.assertOpen();
    const json = encodeJson(entry.value);
    const session = this.ctx.liveSession(entry.sessionId);
    const slot = slotOf(entry);
    const previous = session.state.get(slot);
    if (previous?.expiresAt != null) this.expiry.remove(previous.expiresAt);
    const { agentId, key, updatedAt, expiresAt } = entry;
    session.state.set(slot, { agentId, key, json, updatedAt, expiresAt });
    if (expiresAt !== null) this.expiry.add(stateKey(entry.sessionId, slot), expiresAt);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    this.ctx.assertOpen();
    const stored = this.sessions.get(key.sessionId)?.state.get(slotOf(key));
    return stored && isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    this.ctx.assertOpen();
    const state = this.sessions.get(key.sessionId)?.state;
    const stored = state?.get(slotOf(key));
    if (stored === undefined) return false;
    if (stored.expiresAt !== null) this.expiry.remove(stored.expiresAt);
    return state!.delete(slotOf(key));
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    this.ctx.assertOpen();
    const state = this.sessions.get(sessionId)?.state ?? new Map<string, StoredState>();
    return [...state.values()]
      .filter((s) => (agentId === undefined || s.agentId === agentId) && isFresh(s, now))
      .sort((a, b) => compareNames(a.agentId, b.agentId) || compareNames(a.key, b.key))
      .map((s) => toEntry(sessionId, s));
  }

  async purgeExpiredState(now: number): Promise<number> {
    this.ctx.assertOpen();
    const expired = this.expiry.take(now, Number.POSITIVE_INFINITY);
    for (const key of expired) {
      const [sessionId, slot] = splitStateKey(key);
      const state = this.sessions.get(sessionId)!.state;
      this.expiry.remove(state.get(slot)!.expiresAt!);
      state.delete(slot);
    }
    return expired.length;
  }
}

// --- Internal helpers ---

function slotOf(key: { agentId: string; key: string }): string {
  return `${key.agentId}\u0000${key.key}`;
}

function isFresh(stored: StoredState, now: number): boolean {
  return stored.expiresAt === null || stored.expiresAt > now;
}

function toEntry(
  sessionId: string,
  { agentId, key, json, updatedAt, expiresAt }: StoredState,
): AgentStateEntry {
  return { sessionId, agentId, key, value: decodeJson(json), updatedAt, expiresAt };
}
