export { MemorySessionBus, type MemorySessionBusOptions } from './bus';

import {
  type AgentStateEntry,
  type JsonObject,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  compareNames,
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  type ListAfter,
  type ListQuery,
  type ReadEventsQuery,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { MinHeap } from './heap';
import { HotFields } from './hot';

/**
 * A stored record, owned by the store (never handed out), JSON fields kept as text. The fields
 * a heartbeat writes (`version`, `lastHeartbeatAt`, `dueAt`) live in `HotFields` at `index`.
 */
interface Row {
  id: string;
  index: number;
  status: SessionStatus;
  principal: string | null;
  ownerId: string | null;
  createdAt: number;
  disconnectedAt: number | null;
  graceExpiresAt: number | null;
  recoveryAttempts: number;
  recoveredAt: number | null;
  endedAt: number | null;
  workingDirectory: string | null;
  metadata: string | null;
  initializeParams: string | null;
}

/** The indexes a `touch` batch resolved to, remembered with what they were checked against. */
interface ResolvedBatch {
  ids: string[];
  indexes: Int32Array;
  generations: Uint32Array;
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
  /** `jsonByteLength(json)`, for the byte budget of `trimEvents`. */
  size: number;
  createdAt: number;
}

interface SessionData {
  /** agentId + NUL + key → entry */
  state: Map<string, StoredState>;
  events: StoredEvent[];
  /** The sum of the stored events' sizes. */
  eventBytes: number;
  lastSeq: number;
}

/**
 * The records whose `dueAt` is one instant, as a list threaded through `HotFields.prev/next`:
 * a heartbeat moves a record between two lists with a few integer writes, allocating nothing.
 */
interface DueBucket {
  /** Index of the first record, -1 when empty. */
  head: number;
  size: number;
}

interface ExpiryItem {
  at: number;
  sessionId: string;
  slot: string;
}

/** Superseded heap entries tolerated before a rebuild, beyond twice the live ones. */
const HEAP_SLACK = 1024;
/** `touch` batches at least this long have their indexes remembered (see `resolved`). */
const REMEMBER_BATCH = 64;

/**
 * The reference store: one process, no persistence. Every operation runs synchronously inside
 * its promise, so each is atomic within the process. Values are copied in and out (as JSON
 * text), so callers can never mutate what is stored. Due records are indexed by `dueAt` in
 * lists (a heartbeat moves a record between two lists in O(1), with no allocation), expiring
 * state in a heap: neither is found by a scan.
 */
export class MemorySessionStore implements SessionStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: false, crossProcess: false };

  private readonly rows = new Map<string, Row>();
  private readonly hot = new HotFields();
  /** index → row, for walking the due lists. */
  private readonly byIndex: (Row | undefined)[] = [];
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
   * The indexes a batch resolved to, by batch array. The manager sends the same arrays every
   * tick while its sessions do not change, so a tick skips the id lookups; each remembered index
   * is checked (same id at that position, index not freed since) before use, so a reused or
   * edited array is still right.
   */
  private readonly resolved = new WeakMap<readonly string[], ResolvedBatch>();
  /** Rows in `list` order, rebuilt only after a write changed the order. */
  private sorted: Row[] | undefined;
  private closed = false;

  async insert(record: SessionRecord): Promise<void> {
    this.assertOpen();
    if (this.rows.has(record.id)) throw new SessionExistsError(record.id);
    const row = toRow(record, -1); // validates the JSON fields before anything is stored
    row.index = this.hot.allocate();
    this.rows.set(row.id, row);
    this.byIndex[row.index] = row;
    this.writeHot(row, record);
    this.link(row.index, this.bucket(record.dueAt));
    this.sorted = undefined;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.assertOpen();
    const row = this.rows.get(id);
    return row && this.toRecord(row);
  }

  async compareAndSet(next: SessionRecord, expectedVersion: number): Promise<boolean> {
    this.assertOpen();
    const current = this.rows.get(next.id);
    if (!current || this.hot.version[current.index] !== expectedVersion) return false;
    const row = toRow(next, current.index); // validates the JSON fields before anything changes
    const i = current.index;
    if (this.hot.dueAt[i] !== next.dueAt) {
      this.unlink(i, this.due.get(this.hot.dueAt[i]!)!);
      this.link(i, this.bucket(next.dueAt));
    }
    Object.assign(current, row);
    this.writeHot(current, next);
    this.sorted = undefined;
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.assertOpen();
    const hot = this.hot;
    // Built only once a record is skipped: the usual batch is touched whole and copied at once.
    let touched: string[] | undefined;
    // A batch usually moves from one bucket to one other: look each up once, not per record.
    const into = this.bucket(patch.dueAt);
    let fromAt = Number.NaN;
    let from: DueBucket | undefined;
    const known = this.remembered(ids);
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      let i: number;
      if (
        known !== undefined &&
        known.ids[k] === id &&
        hot.generation[known.indexes[k]!] === known.generations[k]
      ) {
        i = known.indexes[k]!;
      } else {
        i = this.rows.get(id)?.index ?? -1;
        if (known !== undefined && i >= 0) {
          known.ids[k] = id;
          known.indexes[k] = i;
          known.generations[k] = hot.generation[i]!;
        }
      }
      if (i < 0 || hot.active[i] !== 1) {
        touched ??= ids.slice(0, k);
        continue;
      }
      hot.lastHeartbeatAt[i] = patch.now;
      hot.version[i]!++;
      const dueAt = hot.dueAt[i]!;
      if (dueAt !== patch.dueAt) {
        if (dueAt !== fromAt) {
          fromAt = dueAt;
          from = this.due.get(fromAt)!;
        }
        this.unlink(i, from!);
        this.link(i, into);
        hot.dueAt[i] = patch.dueAt;
      }
      touched?.push(id);
    }
    if (into.size === 0) this.due.delete(patch.dueAt);
    touched ??= ids.slice();
    if (touched.length > 0) this.sorted = undefined;
    return touched;
  }

  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    const row = this.rows.get(id);
    if (!row) return false;
    this.dropData(id);
    this.unlink(row.index, this.due.get(this.hot.dueAt[row.index]!)!);
    this.rows.delete(id);
    this.byIndex[row.index] = undefined;
    this.hot.release(row.index);
    this.sorted = undefined;
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.assertOpen();
    // lastHeartbeatAt descending, then id descending (code-unit order): negative when a comes first.
    const order = (a: Row, b: ListAfter) =>
      b.lastHeartbeatAt - this.hot.lastHeartbeatAt[a.index]! || compareNames(b.id, a.id);
    this.sorted ??= [...this.rows.values()].sort((a, b) => order(a, this.position(b)));
    const all = this.sorted;
    let start = 0;
    if (query.after) {
      // First row strictly after the keyset position.
      let hi = all.length;
      while (start < hi) {
        const mid = (start + hi) >>> 1;
        if (order(all[mid]!, query.after) <= 0) start = mid + 1;
        else hi = mid;
      }
    }
    const page: SessionRecord[] = [];
    for (let i = start; i < all.length && page.length < query.limit; i++) {
      const row = all[i]!;
      if (query.statuses.includes(row.status)) page.push(this.toRecord(row));
    }
    return page;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    this.assertOpen();
    const hot = this.hot;
    const claimed: number[] = [];
    const popped: number[] = [];
    while (claimed.length < query.limit) {
      const at = this.dueTimes.peek();
      if (at === undefined || at > query.now) break;
      const bucket = this.due.get(at);
      if (bucket === undefined || popped[popped.length - 1] === at) {
        this.dueTimes.pop(); // a dropped bucket, or a time indexed twice
        continue;
      }
      let i = bucket.head;
      for (; i >= 0 && claimed.length < query.limit; i = hot.next[i]!) claimed.push(i);
      if (i >= 0) break; // limit reached inside this bucket: the rest stays due
      popped.push(this.dueTimes.pop()!);
    }
    const leasedUntil = query.now + query.leaseMs;
    const out: SessionRecord[] = [];
    for (const i of claimed) {
      if (hot.dueAt[i] !== leasedUntil) {
        this.unlink(i, this.due.get(hot.dueAt[i]!)!);
        this.link(i, this.bucket(leasedUntil));
        hot.dueAt[i] = leasedUntil;
      }
      hot.version[i]!++;
      out.push(this.toRecord(this.byIndex[i]!));
    }
    // A bucket whose time was popped but that still has records (a zero lease) stays indexed.
    for (const at of popped) if (this.due.has(at)) this.dueTimes.push(at);
    return out;
  }

  async purgeSessionData(id: string): Promise<void> {
    this.assertOpen();
    const lastSeq = this.data.get(id)?.lastSeq;
    this.dropData(id);
    // The event counter lives with the record: kept, so a seq is never handed out twice.
    if (lastSeq !== undefined && this.rows.has(id)) {
      this.data.set(id, { state: new Map(), events: [], eventBytes: 0, lastSeq });
    }
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    this.assertOpen();
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
    this.assertOpen();
    const stored = this.data.get(key.sessionId)?.state.get(slot(key));
    return stored && isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    this.assertOpen();
    const state = this.data.get(key.sessionId)?.state;
    const k = slot(key);
    const stored = state?.get(k);
    if (!stored) return false;
    if (stored.expiresAt !== null) this.expiringEntries--;
    return state!.delete(k);
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    this.assertOpen();
    const state = this.data.get(sessionId)?.state;
    if (!state) return [];
    return [...state.values()]
      .filter((s) => (agentId === undefined || s.agentId === agentId) && isFresh(s, now))
      .sort((a, b) => compareNames(a.agentId, b.agentId) || compareNames(a.key, b.key))
      .map((s) => toEntry(sessionId, s));
  }

  async purgeExpiredState(now: number): Promise<number> {
    this.assertOpen();
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
    this.assertOpen();
    const json = encodeJson(event.message);
    const data = this.liveData(event.sessionId);
    const seq = ++data.lastSeq;
    const size = jsonByteLength(json);
    data.events.push({ streamId: event.streamId, seq, json, size, createdAt: event.createdAt });
    data.eventBytes += size;
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    this.assertOpen();
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
    this.assertOpen();
    const events = this.data.get(sessionId)?.events ?? [];
    const e = events[firstEventAfter(events, seq - 1)];
    return e?.seq === seq ? e.streamId : undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    this.assertOpen();
    const data = this.data.get(query.sessionId);
    if (!data) return 0;
    const before = data.events.length;
    let drop = 0;
    if (query.createdBefore !== undefined) {
      while (drop < data.events.length && data.events[drop]!.createdAt < query.createdBefore) drop++;
    }
    if (query.maxEvents !== undefined) drop = Math.max(drop, data.events.length - query.maxEvents);
    let bytes = data.eventBytes;
    for (let i = 0; i < drop; i++) bytes -= data.events[i]!.size;
    if (query.maxBytes !== undefined) {
      while (bytes > query.maxBytes && drop < data.events.length) bytes -= data.events[drop++]!.size;
    }
    data.events.splice(0, drop);
    data.eventBytes = bytes;
    return before - data.events.length;
  }

  /** Later calls reject with `StoreUnavailableError`, as every store's do. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }

  // --- Internal helpers ---

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('memory store is closed');
  }

  /** The remembered indexes of a batch (created empty on first sight), or none for a short batch. */
  private remembered(ids: readonly string[]): ResolvedBatch | undefined {
    if (ids.length < REMEMBER_BATCH) return undefined;
    let known = this.resolved.get(ids);
    if (known === undefined || known.ids.length !== ids.length) {
      known = {
        ids: new Array<string>(ids.length).fill(''),
        indexes: new Int32Array(ids.length),
        generations: new Uint32Array(ids.length),
      };
      this.resolved.set(ids, known);
    }
    return known;
  }

  /** The bucket for `at`, created (and its time indexed) if needed. */
  private bucket(at: number): DueBucket {
    let bucket = this.due.get(at);
    if (bucket === undefined) {
      bucket = { head: -1, size: 0 };
      this.due.set(at, bucket);
      this.dueTimes.push(at);
      // Times of dropped buckets are skipped lazily; rebuild once they outnumber the live ones.
      if (this.dueTimes.size > 2 * this.due.size + HEAP_SLACK) this.dueTimes.rebuild([...this.due.keys()]);
    }
    return bucket;
  }

  /** Puts record `i` at the head of `bucket`. The caller sets its `dueAt` to the bucket's time. */
  private link(i: number, bucket: DueBucket): void {
    const { prev, next } = this.hot;
    prev[i] = -1;
    next[i] = bucket.head;
    if (bucket.head >= 0) prev[bucket.head] = i;
    bucket.head = i;
    bucket.size++;
  }

  /** Takes record `i` out of `bucket` (the one of its `dueAt`), dropping the bucket once empty. */
  private unlink(i: number, bucket: DueBucket): void {
    const { prev, next } = this.hot;
    const p = prev[i]!;
    const n = next[i]!;
    if (p >= 0) next[p] = n;
    else bucket.head = n;
    if (n >= 0) prev[n] = p;
    prev[i] = next[i] = -1;
    if (--bucket.size === 0) this.due.delete(this.hot.dueAt[i]!);
  }

  private writeHot(row: Row, record: SessionRecord): void {
    const i = row.index;
    this.hot.version[i] = record.version;
    this.hot.lastHeartbeatAt[i] = record.lastHeartbeatAt;
    this.hot.dueAt[i] = record.dueAt;
    this.hot.active[i] = record.status === 'active' ? 1 : 0;
  }

  private position(row: Row): ListAfter {
    return { lastHeartbeatAt: this.hot.lastHeartbeatAt[row.index]!, id: row.id };
  }

  /** A fresh record the caller may keep or mutate. */
  private toRecord(r: Row): SessionRecord {
    const i = r.index;
    return {
      id: r.id,
      status: r.status,
      version: this.hot.version[i]!,
      principal: r.principal,
      ownerId: r.ownerId,
      createdAt: r.createdAt,
      lastHeartbeatAt: this.hot.lastHeartbeatAt[i]!,
      disconnectedAt: r.disconnectedAt,
      graceExpiresAt: r.graceExpiresAt,
      recoveryAttempts: r.recoveryAttempts,
      recoveredAt: r.recoveredAt,
      endedAt: r.endedAt,
      dueAt: this.hot.dueAt[i]!,
      workingDirectory: r.workingDirectory,
      metadata: r.metadata === null ? null : (decodeJson(r.metadata) as JsonObject),
      initializeParams: r.initializeParams === null ? null : (decodeJson(r.initializeParams) as JsonObject),
    };
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
      data = { state: new Map(), events: [], eventBytes: 0, lastSeq: 0 };
      this.data.set(sessionId, data);
    }
    return data;
  }
}

/** The cold fields of a record; validates and serialises its JSON (InvalidValueError before any write). */
function toRow(r: SessionRecord, index: number): Row {
  return {
    id: r.id,
    index,
    status: r.status,
    principal: r.principal,
    ownerId: r.ownerId,
    createdAt: r.createdAt,
    disconnectedAt: r.disconnectedAt,
    graceExpiresAt: r.graceExpiresAt,
    recoveryAttempts: r.recoveryAttempts,
    recoveredAt: r.recoveredAt,
    endedAt: r.endedAt,
    workingDirectory: r.workingDirectory,
    metadata: r.metadata === null ? null : encodeJson(r.metadata),
    initializeParams: r.initializeParams === null ? null : encodeJson(r.initializeParams),
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
