import {
  type AgentStateEntry,
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  decodeJson,
  type EventEntry,
  encodeJson,
  type JsonObject,
  type ListAfter,
  type ListQuery,
  type ReadEventsQuery,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core';
import { MinHeap } from './heap';

/** A stored record: owned by the store (never handed out), JSON fields kept as text. */
interface Row {
  id: string;
  status: SessionStatus;
  version: number;
  principal: string | null;
  ownerId: string | null;
  createdAt: number;
  lastHeartbeatAt: number;
  disconnectedAt: number | null;
  graceExpiresAt: number | null;
  recoveryAttempts: number;
  recoveredAt: number | null;
  endedAt: number | null;
  dueAt: number;
  workingDirectory: string | null;
  metadata: string | null;
  initializeParams: string | null;
  /** Neighbours in the list of records with the same `dueAt` (see `DueBucket`). */
  duePrev: Row | undefined;
  dueNext: Row | undefined;
  /** Set when the record is deleted, so a remembered reference to this row is known stale. */
  removed: boolean;
}

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
 * The records whose `dueAt` is one instant, as a list threaded through the rows themselves:
 * a heartbeat moves a row between two lists with a few pointer writes, allocating nothing.
 */
interface DueBucket {
  head: Row | undefined;
  size: number;
}

interface ExpiryItem {
  at: number;
  sessionId: string;
  slot: string;
}

/** Superseded heap entries tolerated before a rebuild, beyond twice the live ones. */
const HEAP_SLACK = 1024;
/** `touch` batches at least this long have their rows remembered (see `resolved`). */
const REMEMBER_BATCH = 64;

/**
 * The reference store: one process, no persistence. Every operation runs synchronously inside
 * its promise, so each is atomic within the process. Values are copied in and out (as JSON
 * text), so callers can never mutate what is stored. Due records are indexed by `dueAt` in
 * lists threaded through the rows (a heartbeat moves a row between two lists in O(1), with no
 * allocation), expiring state in a heap: neither is found by a scan.
 */
export class MemorySessionStore implements SessionStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: false, crossProcess: false };

  private readonly rows = new Map<string, Row>();
  private readonly data = new Map<string, SessionData>();
  /** dueAt → the records due then. Every record is in exactly one bucket. */
  private readonly due = new Map<number, DueBucket>();
  /** The bucket times, earliest first; times of dropped buckets are skipped lazily. */
  private readonly dueTimes = new MinHeap<number>((a, b) => a - b);
  /** (expiresAt, session, agent+key) of state entries; superseded entries are skipped lazily. */
  private readonly stateExpiry = new MinHeap<ExpiryItem>((a, b) => a.at - b.at);
  /** How many stored state entries have an expiry (the live part of `stateExpiry`). */
  private expiringEntries = 0;
  /**
   * The rows a batch resolved to, by batch array. The manager sends the same arrays every tick
   * while its sessions do not change, so a tick skips the id lookups; every remembered row is
   * checked (same id, not removed) before use, so a reused or edited array is still right.
   */
  private readonly resolved = new WeakMap<readonly string[], (Row | undefined)[]>();
  /** Rows in `list` order, rebuilt only after a write changed the order. */
  private sorted: Row[] | undefined;

  async insert(record: SessionRecord): Promise<void> {
    if (this.rows.has(record.id)) throw new SessionExistsError(record.id);
    const row = toRow(record);
    this.rows.set(row.id, row);
    this.link(row, this.bucket(row.dueAt));
    this.sorted = undefined;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.rows.get(id);
    return row && toRecord(row);
  }

  async compareAndSet(next: SessionRecord, expectedVersion: number): Promise<boolean> {
    const current = this.rows.get(next.id);
    if (!current || current.version !== expectedVersion) return false;
    const row = toRow(next); // validates the JSON fields before anything changes
    if (row.dueAt !== current.dueAt) {
      this.unlink(current, this.due.get(current.dueAt)!);
      this.link(current, this.bucket(row.dueAt));
    }
    // The stored row object stays (it is linked in its bucket); its fields take the new values.
    row.duePrev = current.duePrev;
    row.dueNext = current.dueNext;
    Object.assign(current, row);
    this.sorted = undefined;
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    // Built only once a record is skipped: the usual batch is touched whole and copied at once.
    let touched: string[] | undefined;
    // A batch usually moves from one bucket to one other: look each up once, not per record.
    const into = this.bucket(patch.dueAt);
    let fromAt = Number.NaN;
    let from: DueBucket | undefined;
    const remembered = this.remembered(ids);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      let row = remembered?.[i];
      if (row === undefined || row.id !== id || row.removed) {
        row = this.rows.get(id);
        if (remembered !== undefined) remembered[i] = row;
      }
      if (row === undefined || row.status !== 'active') {
        touched ??= ids.slice(0, i);
        continue;
      }
      row.lastHeartbeatAt = patch.now;
      row.version++;
      if (row.dueAt !== patch.dueAt) {
        if (row.dueAt !== fromAt) {
          fromAt = row.dueAt;
          from = this.due.get(fromAt)!;
        }
        this.unlink(row, from!);
        this.link(row, into);
        row.dueAt = patch.dueAt;
      }
      touched?.push(id);
    }
    if (into.size === 0) this.due.delete(patch.dueAt);
    touched ??= ids.slice();
    if (touched.length > 0) this.sorted = undefined;
    return touched;
  }

  async delete(id: string): Promise<boolean> {
    const row = this.rows.get(id);
    if (!row) return false;
    this.dropData(id);
    this.unlink(row, this.due.get(row.dueAt)!);
    this.rows.delete(id);
    row.removed = true;
    this.sorted = undefined;
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.sorted ??= [...this.rows.values()].sort(listOrder);
    const all = this.sorted;
    const page: SessionRecord[] = [];
    for (let i = query.after ? firstAfter(all, query.after) : 0; i < all.length; i++) {
      if (page.length >= query.limit) break;
      const row = all[i]!;
      if (query.statuses.includes(row.status)) page.push(toRecord(row));
    }
    return page;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    const claimed: Row[] = [];
    const popped: number[] = [];
    while (claimed.length < query.limit) {
      const at = this.dueTimes.peek();
      if (at === undefined || at > query.now) break;
      const bucket = this.due.get(at);
      if (bucket === undefined || popped[popped.length - 1] === at) {
        this.dueTimes.pop(); // a dropped bucket, or a time indexed twice
        continue;
      }
      let row = bucket.head;
      for (; row !== undefined && claimed.length < query.limit; row = row.dueNext) claimed.push(row);
      if (row !== undefined) break; // limit reached inside this bucket: the rest stays due
      popped.push(this.dueTimes.pop()!);
    }
    const leasedUntil = query.now + query.leaseMs;
    const out: SessionRecord[] = [];
    for (const row of claimed) {
      if (row.dueAt !== leasedUntil) {
        this.unlink(row, this.due.get(row.dueAt)!);
        this.link(row, this.bucket(leasedUntil));
        row.dueAt = leasedUntil;
      }
      row.version++;
      out.push(toRecord(row));
    }
    // A bucket whose time was popped but that still has records (a zero lease) stays indexed.
    for (const at of popped) if (this.due.has(at)) this.dueTimes.push(at);
    return out;
  }

  async purgeSessionData(id: string): Promise<void> {
    this.dropData(id);
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    const json = encodeJson(entry.value);
    const state = this.liveData(entry.sessionId).state;
    const key = slot(entry);
    const previous = state.get(key);
    state.set(key, {
      agentId: entry.agentId,
      key: entry.key,
      json,
      updatedAt: entry.updatedAt,
      expiresAt: entry.expiresAt,
    });
    if (previous !== undefined && previous.expiresAt !== null) this.expiringEntries--;
    if (entry.expiresAt !== null) {
      this.expiringEntries++;
      this.stateExpiry.push({ at: entry.expiresAt, sessionId: entry.sessionId, slot: key });
      this.compactStateExpiry();
    }
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const stored = this.data.get(key.sessionId)?.state.get(slot(key));
    return stored && isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    const state = this.data.get(key.sessionId)?.state;
    const k = slot(key);
    const stored = state?.get(k);
    if (!stored) return false;
    if (stored.expiresAt !== null) this.expiringEntries--;
    return state!.delete(k);
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
      if (stored?.expiresAt === top.at && state!.delete(top.slot)) {
        this.expiringEntries--;
        purged++;
      }
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
    for (let i = firstEventAfter(events, query.afterSeq); i < events.length && out.length < limit; i++) {
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
    const e = events[firstEventAfter(events, seq - 1)];
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

  /** The remembered rows of a batch (created empty on first sight), or none for a short batch. */
  private remembered(ids: readonly string[]): (Row | undefined)[] | undefined {
    if (ids.length < REMEMBER_BATCH) return undefined;
    let rows = this.resolved.get(ids);
    if (rows === undefined || rows.length !== ids.length) {
      rows = new Array<Row | undefined>(ids.length).fill(undefined);
      this.resolved.set(ids, rows);
    }
    return rows;
  }

  /** The bucket for `at`, created (and its time indexed) if needed. */
  private bucket(at: number): DueBucket {
    let bucket = this.due.get(at);
    if (bucket === undefined) {
      bucket = { head: undefined, size: 0 };
      this.due.set(at, bucket);
      this.dueTimes.push(at);
      // Times of dropped buckets are skipped lazily; rebuild once they outnumber the live ones.
      if (this.dueTimes.size > 2 * this.due.size + HEAP_SLACK) this.dueTimes.rebuild([...this.due.keys()]);
    }
    return bucket;
  }

  /** Puts `row` at the head of `bucket`. The caller sets `row.dueAt` to the bucket's time. */
  private link(row: Row, bucket: DueBucket): void {
    row.duePrev = undefined;
    row.dueNext = bucket.head;
    if (bucket.head !== undefined) bucket.head.duePrev = row;
    bucket.head = row;
    bucket.size++;
  }

  /** Takes `row` out of `bucket` (the one of `row.dueAt`), dropping the bucket once empty. */
  private unlink(row: Row, bucket: DueBucket): void {
    if (row.duePrev !== undefined) row.duePrev.dueNext = row.dueNext;
    else bucket.head = row.dueNext;
    if (row.dueNext !== undefined) row.dueNext.duePrev = row.duePrev;
    row.duePrev = row.dueNext = undefined;
    if (--bucket.size === 0) this.due.delete(row.dueAt);
  }

  private compactStateExpiry(): void {
    if (this.stateExpiry.size <= 2 * this.expiringEntries + HEAP_SLACK) return;
    const live: ExpiryItem[] = [];
    for (const [sessionId, d] of this.data) {
      for (const [key, s] of d.state)
        if (s.expiresAt !== null) live.push({ at: s.expiresAt, sessionId, slot: key });
    }
    this.stateExpiry.rebuild(live);
  }

  private dropData(id: string): void {
    const data = this.data.get(id);
    if (!data) return;
    for (const s of data.state.values()) if (s.expiresAt !== null) this.expiringEntries--;
    this.data.delete(id);
  }

  /** Data of a live session; the liveness check and the write happen in the same tick. */
  private liveData(sessionId: string): SessionData {
    const status = this.rows.get(sessionId)?.status;
    if (status !== 'active' && status !== 'disconnected') throw new SessionNotFoundError(sessionId);
    let data = this.data.get(sessionId);
    if (!data) {
      data = { state: new Map(), events: [], lastSeq: 0 };
      this.data.set(sessionId, data);
    }
    return data;
  }
}

/** Validates and serialises the JSON fields (InvalidValueError before anything is stored). */
function toRow(r: SessionRecord): Row {
  return {
    id: r.id,
    status: r.status,
    version: r.version,
    principal: r.principal,
    ownerId: r.ownerId,
    createdAt: r.createdAt,
    lastHeartbeatAt: r.lastHeartbeatAt,
    disconnectedAt: r.disconnectedAt,
    graceExpiresAt: r.graceExpiresAt,
    recoveryAttempts: r.recoveryAttempts,
    recoveredAt: r.recoveredAt,
    endedAt: r.endedAt,
    dueAt: r.dueAt,
    workingDirectory: r.workingDirectory,
    metadata: r.metadata === null ? null : encodeJson(r.metadata),
    initializeParams: r.initializeParams === null ? null : encodeJson(r.initializeParams),
    duePrev: undefined,
    dueNext: undefined,
    removed: false,
  };
}

/** A fresh record the caller may keep or mutate. */
function toRecord(r: Row): SessionRecord {
  return {
    id: r.id,
    status: r.status,
    version: r.version,
    principal: r.principal,
    ownerId: r.ownerId,
    createdAt: r.createdAt,
    lastHeartbeatAt: r.lastHeartbeatAt,
    disconnectedAt: r.disconnectedAt,
    graceExpiresAt: r.graceExpiresAt,
    recoveryAttempts: r.recoveryAttempts,
    recoveredAt: r.recoveredAt,
    endedAt: r.endedAt,
    dueAt: r.dueAt,
    workingDirectory: r.workingDirectory,
    metadata: r.metadata === null ? null : (decodeJson(r.metadata) as JsonObject),
    initializeParams: r.initializeParams === null ? null : (decodeJson(r.initializeParams) as JsonObject),
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

/** `list` order: lastHeartbeatAt descending, then id descending. */
function listOrder(a: ListAfter, b: ListAfter): number {
  return b.lastHeartbeatAt - a.lastHeartbeatAt || compareStrings(b.id, a.id);
}

/** Code-unit order, the same as SQL's binary collation and Redis. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first row strictly after the keyset position. */
function firstAfter(rows: Row[], after: ListAfter): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (listOrder(rows[mid]!, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first event with seq > after (events are sorted by seq). */
function firstEventAfter(events: StoredEvent[], after: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
