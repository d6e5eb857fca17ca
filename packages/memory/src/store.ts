import type { AgentStateEntry, SessionRecord, SessionStore } from '@mcp-sessions/core';
import type {
  AgentStateKey,
  AppendEvent,
  ClaimDueQuery,
  ClaimLapsedQuery,
  EventEntry,
  ListQuery,
  ReadEventsQuery,
  SessionLiveness,
  StoreCapabilities,
  TaskListAfter,
  TaskRecord,
  TaskState,
  TaskStore,
  TouchPatch,
  TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { MemoryAgentState } from './agent-state';
import { MemoryContext } from './connection';
import { MemoryEventLog } from './event-log';
import { MemoryRecords } from './records';
import { MemoryTasks } from './tasks';

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
export class MemorySessionStore implements SessionStore, TaskStore {
  readonly name = 'memory';
  readonly capabilities: StoreCapabilities = {
    atomic: true,
    durable: false,
    crossProcess: false,
    tasks: true,
  };

  private readonly context = new MemoryContext();
  private readonly records = new MemoryRecords(this.context);
  private readonly agentState = new MemoryAgentState(this.context);
  private readonly eventLog = new MemoryEventLog(this.context);
  private readonly taskLog = new MemoryTasks(this.context);

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

  /** Idempotent; every later call rejects with `StoreUnavailableError`. */
  // --- Tasks ---

  insertTask(task: TaskRecord): Promise<boolean> {
    return this.taskLog.insertTask(task);
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.taskLog.getTask(id);
  }

  compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    return this.taskLog.compareAndSetTask(id, next, expectedVersion);
  }

  renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    return this.taskLog.renewTaskLeases(ids, workerId, leaseUntil);
  }

  claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    return this.taskLog.claimLapsedTasks(query);
  }

  deleteExpiredTasks(now: number, limit: number): Promise<number> {
    return this.taskLog.deleteExpiredTasks(now, limit);
  }

  listTasks(query: { limit: number; after?: TaskListAfter }): Promise<TaskRecord[]> {
    return this.taskLog.listTasks(query);
  }

  async close(): Promise<void> {
    this.context.close();
  }
}
