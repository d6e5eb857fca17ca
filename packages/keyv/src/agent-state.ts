import type { AgentStateEntry } from '@mcp-sessions/core';
import { type AgentStateKey, compareNames, decodeJson, encodeJson } from '@mcp-sessions/core/adapter';
import { timeOf } from './buckets';
import {
  encodeManifest,
  isNumber,
  type KeyvContext,
  type Manifest,
  parse,
  parseManifest,
} from './connection';
import type { KeySpace } from './keys';

/** Expiry-index entries handled per round of `purgeExpiredState`. */
const PURGE_BATCH = 500;

interface StoredState {
  a: string;
  k: string;
  u: number;
  e: number | null;
  /** The value as `encodeJson` text. */
  v: string;
}

/**
 * Agent state: a value per entry, its slot in the session manifest, and the expiry bucket index
 * for the purge. An entry with an expiry also gets a Keyv TTL (see `nativeTtl`).
 */
export class KeyvAgentState {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: KeyvContext) {
    this.keys = ctx.keys;
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const stored: StoredState = {
      a: entry.agentId,
      k: entry.key,
      u: entry.updatedAt,
      e: entry.expiresAt,
      v: encodeJson(entry.value),
    };
    const { sessionId, agentId, key } = entry;
    return this.ctx.run('setState', (op) =>
      this.ctx.sessions.with([sessionId], async () => {
        const manifest = await this.ctx.liveManifest(op, sessionId);
        // Bookkeeping first: a crash between the writes leaves an index entry without a value
        // (harmless), never a value no index knows about.
        if (addSlot(manifest, agentId, key)) {
          await this.ctx.setOne(op, this.keys.manifest(sessionId), encodeManifest(manifest));
        }
        if (entry.expiresAt !== null) {
          await this.ctx.index.apply(this.ctx.io(op), [
            { kind: 'expiry', entry: [sessionId, agentId, key, entry.expiresAt], add: true },
          ]);
        }
        await this.ctx.setOne(
          op,
          this.keys.state(sessionId, agentId, key),
          JSON.stringify(stored),
          this.ttlFor(entry),
        );
      }),
    );
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    return this.ctx.run('getState', async (op) => {
      const stateKey = this.keys.state(key.sessionId, key.agentId, key.key);
      const text = await this.ctx.getOne(op, stateKey);
      if (text === undefined) return undefined;
      const stored = parseState(stateKey, text);
      return isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
    });
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    return this.ctx.run('deleteState', (op) =>
      this.ctx.sessions.with([key.sessionId], async () => {
        const existed = await this.ctx.deleteOne(op, this.keys.state(key.sessionId, key.agentId, key.key));
        const text = await this.ctx.getOne(op, this.keys.manifest(key.sessionId));
        if (text !== undefined) {
          const manifest = parseManifest(key.sessionId, text);
          if (removeSlot(manifest, key.agentId, key.key)) {
            await this.ctx.setOne(op, this.keys.manifest(key.sessionId), encodeManifest(manifest));
          }
        }
        return existed;
      }),
    );
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    return this.ctx.run('listState', async (op) => {
      const text = await this.ctx.getOne(op, this.keys.manifest(sessionId));
      const keys = parseManifest(sessionId, text)
        .slots.filter(([a]) => agentId === undefined || a === agentId)
        .sort(([a1, k1], [a2, k2]) => compareNames(a1, a2) || compareNames(k1, k2))
        .map(([a, k]) => this.keys.state(sessionId, a, k));
      const texts = await this.ctx.getMany(op, keys);
      return texts.flatMap((t, i) => {
        const stored = t === undefined ? undefined : parseState(keys[i]!, t);
        return stored && isFresh(stored, now) ? [toEntry(sessionId, stored)] : [];
      });
    });
  }

  async purgeExpiredState(now: number): Promise<number> {
    return this.ctx.run('purgeExpiredState', async (op) => {
      const io = this.ctx.io(op);
      let purged = 0;
      for (;;) {
        const due: Array<readonly [sessionId: string, agentId: string, key: string, at: number]> = [];
        for (const bucket of await this.ctx.index.bucketsUpTo(io, 'expiry', this.ctx.index.bucketOf(now))) {
          for (const e of await this.ctx.index.entries(io, 'expiry', bucket)) {
            if (timeOf(e) <= now && e.length === 4) due.push(e as (typeof due)[number]);
          }
          if (due.length >= PURGE_BATCH) break;
        }
        if (due.length === 0) return purged;
        const sessionIds = [...new Set(due.map((d) => d[0]))];
        purged += await this.ctx.sessions.with(sessionIds, async () => {
          const stateKeys = due.map(([s, a, k]) => this.keys.state(s, a, k));
          const texts = await this.ctx.getMany(op, [
            ...stateKeys,
            ...sessionIds.map((id) => this.keys.manifest(id)),
          ]);
          const manifests = new Map(
            sessionIds.map((id, i) => [id, parseManifest(id, texts[stateKeys.length + i])]),
          );
          const changed = new Set<string>();
          const doomed = new Set<string>();
          due.forEach(([sessionId, agentId, key, at], i) => {
            const text = texts[i];
            const stored = text === undefined ? undefined : parseState(stateKeys[i]!, text);
            // Overwritten since with another expiry: this index entry is a leftover, the value stays.
            if (stored && stored.e !== at) return;
            if (stored) doomed.add(stateKeys[i]!);
            if (removeSlot(manifests.get(sessionId)!, agentId, key)) changed.add(sessionId);
          });
          await this.ctx.deleteMany(op, [...doomed]);
          await this.ctx.setMany(
            op,
            [...changed].map((id) => ({
              key: this.keys.manifest(id),
              value: encodeManifest(manifests.get(id)!),
            })),
          );
          await this.ctx.index.apply(
            io,
            due.map((entry) => ({ kind: 'expiry', entry, add: false })),
          );
          return doomed.size;
        });
      }
    });
  }

  // --- Internal helpers ---

  private ttlFor(entry: AgentStateEntry): number {
    if (!this.ctx.nativeTtl || entry.expiresAt === null) return 0;
    // The lifetime as the caller's clock sees it, started now: right even when that clock is not Date.now().
    return Math.max(0, entry.expiresAt - entry.updatedAt) + this.ctx.ttlSlackMs;
  }
}

function parseState(key: string, text: string): StoredState {
  const valid = (s: Record<string, unknown>) =>
    [s.a, s.k, s.v].every((v) => typeof v === 'string') && isNumber(s.u) && (s.e === null || isNumber(s.e));
  return parse(`agent state at ${key}`, text, valid) as unknown as StoredState;
}

function toEntry(sessionId: string, s: StoredState): AgentStateEntry {
  return { sessionId, agentId: s.a, key: s.k, value: decodeJson(s.v), updatedAt: s.u, expiresAt: s.e };
}

function isFresh(s: StoredState, now: number): boolean {
  return s.e === null || s.e > now;
}

function addSlot(m: Manifest, agentId: string, key: string): boolean {
  if (m.slots.some(([a, k]) => a === agentId && k === key)) return false;
  m.slots.push([agentId, key]);
  return true;
}

function removeSlot(m: Manifest, agentId: string, key: string): boolean {
  const index = m.slots.findIndex(([a, k]) => a === agentId && k === key);
  if (index >= 0) m.slots.splice(index, 1);
  return index >= 0;
}
