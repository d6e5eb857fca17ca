import {
  type AgentStateEntry,
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  decodeJson,
  type EventEntry,
  encodeJson,
  type JsonObject,
  type ListQuery,
  type ReadEventsQuery,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core';
import { MinHeap } from './heap';

interface StoredState {
  agentId: string;
  key: string;
  json: string;
  updatedAt: number;
  expiresAt: number | null;
}

interface StoredEvent {
  streamId: string;
  seq: number;
  json: string;
  createdAt: number;
}

interface SessionData {
  /** agentId + NUL + key → entry */
  state: Map<string, StoredState>;
  events: StoredEvent[];
  lastSeq: number;
}

/**
 * The reference store: one process, no persistence. Every operation runs synchronously inside
 * its promise, so each is atomic within the process. Values are copied in and out (as JSON
 * text), so callers can never mutate what is stored. Due records and expiring state are found
 * through heaps, not scans.
 */
export class MemorySessionStore implements SessionStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: false, crossProcess: false };

  private readonly records = new Map<string, SessionRecord>();
  private readonly data = new Map<string, SessionData>();
  /** (dueAt, id); entries whose dueAt no longer matches the record are skipped lazily. */
  private readonly due = new MinHeap<{ at: number; id: string }>((a, b) => a.at - b.at);
  /** (expiresAt, session, agent+key); lazily invalidated like `due`. */
  private readonly stateExpiry = new MinHeap<{ at: number; sessionId: string; slot: string }>(
    (a, b) => a.at - b.at,
  );
  /** Records sorted for `list`, rebuilt only after a write changed the order. */
  private sorted: SessionRecord[] | undefined;

  async insert(record: SessionRecord): Promise<void> {
    if (this.records.has(record.id)) throw new SessionExistsError(record.id);
    this.put(record);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const record = this.records.get(id);
    return record && copyRecord(record);
  }

  async compareAndSet(next: SessionRecord, expectedVersion: number): Promise<boolean> {
    const current = this.records.get(next.id);
    if (!current || current.version !== expectedVersion) return false;
    this.put(next);
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const touched: string[] = [];
    for (const id of ids) {
      const record = this.records.get(id);
      if (record?.status !== 'active') continue;
      this.replace({
        ...record,
        lastHeartbeatAt: patch.now,
        dueAt: patch.dueAt,
        version: record.version + 1,
      });
      touched.push(id);
    }
    return touched;
  }

  async delete(id: string): Promise<boolean> {
    this.data.delete(id);
    this.sorted = undefined;
    return this.records.delete(id);
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.sorted ??= [...this.records.values()].sort(byHeartbeatDesc);
    const all = this.sorted;
    let i = 0;
    if (query.after) {
      const after = query.after as SessionRecord;
      // First index strictly after the cursor position in (lastHeartbeatAt desc, id desc) order.
      let lo = 0;
      let hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (byHeartbeatDesc(all[mid]!, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    const page: SessionRecord[] = [];
    for (; i < all.length && page.length < query.limit; i++) {
      const record = all[i]!;
      if (query.statuses.includes(record.status)) page.push(copyRecord(record));
    }
    return page;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    const claimed: SessionRecord[] = [];
    while (claimed.length < query.limit) {
      const top = this.due.peek();
      if (!top || top.at > query.now) break;
      this.due.pop();
      const record = this.records.get(top.id);
      if (!record || record.dueAt !== top.at) continue; // superseded entry
      const leased = { ...record, dueAt: query.now + query.leaseMs, version: record.version + 1 };
      this.replace(leased);
      claimed.push(copyRecord(leased));
    }
    this.compact();
    return claimed;
  }

  async purgeSessionData(id: string): Promise<void> {
    this.data.delete(id);
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    this.liveData(entry.sessionId).state.set(slot(entry), {
      agentId: entry.agentId,
      key: entry.key,
      json,
      updatedAt: entry.updatedAt,
      expiresAt: entry.expiresAt,
    });
    if (entry.expiresAt !== null) {
      this.stateExpiry.push({ at: entry.expiresAt, sessionId: entry.sessionId, slot: slot(entry) });
    }
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const stored = this.data.get(key.sessionId)?.state.get(slot(key));
    return stored && isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    return this.data.get(key.sessionId)?.state.delete(slot(key)) ?? false;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    const state = this.data.get(sessionId)?.state;
    if (!state) return [];
    return [...state.values()]
      .filter((s) => (agentId === undefined || s.agentId === agentId) && isFresh(s, now))
      .sort((a, b) => compareStrings(a.agentId, b.agentId) || compareStrings(a.key, b.key))
      .map((s) => toEntry(sessionId, s));
  }

  async purgeExpiredState(now: number): Promise<number> {
    let purged = 0;
    for (let top = this.stateExpiry.peek(); top && top.at <= now; top = this.stateExpiry.peek()) {
      this.stateExpiry.pop();
      const state = this.data.get(top.sessionId)?.state;
      const stored = state?.get(top.slot);
      if (stored?.expiresAt === top.at && state?.delete(top.slot)) purged++;
    }
    if (this.stateExpiry.size > 4096) {
      const live = [...this.data].flatMap(([sessionId, d]) =>
        [...d.state].flatMap(([key, s]) =>
          s.expiresAt === null ? [] : [{ at: s.expiresAt, sessionId, slot: key }],
        ),
      );
      if (this.stateExpiry.size > 2 * live.length) this.stateExpiry.rebuild(live);
    }
    return purged;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const json = encodeJson(event.message);
    const data = this.liveData(event.sessionId);
    const seq = ++data.lastSeq;
    data.events.push({ streamId: event.streamId, seq, json, createdAt: event.createdAt });
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const events = this.data.get(query.sessionId)?.events ?? [];
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const out: EventEntry[] = [];
    for (let i = firstAfter(events, query.afterSeq); i < events.length && out.length < limit; i++) {
      const e = events[i]!;
      if (query.streamId !== undefined && e.streamId !== query.streamId) continue;
      out.push({
        sessionId: query.sessionId,
        streamId: e.streamId,
        seq: e.seq,
        message: decodeJson(e.json),
        createdAt: e.createdAt,
      });
    }
    return out;
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    const events = this.data.get(sessionId)?.events ?? [];
    const e = events[firstAfter(events, seq - 1)];
    return e?.seq === seq ? e.streamId : undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    const data = this.data.get(query.sessionId);
    if (!data) return 0;
    const before = data.events.length;
    let drop = 0;
    if (query.createdBefore !== undefined) {
      while (drop < data.events.length && data.events[drop]!.createdAt < query.createdBefore) drop++;
    }
    if (query.maxEvents !== undefined) drop = Math.max(drop, data.events.length - query.maxEvents);
    data.events.splice(0, drop);
    return before - data.events.length;
  }

  async close(): Promise<void> {}

  // --- Internal helpers ---

  private put(record: SessionRecord): void {
    this.replace(copyRecord(record));
  }

  /** Stores a record this store already owns (no copy) and indexes its dueAt. */
  private replace(record: SessionRecord): void {
    const previous = this.records.get(record.id);
    this.records.set(record.id, record);
    if (previous?.dueAt !== record.dueAt) this.due.push({ at: record.dueAt, id: record.id });
    this.sorted = undefined;
  }

  /** Data of a live session; the liveness check and the write happen in the same tick. */
  private liveData(sessionId: string): SessionData {
    const status = this.records.get(sessionId)?.status;
    if (status !== 'active' && status !== 'disconnected') throw new SessionNotFoundError(sessionId);
    let data = this.data.get(sessionId);
    if (!data) {
      data = { state: new Map(), events: [], lastSeq: 0 };
      this.data.set(sessionId, data);
    }
    return data;
  }

  /** Drops superseded heap entries once they outnumber the records. */
  private compact(): void {
    if (this.due.size > 2 * this.records.size + 1024) {
      this.due.rebuild([...this.records.values()].map((r) => ({ at: r.dueAt, id: r.id })));
    }
  }
}

function copyRecord(record: SessionRecord): SessionRecord {
  return {
    ...record,
    metadata: record.metadata && (decodeJson(encodeJson(record.metadata)) as JsonObject),
    initializeParams:
      record.initializeParams && (decodeJson(encodeJson(record.initializeParams)) as JsonObject),
  };
}

function slot(key: { agentId: string; key: string }): string {
  return `${key.agentId}\u0000${key.key}`;
}

function isFresh(stored: StoredState, now: number): boolean {
  return stored.expiresAt === null || stored.expiresAt > now;
}

function toEntry(sessionId: string, s: StoredState): AgentStateEntry {
  return {
    sessionId,
    agentId: s.agentId,
    key: s.key,
    value: decodeJson(s.json),
    updatedAt: s.updatedAt,
    expiresAt: s.expiresAt,
  };
}

function byHeartbeatDesc(
  a: Pick<SessionRecord, 'lastHeartbeatAt' | 'id'>,
  b: Pick<SessionRecord, 'lastHeartbeatAt' | 'id'>,
) {
  return b.lastHeartbeatAt - a.lastHeartbeatAt || compareStrings(b.id, a.id);
}

/** Code-unit order, the same as SQL's binary collation and Redis. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first event with seq > after (events are sorted by seq). */
function firstAfter(events: StoredEvent[], after: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
