/**
 * The memory store's context: its data, shared by the facets. One map of sessions (each holding
 * its record, agent state and event log) and the two time indexes, plus the closed flag.
 */
import { type AgentStateEntry, SessionNotFoundError, StoreUnavailableError } from '@mcp-sessions/core';
import type { EventEntry, SessionIdentity, SessionLiveness } from '@mcp-sessions/core/adapter';
import { TimeIndex } from './time-index';

/** A session as stored: the record in its two parts, its agent state and its event log. */
export interface Session {
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

export type Live = { -readonly [K in keyof SessionLiveness]: SessionLiveness[K] } & {
  /** Set by `delete`: a `touch` batch that remembered this object looks the id up again. */
  deleted: boolean;
};

/** JSON fields as text: parsed afresh on every read, so no caller holds what is stored. */
export type StoredIdentity = Omit<SessionIdentity, 'metadata' | 'initializeParams'> & {
  readonly metadata: string | null;
  readonly initializeParams: string | null;
};
export type StoredState = Omit<AgentStateEntry, 'sessionId' | 'value'> & { readonly json: string };
/** `size`: `jsonByteLength(json)`, the unit of `trimEvents`' byte budget. */
export type StoredEvent = Omit<EventEntry, 'sessionId' | 'message'> & {
  readonly json: string;
  readonly size: number;
};

/** What every facet is constructed with: the one copy of the store's data. */
export class MemoryContext {
  readonly sessions = new Map<string, Session>();
  /** Session ids by `dueAt`. */
  readonly due = new TimeIndex<string>((id, at) => this.sessions.get(id)?.live.dueAt === at);
  /** `stateKey(sessionId, slot)` of expiring entries, by `expiresAt`. */
  readonly expiry = new TimeIndex<string>((key, at) => this.stateAt(key)?.expiresAt === at);
  private closed = false;

  assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('memory store is closed');
  }

  /** Live means `endedAt === null`; checked in the same synchronous step as the write. */
  liveSession(id: string): Session {
    const session = this.sessions.get(id);
    if (session === undefined || session.live.endedAt !== null) throw new SessionNotFoundError(id);
    return session;
  }

  /** Drops the session's state and events; its record and event counter stay. */
  purgeSession(session: Session): void {
    for (const s of session.state.values()) if (s.expiresAt !== null) this.expiry.remove(s.expiresAt);
    session.state.clear();
    session.events = [];
    session.eventBytes = 0;
  }

  /** Idempotent; every later call rejects with `StoreUnavailableError`. */
  close(): void {
    this.closed = true;
  }

  // --- Internal helpers ---

  private stateAt(key: string): StoredState | undefined {
    const [sessionId, slot] = splitStateKey(key);
    return this.sessions.get(sessionId)?.state.get(slot);
  }
}

/** A state entry's key in the expiry index; session ids are visible ASCII, so the first NUL splits. */
export function stateKey(sessionId: string, slot: string): string {
  return `${sessionId}\u0000${slot}`;
}

export function splitStateKey(key: string): [sessionId: string, slot: string] {
  const nul = key.indexOf('\u0000');
  return [key.slice(0, nul), key.slice(nul + 1)];
}
