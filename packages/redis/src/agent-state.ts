import { type AgentStateEntry, SessionNotFoundError } from '@mcp-sessions/core';
import { type AgentStateKey, compareNames, decodeJson, encodeJson } from '@mcp-sessions/core/adapter';
import { array, corrupt, integer, num, optionalText, pairs, type RedisContext } from './connection';
import type { KeySpace } from './keys';
import * as lua from './scripts';

/** Expired state entries deleted per script call by `purgeExpiredState`. */
const PURGE_BATCH = 1_000;

/**
 * Agent state: a string per entry (`updatedAt|expiresAt|json`), a set of the session's members,
 * and per shard an index by `expiresAt` for the purge. Redis also drops an expiring entry
 * natively, `nativeExpiryMarginMs` after its `expiresAt`.
 */
export class RedisAgentState {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: RedisContext) {
    this.keys = ctx.keys;
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const value = `${entry.updatedAt}|${entry.expiresAt ?? ''}|${encodeJson(entry.value)}`;
    const k = this.keys;
    const written = await this.ctx.run(
      lua.SET_STATE,
      [
        k.record(entry.sessionId),
        k.stateEntry(entry),
        k.stateIndex(entry.sessionId),
        k.stateExpiry(k.shardOf(entry.sessionId)),
      ],
      [
        k.stateMember(entry),
        k.stateExpiryPrefix(entry.sessionId) + k.stateMember(entry),
        value,
        entry.expiresAt === null ? '' : String(entry.expiresAt),
        entry.expiresAt === null ? '' : String(entry.expiresAt + this.ctx.nativeExpiryMarginMs),
      ],
    );
    if (written !== 1) throw new SessionNotFoundError(entry.sessionId);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const entryKey = this.keys.stateEntry(key);
    const stored = optionalText(await this.ctx.connection.command(entryKey, ['GET', entryKey]));
    if (stored === undefined) return undefined;
    const entry = parseStateValue(key.sessionId, key.agentId, key.key, stored);
    return isFresh(entry, now) ? entry : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    const k = this.keys;
    const deleted = await this.ctx.run(
      lua.DELETE_STATE,
      [k.stateEntry(key), k.stateIndex(key.sessionId), k.stateExpiry(k.shardOf(key.sessionId))],
      [k.stateMember(key), k.stateExpiryPrefix(key.sessionId) + k.stateMember(key)],
    );
    return deleted === 1;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    const reply = await this.ctx.run(
      lua.LIST_STATE,
      [this.keys.stateIndex(sessionId)],
      [this.keys.stateEntryPrefix(sessionId)],
    );
    const entries: AgentStateEntry[] = [];
    for (const [member, stored] of pairs(reply)) {
      const [a, k] = this.keys.parseStateMember(member);
      if (agentId !== undefined && a !== agentId) continue;
      const entry = parseStateValue(sessionId, a, k, stored);
      if (isFresh(entry, now)) entries.push(entry);
    }
    return entries.sort((x, y) => compareNames(x.agentId, y.agentId) || compareNames(x.key, y.key));
  }

  async purgeExpiredState(now: number): Promise<number> {
    const perShard = await Promise.all(
      this.keys.allShards.map(async (shard) => {
        let deleted = 0;
        for (;;) {
          const reply = array(
            await this.ctx.run(
              lua.PURGE_EXPIRED_STATE,
              [this.keys.stateExpiry(shard)],
              [String(now), String(PURGE_BATCH), this.keys.tag(shard)],
            ),
          );
          deleted += integer(reply[0]);
          if (integer(reply[1]) < PURGE_BATCH) return deleted;
        }
      }),
    );
    return perShard.reduce((a, b) => a + b, 0);
  }
}

// --- Internal helpers ---

function parseStateValue(sessionId: string, agentId: string, key: string, stored: string): AgentStateEntry {
  const first = stored.indexOf('|');
  const second = stored.indexOf('|', first + 1);
  if (first < 0 || second < 0) throw corrupt('state entry');
  const expires = stored.slice(first + 1, second);
  return {
    sessionId,
    agentId,
    key,
    value: decodeJson(stored.slice(second + 1)),
    updatedAt: num(stored.slice(0, first)),
    expiresAt: expires === '' ? null : num(expires),
  };
}

function isFresh(entry: AgentStateEntry, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}
