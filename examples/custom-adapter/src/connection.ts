import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  type AgentStateEntry,
  type JsonValue,
  SessionNotFoundError,
  type SessionRecord,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import { type Change, JOURNAL_ENVELOPE } from './journal';

export interface StoredEvent {
  entry: EventEntry;
  /** `jsonByteLength` of the message as JSON text: the unit of `maxBytes`. */
  size: number;
}

/**
 * What the facets share: the store's data (plain Maps) and the journal file they are made durable
 * by. Each facet reads the Maps and changes them only through `commit`, which writes the journal
 * line first. In your adapter this is the connection or pool, with its prepared statements.
 */
export class JsonFileContext {
  /** Store-owned copies; callers only ever get copies of these. */
  readonly records = new Map<string, SessionRecord>();
  /** sessionId → (agentId, key) as a JSON pair → entry. The pair cannot collide as `a + key` would. */
  readonly state = new Map<string, Map<string, AgentStateEntry>>();
  /** sessionId → events in seq order. */
  readonly events = new Map<string, StoredEvent[]>();
  /**
   * sessionId → the last seq handed out. Kept apart from the events so that trims and
   * `purgeSessionData` never let a seq be reused; only `delete` (the record goes too) drops it.
   */
  readonly lastSeq = new Map<string, number>();
  private closed = false;

  constructor(private readonly filename: string) {}

  /** After `close()` every call fails, as it would on a closed connection. */
  open(): void {
    if (this.closed) throw new StoreUnavailableError(`json-file store ${this.filename} is closed`);
  }

  /** Live means `endedAt === null`: the lifecycle sets it when a session ends, whatever the status. */
  assertLive(sessionId: string): void {
    const record = this.records.get(sessionId);
    if (record === undefined || record.endedAt !== null) throw new SessionNotFoundError(sessionId);
  }

  /**
   * Writes the changes as one journal line, then applies them. `encodeJson` refuses values that
   * cannot round-trip before anything is written; the Maps change only after the append succeeded.
   */
  commit(changes: Change[]): void {
    if (changes.length === 0) return;
    const line = encodeJson(changes as unknown as JsonValue, JOURNAL_ENVELOPE);
    try {
      appendFileSync(this.filename, `${line}\n`);
    } catch (error) {
      throw toStoreError(error, `cannot write ${this.filename}`, () => false);
    }
    this.applyLine(line);
  }

  /** Applies one journal line, decoded afresh so the Maps own objects no caller holds. */
  applyLine(line: string): void {
    const changes = decodeJson(line) as unknown as Change[];
    if (!Array.isArray(changes)) throw new StoreError(`${this.filename}: not a journal line`);
    for (const change of changes) this.apply(change);
  }

  /**
   * Rewrites the journal as the current contents, one change per line, through a temporary file
   * and a rename, so a crash leaves either the old journal or the new one.
   */
  compact(): void {
    const lines: string[] = [];
    // Everything here was checked by `encodeJson` when it was first written.
    const add = (change: Change) => lines.push(`${JSON.stringify([change])}\n`);
    for (const record of this.records.values()) add(['record', record]);
    for (const entries of this.state.values()) for (const e of entries.values()) add(['state', e]);
    for (const log of this.events.values()) for (const e of log) add(['event', e.entry]);
    // The counters last: one survives even when its newest events were trimmed away.
    for (const [sessionId, seq] of this.lastSeq) add(['seq', sessionId, seq]);
    const temporary = `${this.filename}.tmp`;
    writeFileSync(temporary, lines.join(''));
    renameSync(temporary, this.filename);
  }

  /** Every call after this fails (see `open`). */
  close(): void {
    this.closed = true;
  }

  // --- Internal helpers ---

  private apply(change: Change): void {
    switch (change[0]) {
      case 'record':
        this.records.set(change[1].id, change[1]);
        return;
      case 'live': {
        const record = this.records.get(change[1]);
        if (record === undefined) throw new StoreError(`${this.filename}: liveness of unknown session`);
        this.records.set(change[1], { ...record, ...change[2] });
        return;
      }
      case 'delete':
        this.records.delete(change[1]);
        this.lastSeq.delete(change[1]);
        this.state.delete(change[1]);
        this.events.delete(change[1]);
        return;
      case 'purge':
        this.state.delete(change[1]);
        this.events.delete(change[1]);
        return;
      case 'state': {
        const e = change[1];
        const entries = this.state.get(e.sessionId) ?? new Map<string, AgentStateEntry>();
        this.state.set(e.sessionId, entries);
        entries.set(slot(e.agentId, e.key), e);
        return;
      }
      case 'unstate': {
        const [, sessionId, agentId, key] = change;
        const entries = this.state.get(sessionId);
        entries?.delete(slot(agentId, key));
        if (entries?.size === 0) this.state.delete(sessionId);
        return;
      }
      case 'event': {
        const e = change[1];
        const log = this.events.get(e.sessionId) ?? [];
        this.events.set(e.sessionId, log);
        log.push({ entry: e, size: jsonByteLength(encodeJson(e.message)) });
        this.lastSeq.set(e.sessionId, Math.max(this.lastSeq.get(e.sessionId) ?? 0, e.seq));
        return;
      }
      case 'seq':
        this.lastSeq.set(change[1], change[2]);
        return;
      case 'unevents': {
        const [, sessionId, seqs] = change;
        const gone = new Set(seqs);
        const log = this.events.get(sessionId)?.filter((e) => !gone.has(e.entry.seq)) ?? [];
        if (log.length > 0) this.events.set(sessionId, log);
        else this.events.delete(sessionId);
        return;
      }
      default:
        throw new StoreError(`${this.filename}: unknown journal change ${JSON.stringify(change[0])}`);
    }
  }
}

/** An unshared copy of a stored object (already checked by `encodeJson` when it was written). */
export function copy<T extends object>(value: T): T {
  return decodeJson(JSON.stringify(value)) as unknown as T;
}

export function slot(agentId: string, key: string): string {
  return JSON.stringify([agentId, key]);
}
