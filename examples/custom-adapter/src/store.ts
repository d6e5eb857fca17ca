/**
 * A complete `SessionStore` to copy: plain Maps in memory, made durable by a JSON-lines journal
 * file. Every operation runs synchronously inside its promise (so it is atomic in this process),
 * appends what it changed as one line, and only then resolves; opening the file replays the
 * journal and rewrites it compacted. One process per file: `crossProcess: false`.
 *
 * Adapting it to your database: keep the method contracts (read them in core's `store.ts`), swap
 * each Map operation for a statement, make the multi-step ones (`compareAndSet`, `touch`,
 * `claimDue`, `setState`, `appendEvent`, the cascades) atomic in the backend, and index what this
 * file scans (`dueAt` for `claimDue`, `expiresAt` for `purgeExpiredState`).
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  type AgentStateEntry,
  type JsonValue,
  SessionExistsError,
  SessionNotFoundError,
  type SessionRecord,
  type SessionStore,
  StoreError,
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
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
  toStoreError,
} from '@mcp-sessions/core/adapter';

export interface JsonFileSessionStoreOptions {
  /** The journal file; created if missing. One store (one process) per file. */
  filename: string;
}

/** One line of the journal: the changes of one operation, applied in order on replay. */
type Change =
  | ['record', SessionRecord]
  | ['live', string, SessionLiveness]
  | ['delete', string]
  | ['purge', string]
  | ['state', AgentStateEntry]
  | ['unstate', string, string, string]
  | ['event', EventEntry]
  | ['unevents', string, number[]]
  | ['seq', string, number];

/** Containers around a stored value in a journal line (line, change, entry): see `encodeJson`. */
const JOURNAL_ENVELOPE = 3;

interface StoredEvent {
  entry: EventEntry;
  /** `jsonByteLength` of the message as JSON text: the unit of `maxBytes`. */
  size: number;
}

/**
 * @example
 * const store = new JsonFileSessionStore({ filename: './sessions.jsonl' });
 * const manager = new SessionManager({ store });
 */
