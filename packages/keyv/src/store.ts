import {
  type AgentStateEntry,
  InvalidArgumentError,
  type SessionRecord,
  type SessionStore,
  StoreError,
} from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  assertKnownOptions,
  type ClaimDueQuery,
  type ClaimLapsedQuery,
  type EventEntry,
  type ListQuery,
  nonNegativeNumber,
  positiveNumber,
  type ReadEventsQuery,
  type SessionLiveness,
  type StoreCapabilities,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  type TaskStore,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import type { Keyv } from 'keyv';
import { KeyvAgentState } from './agent-state';
import { BucketIndex } from './buckets';
import { KeyvContext, type Op } from './connection';
import { KeyvEventLog } from './event-log';
import { keySpace } from './keys';
import { KeyvRecords } from './records';
import { KeyvTasks } from './tasks';

/** Every key this store writes starts with this (inside the Keyv's own namespace). */
export const DEFAULT_KEY_PREFIX = 'mcp-sessions';
/** Width of the time buckets of the due, creation and expiry indexes (sessions' and tasks'). */
export const DEFAULT_BUCKET_MS = 60_000;
/** Values each index bucket is split into. */
export const DEFAULT_INDEX_SHARDS = 16;
/** Keys longer than this are replaced by a hash: @keyv/postgres keys are VARCHAR(255). */
export const DEFAULT_MAX_KEY_LENGTH = 200;
/** A Keyv call that takes longer fails its operation with `StoreUnavailableError`. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
/** Native TTL of an agent-state entry: its lifetime plus this, so the backend never drops it early. */
export const DEFAULT_NATIVE_TTL_SLACK_MS = 60_000;

/** Version of the key layout, kept at `<prefix>:layout` with the index geometry. 3: tasks. */
const LAYOUT = 3;

export interface KeyvSessionStoreOptions {
  /** Prefix of every key the store writes. Default `mcp-sessions`. One store instance per prefix. */
  prefix?: string;
  /**
   * Whether an acknowledged write survives a crash: true only if the Keyv backend is durable as
   * you run it (@keyv/sqlite on a file, @keyv/postgres, Redis with AOF). Default false, since the
   * bridge cannot see how the backend is configured; a Keyv over a `Map` can never claim it.
   */
  durable?: boolean;
  /** Default 60 s. Smaller buckets: smaller index values, more of them to read for a sweep. Fixed per prefix. */
  bucketMs?: number;
  /** Default 16. Fixed per prefix. */
  indexShards?: number;
  /** Default 200. Longer keys (long session ids, agent ids, state keys) are hashed. */
  maxKeyLength?: number;
  /** Per Keyv call. Default 10 s; 0 waits forever. Configure the backend client's own timeouts as well. */
  operationTimeoutMs?: number;
  /** Give agent-state entries with an expiry a Keyv TTL (lifetime + `nativeTtlSlackMs`). Default true. */
  nativeTtl?: boolean;
  /** Default 60 s. */
  nativeTtlSlackMs?: number;
  /** Default `keyv`. */
  name?: string;
}

/** Every key `KeyvSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'prefix',
  'durable',
  'bucketMs',
  'indexShards',
  'maxKeyLength',
  'operationTimeoutMs',
  'nativeTtl',
  'nativeTtlSlackMs',
  'name',
];

/**
 * A `SessionStore` and `TaskStore` over any Keyv instance (@keyv/sqlite, @keyv/redis,
 * @keyv/postgres, a Map...). A record is two values: its identity, written once by `insert`, and
 * its small liveness, all that compare-and-set and heartbeats rewrite (a task likewise: identity
 * and state). Keyv has no compare-and-set and no secondary index, so this store serialises every
 * read-modify-write per session id (and per task id) inside this process and keeps its due,
 * creation and state-expiry indexes, and the tasks' lease, expiry and creation indexes, as Keyv
 * entries of its own (time buckets: a sweep reads only the buckets up to `now`). Correct for ONE
 * process: `atomic` and `crossProcess` are false.
 *
 * The Keyv must be created with `throwOnErrors: true` (and `emitErrors` left on): otherwise Keyv
 * turns a failing backend into `undefined`. Errors adapters only emit (as @keyv/redis does) fail
 * the operation that was waiting on the backend.
 *
 * @example
 * ```ts
 * import KeyvSqlite from '@keyv/sqlite';
 * import Keyv from 'keyv';
 * const keyv = new Keyv(new KeyvSqlite('sqlite://sessions.db'), { throwOnErrors: true });
 * const store = new KeyvSessionStore(keyv, { durable: true });
 * const manager = new SessionManager({ store });
 * ```
 */
export class KeyvSessionStore implements SessionStore, TaskStore {
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  private readonly prefix: string;
  private readonly ctx: KeyvContext;
  /** The layout check of the first operation, shared by the others (cleared when it fails). */
  private layoutChecked: Promise<void> | undefined;
  private readonly records: KeyvRecords;
  private readonly agentState: KeyvAgentState;
  private readonly eventLog: KeyvEventLog;
  private readonly tasks: KeyvTasks;

