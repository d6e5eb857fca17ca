/**
 * A complete `SessionStore` to copy: plain Maps in memory, made durable by a JSON-lines journal
 * file. Every operation runs synchronously inside its promise (so it is atomic in this process),
 * appends what it changed as one line, and only then resolves; opening the file replays the
 * journal and rewrites it compacted. One process per file: `crossProcess: false`.
 *
 * Adapting it to your database: keep the method contracts (read them in core's `store.ts`), swap
 * each Map operation for a statement, make the multi-step ones (`compareAndSet`, `touch`,
 * `claimDue`, `setState`, `appendEvent`, the cascades) atomic in the backend, and index what this
 * example scans (`dueAt` for `claimDue`, `expiresAt` for `purgeExpiredState`).
 *
 * The rooms, as in every adapter of the repository: this class only opens the file and delegates
 * each method to its facet (`records.ts`, `agent-state.ts`, `event-log.ts`), which share one
 * context (`connection.ts`: the Maps and the journal file); `journal.ts` says what a line holds.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AgentStateEntry, SessionRecord, SessionStore } from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  type EventEntry,
  type ListQuery,
  type ReadEventsQuery,
  type SessionLiveness,
  type StoreCapabilities,
  type TouchPatch,
  type TrimEventsQuery,
  toStoreError,
} from '@mcp-sessions/core/adapter';
import { JsonFileAgentState } from './agent-state';
import { JsonFileContext } from './connection';
import { JsonFileEventLog } from './event-log';
import { JsonFileRecords } from './records';

export interface JsonFileSessionStoreOptions {
  /** The journal file; created if missing. One store (one process) per file. */
  filename: string;
}

/**
 * @example
 * const store = new JsonFileSessionStore({ filename: './sessions.jsonl' });
 * const manager = new SessionManager({ store });
 */
export class JsonFileSessionStore implements SessionStore {
  readonly name = 'json-file';
  readonly capabilities: StoreCapabilities = { atomic: true, durable: true, crossProcess: false };

  private readonly ctx: JsonFileContext;
  private readonly records: JsonFileRecords;
  private readonly agentState: JsonFileAgentState;
  private readonly eventLog: JsonFileEventLog;

  constructor(options: JsonFileSessionStoreOptions) {
    this.ctx = new JsonFileContext(options.filename);
    try {
      if (existsSync(options.filename)) {
        const lines = readFileSync(options.filename, 'utf8').split('\n');
        // Every line is appended with its newline in one write: text after the last newline is
        // an append torn by a crash, of an operation that never resolved. It is dropped.
        lines.pop();
        for (const line of lines) if (line !== '') this.ctx.applyLine(line);
      }
      this.ctx.compact();
    } catch (error) {
      throw toStoreError(error, `cannot open ${options.filename}`, () => false);
    }
    this.records = new JsonFileRecords(this.ctx);
    this.agentState = new JsonFileAgentState(this.ctx);
    this.eventLog = new JsonFileEventLog(this.ctx);
  }

  // --- Session records ---

  insert(record: SessionRecord): Promise<void> {
    return this.records.insert(record);
  }

  get(id: string): Promise<SessionRecord | undefined> {
    return this.records.get(id);
  }

  compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    return this.records.compareAndSet(id, next, expectedVersion);
  }

  touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    return this.records.touch(ids, patch);
  }

  delete(id: string): Promise<boolean> {
    return this.records.delete(id);
  }

  list(query: ListQuery): Promise<SessionRecord[]> {
    return this.records.list(query);
  }

  claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return this.records.claimDue(query);
  }

  purgeSessionData(id: string): Promise<void> {
    return this.records.purgeSessionData(id);
  }

  // --- Agent state ---

  setState(entry: AgentStateEntry): Promise<void> {
    return this.agentState.setState(entry);
  }

  getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    return this.agentState.getState(key, now);
  }

  deleteState(key: AgentStateKey): Promise<boolean> {
    return this.agentState.deleteState(key);
  }

  listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]> {
    return this.agentState.listState(sessionId, agentId, now);
  }

  purgeExpiredState(now: number): Promise<number> {
    return this.agentState.purgeExpiredState(now);
  }

  // --- Event log ---

  appendEvent(event: AppendEvent): Promise<number> {
    return this.eventLog.appendEvent(event);
  }

  readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    return this.eventLog.readEvents(query);
  }

  getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    return this.eventLog.getEventStream(sessionId, seq);
  }

  trimEvents(query: TrimEventsQuery): Promise<number> {
    return this.eventLog.trimEvents(query);
  }

  async close(): Promise<void> {
    this.ctx.close();
  }
}
