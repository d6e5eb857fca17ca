export { MemorySessionBus, type MemorySessionBusOptions } from './bus';

import {
  type AgentStateEntry,
  type JsonObject,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  compareListOrder,
  compareNames,
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  type ListQuery,
  livenessOf,
  type ReadEventsQuery,
  type SessionIdentity,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { TimeIndex } from './time-index';

/** A session as stored: the record in its two parts, its agent state and its event log. */
interface Session {
  /** Written by `insert`, never again; `metadata` and `initializeParams` as JSON text. */
  readonly identity: StoredIdentity;
  /** A private copy, one object for the session's life: every write goes into it. */
  readonly live: Live;
  /** agentId + NUL + key → entry (names never contain NUL, so two pairs never collide). */
  readonly state: Map<string, StoredState>;
  /** In `seq` order. */
  events: StoredEvent[];
  /** The sum of the events' sizes, for the byte budget of `trimEvents`. */
  eventBytes: number;
  /** The event counter: lives with the record, so trims and purges never make a seq come back. */
  lastSeq: number;
}

type Live = { -readonly [K in keyof SessionLiveness]: SessionLiveness[K] } & {
  /** Set by `delete`: a `touch` batch that remembered this object looks the id up again. */
  deleted: boolean;
};

/** JSON fields as text: parsed afresh on every read, so no caller holds what is stored. */
type StoredIdentity = Omit<SessionIdentity, 'metadata' | 'initializeParams'> & {
  readonly metadata: string | null;
  readonly initializeParams: string | null;
};
type StoredState = Omit<AgentStateEntry, 'sessionId' | 'value'> & { readonly json: string };
/** `size`: `jsonByteLength(json)`, the unit of `trimEvents`' byte budget. */
type StoredEvent = Omit<EventEntry, 'sessionId' | 'message'> & {
  readonly json: string;
  readonly size: number;
};

/**
 * The reference store: one process, no persistence, each method a direct reading of its rule in
 * core's `store.ts`. Every operation runs synchronously inside its promise, so each is atomic
 * within the process. Values are kept as JSON text and parsed on every read, so a caller never
 * holds a reference to what is stored. `claimDue` and `purgeExpiredState` read time indexes
 * rather than scanning; `list` pages a sorted view rebuilt after inserts and deletes.
 *
 * @example
 * ```ts
 * const manager = new SessionManager({ store: new MemorySessionStore() });
 * ```
 */
export class MemorySessionStore implements SessionStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: false, crossProcess: false };

  private readonly sessions = new Map<string, Session>();
  /** Session ids by `dueAt`. */
  private readonly due = new TimeIndex<string>((id, at) => this.sessions.get(id)?.live.dueAt === at);
  /** `stateKey(sessionId, slot)` of expiring entries, by `expiresAt`. */
  private readonly expiry = new TimeIndex<string>((key, at) => this.stateAt(key)?.expiresAt === at);
  /** Sessions in `list` order; nothing but `insert` and `delete` changes it. */
  private listed: Session[] | undefined;
  /**
   * What each frozen `touch` batch resolved to, by batch array (the contract's stable batches): a
   * tick of 100k sessions then skips 100k id lookups. An entry is used only while its session is
   * not deleted.
   */
  private readonly batches = new WeakMap<readonly string[], (Live | undefined)[]>();
  private closed = false;

  async insert(record: SessionRecord): Promise<void> {
    this.assertOpen();
    if (this.sessions.has(record.id)) throw new SessionExistsError(record.id);
    const identity: StoredIdentity = {
      id: record.id,
      principal: record.principal,
      createdAt: record.createdAt,
      workingDirectory: record.workingDirectory,
      // Encoded (and so validated) before anything is stored.
      metadata: record.metadata === null ? null : encodeJson(record.metadata),
      initializeParams: record.initializeParams === null ? null : encodeJson(record.initializeParams),
    };
    // One literal, not a spread of livenessOf: V8 kept spread-built objects slow (a 100k tick took 160 ms, not 27).
    const live: Live = {
      status: record.status,
      version: record.version,
      ownerId: record.ownerId,
      lastHeartbeatAt: record.lastHeartbeatAt,
      disconnectedAt: record.disconnectedAt,
      graceExpiresAt: record.graceExpiresAt,
      recoveryAttempts: record.recoveryAttempts,
      recoveredAt: record.recoveredAt,
      endedAt: record.endedAt,
      dueAt: record.dueAt,
      deleted: false,
    };
    this.sessions.set(record.id, { identity, live, state: new Map(), events: [], eventBytes: 0, lastSeq: 0 });
    this.due.add(record.id, live.dueAt);
    this.listed = undefined;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.assertOpen();
    const session = this.sessions.get(id);
    return session && toRecord(session);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    this.assertOpen();
    const session = this.sessions.get(id);
    if (session === undefined || session.live.version !== expectedVersion) return false;
    const previousDueAt = session.live.dueAt;
    Object.assign(session.live, livenessOf(next)); // the ten liveness fields by name, whatever else `next` carries
    this.moveDue(id, previousDueAt, next.dueAt);
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.assertOpen();
    const touched: string[] = [];
    // Only a frozen array can be remembered: its ids cannot change under the entry.
    const resolved = Object.isFrozen(ids) ? this.rememberedBatch(ids) : undefined;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      let live = resolved?.[i];
      if (live === undefined || live.deleted) {
        live = this.sessions.get(id)?.live;
        if (resolved !== undefined) resolved[i] = live;
      }
      if (live?.status !== 'active') continue;
      const previousDueAt = live.dueAt;
      live.lastHeartbeatAt = patch.now;
      live.dueAt = patch.dueAt;
      live.version++;
      this.moveDue(id, previousDueAt, patch.dueAt);
      touched.push(id);
    }
    return touched;
  }

  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    const session = this.sessions.get(id);
    if (session === undefined) return false;
    this.purgeSession(session);
    this.due.remove(session.live.dueAt);
    this.sessions.delete(id);
    session.live.deleted = true;
    this.listed = undefined;
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.assertOpen();
    this.listed ??= [...this.sessions.values()].sort((a, b) => compareListOrder(a.identity, b.identity));
    const listed = this.listed;
    let start = 0;
    if (query.after !== undefined) {
      // Binary search for the first session strictly after the keyset position.
      let end = listed.length;
      while (start < end) {
        const mid = (start + end) >>> 1;
        if (compareListOrder(listed[mid]!.identity, query.after) <= 0) start = mid + 1;
        else end = mid;
      }
    }
    const page: SessionRecord[] = [];
    for (let i = start; i < listed.length && page.length < query.limit; i++) {
      if (query.statuses.includes(listed[i]!.live.status)) page.push(toRecord(listed[i]!));
    }
    return page;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    this.assertOpen();
    const leasedUntil = query.now + query.leaseMs;
    return this.due.take(query.now, query.limit).map((id) => {
      const session = this.sessions.get(id)!;
      const previousDueAt = session.live.dueAt;
      session.live.dueAt = leasedUntil;
      session.live.version++;
      this.moveDue(id, previousDueAt, leasedUntil);
      return toRecord(session);
    });
  }

  async purgeSessionData(id: string): Promise<void> {
    this.assertOpen();
    const session = this.sessions.get(id);
    if (session !== undefined) this.purgeSession(session);
  }

  async setState(entry: AgentStateEntry): Promise<void> {
    this.assertOpen();
    const json = encodeJson(entry.value);
    const session = this.liveSession(entry.sessionId);
    const slot = slotOf(entry);
    const previous = session.state.get(slot);
    if (previous?.expiresAt != null) this.expiry.remove(previous.expiresAt);
    const { agentId, key, updatedAt, expiresAt } = entry;
    session.state.set(slot, { agentId, key, json, updatedAt, expiresAt });
    if (expiresAt !== null) this.expiry.add(stateKey(entry.sessionId, slot), expiresAt);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    this.assertOpen();
    const stored = this.sessions.get(key.sessionId)?.state.get(slotOf(key));
    return stored && isFresh(stored, now) ? toEntry(key.sessionId, stored) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    this.assertOpen();
    const state = this.sessions.get(key.sessionId)?.state;
    const stored = state?.get(slotOf(key));
    if (stored === undefined) return false;
    if (stored.expiresAt !== null) this.expiry.remove(stored.expiresAt);
    return state!.delete(slotOf(key));
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    this.assertOpen();
    const state = this.sessions.get(sessionId)?.state ?? new Map<string, StoredState>();
    return [...state.values()]
      .filter((s) => (agentId === undefined || s.agentId === agentId) && isFresh(s, now))
      .sort((a, b) => compareNames(a.agentId, b.agentId) || compareNames(a.key, b.key))
      .map((s) => toEntry(sessionId, s));
  }

  async purgeExpiredState(now: number): Promise<number> {
    this.assertOpen();
    const expired = this.expiry.take(now, Number.POSITIVE_INFINITY);
    for (const key of expired) {
      const [sessionId, slot] = splitStateKey(key);
      const state = this.sessions.get(sessionId)!.state;
      this.expiry.remove(state.get(slot)!.expiresAt!);
      state.delete(slot);
    }
    return expired.length;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    this.assertOpen();
    const json = encodeJson(event.message);
    const session = this.liveSession(event.sessionId);
    const seq = ++session.lastSeq;
    const size = jsonByteLength(json);
    session.events.push({ streamId: event.streamId, seq, json, size, createdAt: event.createdAt });
    session.eventBytes += size;
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    this.assertOpen();
    const events = this.sessions.get(query.sessionId)?.events ?? [];
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const out: EventEntry[] = [];
    // The stream filter applies first: `limit` counts the events returned.
    for (let i = firstAfter(events, query.afterSeq); i < events.length && out.length < limit; i++) {
      const { streamId, seq, json, createdAt } = events[i]!;
      if (query.streamId !== undefined && streamId !== query.streamId) continue;
      out.push({ sessionId: query.sessionId, streamId, seq, message: decodeJson(json), createdAt });
    }
    return out;
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    this.assertOpen();
    const events = this.sessions.get(sessionId)?.events ?? [];
    const event = events[firstAfter(events, seq - 1)];
    return event?.seq === seq ? event.streamId : undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    this.assertOpen();
    const session = this.sessions.get(query.sessionId);
    if (session === undefined) return 0;
    const { events } = session;
    // Events go oldest first: count how many each bound excludes and drop the most.
    let drop = 0;
    if (query.createdBefore !== undefined) {
      while (drop < events.length && events[drop]!.createdAt < query.createdBefore) drop++;
    }
    if (query.maxEvents !== undefined) drop = Math.max(drop, events.length - query.maxEvents);
    let bytes = session.eventBytes;
    for (let i = 0; i < drop; i++) bytes -= events[i]!.size;
    if (query.maxBytes !== undefined) {
      while (bytes > query.maxBytes && drop < events.length) bytes -= events[drop++]!.size;
    }
    session.events = events.slice(drop);
    session.eventBytes = bytes;
    return drop;
  }

  /** Idempotent; every later call rejects with `StoreUnavailableError`. */
  async close(): Promise<void> {
    this.closed = true;
  }

  // --- Internal helpers ---

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('memory store is closed');
  }

  /** Live means `endedAt === null`; checked in the same synchronous step as the write. */
  private liveSession(id: string): Session {
    const session = this.sessions.get(id);
    if (session === undefined || session.live.endedAt !== null) throw new SessionNotFoundError(id);
    return session;
  }

  /** The live objects a frozen batch resolved to so far (filled by `touch`). */
  private rememberedBatch(ids: readonly string[]): (Live | undefined)[] {
    let resolved = this.batches.get(ids);
    if (resolved === undefined) {
      resolved = new Array<Live | undefined>(ids.length);
      this.batches.set(ids, resolved);
    }
    return resolved;
  }

  private moveDue(id: string, from: number, to: number): void {
    if (from === to) return;
    this.due.remove(from);
    this.due.add(id, to);
  }

  /** Drops the session's state and events; its record and event counter stay. */
  private purgeSession(session: Session): void {
    for (const s of session.state.values()) if (s.expiresAt !== null) this.expiry.remove(s.expiresAt);
    session.state.clear();
    session.events = [];
    session.eventBytes = 0;
  }

  private stateAt(key: string): StoredState | undefined {
    const [sessionId, slot] = splitStateKey(key);
    return this.sessions.get(sessionId)?.state.get(slot);
  }
}