  constructor(keyv: Keyv, options: KeyvSessionStoreOptions = {}) {
    assertKnownOptions(options, OPTION_KEYS, 'KeyvSessionStore');
    const refuse = (name: string, why: string): never => {
      throw new InvalidArgumentError(name, why);
    };
    // Structural: another copy of keyv in the app is still a Keyv.
    if (typeof (keyv as Partial<Keyv> | null)?.getMany !== 'function') {
      refuse('keyv', 'must be a Keyv instance (new Keyv(adapter, { throwOnErrors: true }))');
    }
    if (keyv.throwOnErrors !== true) {
      refuse(
        'keyv',
        'create it with { throwOnErrors: true }, or Keyv reports a failing backend as undefined',
      );
    }
    if (keyv.opts.emitErrors === false)
      refuse('keyv', 'emitErrors must stay on: some adapters only emit failures');
    const inMemory = keyv.store instanceof Map;
    if (options.durable && inMemory) refuse('durable', 'a Keyv over a Map is not durable');
    this.name = options.name ?? 'keyv';
    this.capabilities = {
      atomic: false,
      durable: options.durable ?? false,
      crossProcess: false,
      tasks: true,
    };
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    if (this.prefix.length === 0) refuse('prefix', 'must not be empty');
    const maxKeyLength = positiveNumber('maxKeyLength', options.maxKeyLength, DEFAULT_MAX_KEY_LENGTH);
    if (maxKeyLength < this.prefix.length + 48)
      refuse('maxKeyLength', 'must leave room for the prefix and a hash');
    const { operationTimeoutMs: timeout, nativeTtlSlackMs: slack } = options;
    const timeoutMs = nonNegativeNumber('operationTimeoutMs', timeout, DEFAULT_OPERATION_TIMEOUT_MS);
    const nativeTtl = options.nativeTtl ?? true;
    const ttlSlackMs = nonNegativeNumber('nativeTtlSlackMs', slack, DEFAULT_NATIVE_TTL_SLACK_MS);
    const store: unknown = keyv.store;
    const batchedReads = inMemory || typeof (store as { getMany?: unknown }).getMany === 'function';
    const keys = keySpace(this.prefix, maxKeyLength);
    const bucketMs = positiveNumber('bucketMs', options.bucketMs, DEFAULT_BUCKET_MS);
    const shards = Math.floor(positiveNumber('indexShards', options.indexShards, DEFAULT_INDEX_SHARDS));
    this.ctx = new KeyvContext({
      keyv,
      keys,
      index: new BucketIndex(keys.index, bucketMs, shards),
      taskIndex: new BucketIndex(keys.index, bucketMs, shards),
      timeoutMs,
      batchedReads,
      nativeTtl,
      ttlSlackMs,
      ready: (op) => this.ready(op),
    });
    this.records = new KeyvRecords(this.ctx);
    this.agentState = new KeyvAgentState(this.ctx);
    this.eventLog = new KeyvEventLog(this.ctx);
    this.tasks = new KeyvTasks(this.ctx);
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

  // --- Tasks ---

  insertTask(task: TaskRecord): Promise<boolean> {
    return this.tasks.insertTask(task);
  }

  getTask(id: string): Promise<TaskRecord | undefined> {
    return this.tasks.getTask(id);
  }

  compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    return this.tasks.compareAndSetTask(id, next, expectedVersion);
  }

  renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    return this.tasks.renewTaskLeases(ids, workerId, leaseUntil);
  }

  claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    return this.tasks.claimLapsedTasks(query);
  }

  deleteExpiredTasks(now: number, limit: number): Promise<number> {
    return this.tasks.deleteExpiredTasks(now, limit);
  }

  listTasks(query: { readonly limit: number; readonly after?: TaskListAfter }): Promise<TaskRecord[]> {
    return this.tasks.listTasks(query);
  }

  /** Waits for running operations and detaches from the Keyv, which stays open: it is the caller's. */
  close(): Promise<void> {
    return this.ctx.close();
  }

  // --- Internal helpers ---

  /** Checks, once per instance, that the prefix holds this layout and index geometry. */
  private ready(op: Op): Promise<void> {
    this.layoutChecked ??= this.checkLayout(op).catch((error: unknown) => {
      this.layoutChecked = undefined;
      throw error;
    });
    return this.layoutChecked;
  }

  private async checkLayout(op: Op): Promise<void> {
    const key = this.ctx.keys.layout;
    const want = JSON.stringify({
      v: LAYOUT,
      bucketMs: this.ctx.index.bucketMs,
      shards: this.ctx.index.shards,
    });
    const found = await this.ctx.getOne(op, key);
    if (found === want) return;
    // Layout 3 only adds the tasks' keys, which start empty: a layout 2 prefix is upgraded in place.
    if (
      found === JSON.stringify({ v: 2, bucketMs: this.ctx.index.bucketMs, shards: this.ctx.index.shards })
    ) {
      await this.ctx.setOne(op, key, want);
      return;
    }
    // Layout 1 (before the record split) had no layout key, and a heartbeat index on every record.
    const layout1 =
      found === undefined && (await this.ctx.getOne(op, this.ctx.keys.layout1Index())) !== undefined;
    const old = layout1 ? '1 (from before contract v2)' : found;
    if (old !== undefined) {
      throw new StoreError(
        `keyv prefix ${JSON.stringify(this.prefix)} holds layout ${old}, this store writes ${want}: ` +
          'bucketMs and indexShards are fixed per prefix; an older layout needs a new prefix (see the README)',
      );
    }
    await this.ctx.setOne(op, key, want);
  }
}