export class JsonFileSessionStore implements SessionStore {
  readonly name = 'json-file';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: true, crossProcess: false };

  private readonly filename: string;
  /** Store-owned copies; callers only ever get copies of these. */
  private readonly records = new Map<string, SessionRecord>();
  /** sessionId → (agentId, key) as a JSON pair → entry. The pair cannot collide as `a + key` would. */
  private readonly state = new Map<string, Map<string, AgentStateEntry>>();
  /** sessionId → events in seq order. */
  private readonly events = new Map<string, StoredEvent[]>();
  /**
   * sessionId → the last seq handed out. Kept apart from the events so that trims and
   * `purgeSessionData` never let a seq be reused; only `delete` (the record goes too) drops it.
   */
  private readonly lastSeq = new Map<string, number>();
  private closed = false;

  constructor(options: JsonFileSessionStoreOptions) {
    this.filename = options.filename;
    try {
      if (existsSync(this.filename)) {
        const lines = readFileSync(this.filename, 'utf8').split('\n');
        // Every line is appended with its newline in one write: text after the last newline is
        // an append torn by a crash, of an operation that never resolved. It is dropped.
        lines.pop();
        for (const line of lines) if (line !== '') this.applyLine(line);
      }
      this.compact();
    } catch (error) {
      throw toStoreError(error, `cannot open ${this.filename}`, () => false);
    }
  }

  // --- Session records ---

  async insert(record: SessionRecord): Promise<void> {
    this.open();
    if (this.records.has(record.id)) throw new SessionExistsError(record.id);
    this.commit([['record', record]]);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.open();
    const record = this.records.get(id);
    return record && copy(record);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    this.open();
    if (this.records.get(id)?.version !== expectedVersion) return false;
    // Only the ten liveness fields, by name: the identity part is written once, by insert.
    this.commit([['live', id, livenessOf(next)]]);
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.open();
    const changes: Change[] = [];
    const { now, dueAt } = patch;
    // A repeated id is touched once, as one `UPDATE ... WHERE id IN (...)` would.
    for (const id of new Set(ids)) {
      const record = this.records.get(id);
      if (record?.status !== 'active') continue;
      changes.push([
        'live',
        id,
        { ...livenessOf(record), lastHeartbeatAt: now, dueAt, version: record.version + 1 },
      ]);
    }
    this.commit(changes);
    // Every id as given (repeats included) whose record was touched, in input order: the rule in store.ts.
    const touched = new Set(changes.map((change) => change[1] as string));
    return ids.filter((id) => touched.has(id));
  }

  async delete(id: string): Promise<boolean> {
    this.open();
    if (!this.records.has(id)) return false;
    this.commit([['delete', id]]);
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.open();
    const { after } = query;
    return [...this.records.values()]
      .filter((r) => query.statuses.includes(r.status))
      .filter((r) => after === undefined || compareListOrder(r, after) > 0)
      .sort(compareListOrder)
      .slice(0, query.limit)
      .map(copy);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    this.open();
    const due = [...this.records.values()]
      .filter((r) => r.dueAt <= query.now)
      // Earliest first; equal dueAt by id, so that the order is the same on every backend.
      .sort((a, b) => a.dueAt - b.dueAt || compareNames(a.id, b.id))
      .slice(0, query.limit);
    const dueAt = query.now + query.leaseMs;
    this.commit(due.map((r): Change => ['live', r.id, { ...livenessOf(r), dueAt, version: r.version + 1 }]));
    return due.map((r) => copy(this.records.get(r.id)!));
  }

  async purgeSessionData(id: string): Promise<void> {
    this.open();
    this.commit([['purge', id]]);
  }

  // --- Agent state ---

  async setState(entry: AgentStateEntry): Promise<void> {
    this.open();
    encodeJson(entry.value); // checked as a value of its own: inside an entry, `undefined` would vanish
    this.assertLive(entry.sessionId);
    this.commit([['state', entry]]);
  }

  async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    this.open();
    const entry = this.state.get(key.sessionId)?.get(slot(key.agentId, key.key));
    return entry && !expired(entry, now) ? copy(entry) : undefined;
  }

  async deleteState(key: AgentStateKey): Promise<boolean> {
    this.open();
    if (!this.state.get(key.sessionId)?.has(slot(key.agentId, key.key))) return false;
    this.commit([['unstate', key.sessionId, key.agentId, key.key]]);
    return true;
  }

  async listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    this.open();
    return [...(this.state.get(sessionId)?.values() ?? [])]
      .filter((e) => (agentId === undefined || e.agentId === agentId) && !expired(e, now))
      .sort((a, b) => compareNames(a.agentId, b.agentId) || compareNames(a.key, b.key))
      .map(copy);
  }

  async purgeExpiredState(now: number): Promise<number> {
    this.open();
    const changes: Change[] = [];
    for (const entries of this.state.values()) {
      for (const e of entries.values()) {
        if (expired(e, now)) changes.push(['unstate', e.sessionId, e.agentId, e.key]);
      }
    }
    this.commit(changes);
    return changes.length;
  }

  // --- Event log ---

  async appendEvent(event: AppendEvent): Promise<number> {
    this.open();
    encodeJson(event.message); // as in setState
    this.assertLive(event.sessionId);
    const seq = (this.lastSeq.get(event.sessionId) ?? 0) + 1;
    this.commit([['event', { ...event, seq }]]);
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    this.open();
    const { streamId } = query;
    // The stream filter applies first: `limit` counts the events returned, not the events passed over.
    return (this.events.get(query.sessionId) ?? [])
      .filter(
        (e) => e.entry.seq > query.afterSeq && (streamId === undefined || e.entry.streamId === streamId),
      )
      .slice(0, query.limit ?? Number.POSITIVE_INFINITY)
      .map((e) => copy(e.entry));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    this.open();
    return this.events.get(sessionId)?.find((e) => e.entry.seq === seq)?.entry.streamId;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    this.open();
    const log = this.events.get(query.sessionId) ?? [];
    const { maxEvents, createdBefore, maxBytes } = query;
    const drop = new Set<number>();
    if (maxEvents !== undefined) {
      for (const e of log.slice(0, Math.max(0, log.length - maxEvents))) drop.add(e.entry.seq);
    }
    if (createdBefore !== undefined) {
      for (const e of log) if (e.entry.createdAt < createdBefore) drop.add(e.entry.seq);
    }
    if (maxBytes !== undefined) {
      // Keep the newest events that fit the budget together; the first that does not fit, and
      // every older one, goes (even the newest, when it alone is over the budget).
      let kept = 0;
      let over = false;
      for (let i = log.length - 1; i >= 0; i--) {
        const e = log[i]!;
        over ||= kept + e.size > maxBytes;
        if (over) drop.add(e.entry.seq);
        else kept += e.size;
      }
    }
    if (drop.size > 0) this.commit([['unevents', query.sessionId, [...drop]]]);
    return drop.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // --- Internal helpers ---

  /** After `close()` every call fails, as it would on a closed connection. */
  private open(): void {
    if (this.closed) throw new StoreUnavailableError(`json-file store ${this.filename} is closed`);
  }

  /** Live means `endedAt === null`: the lifecycle sets it when a session ends, whatever the status. */
  private assertLive(sessionId: string): void {
    const record = this.records.get(sessionId);
    if (record === undefined || record.endedAt !== null) throw new SessionNotFoundError(sessionId);
  }

  /**
   * Writes the changes as one journal line, then applies them. `encodeJson` refuses values that
   * cannot round-trip before anything is written; the Maps change only after the append succeeded.
   */
  private commit(changes: Change[]): void {
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
  private applyLine(line: string): void {
    const changes = decodeJson(line) as unknown as Change[];
    if (!Array.isArray(changes)) throw new StoreError(`${this.filename}: not a journal line`);
    for (const change of changes) this.apply(change);
  }

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

  /**
   * Rewrites the journal as the current contents, one change per line, through a temporary file
   * and a rename, so a crash leaves either the old journal or the new one.
   */
  private compact(): void {
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
}

/** An unshared copy of a stored object (already checked by `encodeJson` when it was written). */
function copy<T extends object>(value: T): T {
  return decodeJson(JSON.stringify(value)) as unknown as T;
}

function slot(agentId: string, key: string): string {
  return JSON.stringify([agentId, key]);
}

function expired(entry: AgentStateEntry, now: number): boolean {
  return entry.expiresAt !== null && entry.expiresAt <= now;
}