/** A fresh record the caller may keep or mutate. Field by field: spreads here cost ~10x. */
function toRecord({ identity, live }: Session): SessionRecord {
  return {
    id: identity.id,
    principal: identity.principal,
    createdAt: identity.createdAt,
    workingDirectory: identity.workingDirectory,
    metadata: identity.metadata === null ? null : (decodeJson(identity.metadata) as JsonObject),
    initializeParams:
      identity.initializeParams === null ? null : (decodeJson(identity.initializeParams) as JsonObject),
    status: live.status,
    version: live.version,
    ownerId: live.ownerId,
    lastHeartbeatAt: live.lastHeartbeatAt,
    disconnectedAt: live.disconnectedAt,
    graceExpiresAt: live.graceExpiresAt,
    recoveryAttempts: live.recoveryAttempts,
    recoveredAt: live.recoveredAt,
    endedAt: live.endedAt,
    dueAt: live.dueAt,
  };
}

function slotOf(key: { agentId: string; key: string }): string {
  return `${key.agentId}\u0000${key.key}`;
}

/** A state entry's key in the expiry index; session ids are visible ASCII, so the first NUL splits. */
function stateKey(sessionId: string, slot: string): string {
  return `${sessionId}\u0000${slot}`;
}

function splitStateKey(key: string): [sessionId: string, slot: string] {
  const nul = key.indexOf('\u0000');
  return [key.slice(0, nul), key.slice(nul + 1)];
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

/** Index of the first event with `seq > after` (events are in `seq` order). */
function firstAfter(events: readonly StoredEvent[], after: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
