import {
  type AgentStateEntry,
  InvalidArgumentError,
  type LoggerLike,
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
  type Logger,
  nonNegativeNumber,
  positiveNumber,
  type ReadEventsQuery,
  resolveLogger,
  SESSION_STATUSES,
  type SessionLiveness,
  type StoreCapabilities,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  type TaskStore,
  type TouchPatch,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { RedisAgentState } from './agent-state';
import { Connection, evalScript, integer, optionalText, RedisContext, type RedisTarget } from './connection';
import { RedisEventLog } from './event-log';
import { type KeySpace, keySpace } from './keys';
import { RedisRecords } from './records';
import * as lua from './scripts';
import { RedisTasks } from './tasks';

export const DEFAULT_PREFIX = 'mcps:';
export const DEFAULT_SHARDS = 16;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Native expiry of a state entry is its `expiresAt` plus this, so a caller's clock a little behind the server's never loses an entry. */
export const DEFAULT_NATIVE_EXPIRY_MARGIN_MS = 5 * 60 * 1000;

export interface RedisStoreOptions {
  /** Start of every key name. No `{` or `}` (the store builds the hash tags). Default `mcps:`. */
  prefix?: string;
  /**
   * How many shards the indexes are split into (see the README). Fixed for the life of the data:
   * changing it hides existing sessions. Default 16.
   */
  shards?: number;
  /** Bound on (re)connecting before a call fails with `StoreUnavailableError`. Default 5 s. */
  connectTimeoutMs?: number;
  /** Bound on every command; a call never waits longer per round trip. Default 5 s. */
  commandTimeoutMs?: number;
  /**
   * Declared in `capabilities.durable`. Set it when the server runs `appendonly yes` with
   * `appendfsync always` (an acknowledged write is on disk). Default false: the store cannot
   * check this itself (managed Redis often hides CONFIG).
   */
  durable?: boolean;
  /** Redis drops an expiring state entry natively this long after its `expiresAt`. Default 5 min. */
  nativeExpiryMarginMs?: number;
  /**
   * Receives client connection errors (warn). Default: warnings and errors on stderr
   * (`resolveLogger`); `false` silences it.
   */
  logger?: LoggerLike | false;
}

/** Every key `RedisSessionStoreOptions` knows (unknown keys are refused). */
const OPTION_KEYS = [
  'url',
  'clusterUrls',
  'client',
  'prefix',
  'shards',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'durable',
  'nativeExpiryMarginMs',
  'logger',
];

export type RedisSessionStoreOptions = RedisTarget & RedisStoreOptions;

/** The key layout this code writes, recorded under `<prefix>layout`; older layouts are migrated. */
const LAYOUT = 2;
/** Records one migration script moves. */
const MIGRATE_BATCH = 500;

/**
 * Sessions in Redis or Redis Cluster. Every multi-key step is one Lua script over the keys of one
 * shard, so it is atomic for every client; indexes are sharded so the store runs on a cluster.
 *
 * @example
 * ```ts
 * const store = new RedisSessionStore({ url: 'redis://127.0.0.1:6379', durable: true });
 * const manager = new SessionManager({ store });
 * ```
 */
export class RedisSessionStore implements SessionStore, TaskStore {
  readonly name = 'redis';
  readonly capabilities: StoreCapabilities;
  private readonly connection: Connection;
  private readonly keys: KeySpace;
  private readonly layoutKey: string;
  private readonly shards: number;
  private readonly logger: Logger;
  /** The first call's check that the data under this prefix was written with the same `shards`. */
  private layoutChecked: Promise<void> | undefined;
  private readonly records: RedisRecords;
  private readonly agentState: RedisAgentState;
  private readonly eventLog: RedisEventLog;
  private readonly tasks: RedisTasks;

  constructor(options: RedisSessionStoreOptions) {
    assertKnownOptions(options, OPTION_KEYS, 'RedisSessionStore');
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (/[{}]/.test(prefix)) throw new InvalidArgumentError('prefix', 'must not contain { or }');
    const shards = options.shards ?? DEFAULT_SHARDS;
    if (!Number.isInteger(shards) || shards < 1 || shards > 16_384) {
      throw new InvalidArgumentError('shards', 'must be an integer from 1 to 16384');
    }
    const targets = [options.url, options.clusterUrls, options.client].filter((t) => t !== undefined);
    if (targets.length !== 1 || options.clusterUrls?.length === 0) {
      throw new InvalidArgumentError('options', 'give exactly one of url, clusterUrls (not empty), client');
    }
    if (options.url !== undefined) assertRedisUrl('url', options.url);
    for (const url of options.clusterUrls ?? []) assertRedisUrl('clusterUrls', url);
    this.keys = keySpace(prefix, shards);
    this.shards = shards;
    this.layoutKey = `${prefix}layout`;
    const nativeExpiryMarginMs = nonNegativeNumber(
      'nativeExpiryMarginMs',
      options.nativeExpiryMarginMs,
      DEFAULT_NATIVE_EXPIRY_MARGIN_MS,
    );
    this.capabilities = {
      atomic: true,
      durable: options.durable ?? false,
      crossProcess: true,
      tasks: true,
    };
    this.logger = resolveLogger(options.logger);
    this.connection = new Connection({
      url: options.url,
      clusterUrls: options.clusterUrls,
      client: options.client,
      connectTimeoutMs: positiveNumber(
        'connectTimeoutMs',
        options.connectTimeoutMs,
        DEFAULT_CONNECT_TIMEOUT_MS,
      ),
      commandTimeoutMs: positiveNumber(
        'commandTimeoutMs',
        options.commandTimeoutMs,
        DEFAULT_COMMAND_TIMEOUT_MS,
      ),
      logger: this.logger,
    });
    const context = new RedisContext({
      connection: this.connection,
      keys: this.keys,
      nativeExpiryMarginMs,
      ready: () => this.layoutReady(),
    });
    this.records = new RedisRecords(context);
    this.agentState = new RedisAgentState(context);
    this.eventLog = new RedisEventLog(context);
    this.tasks = new RedisTasks(context);
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

  listTasks(query: { limit: number; after?: TaskListAfter }): Promise<TaskRecord[]> {
    return this.tasks.listTasks(query);
  }

  /** Closes the client the store created; a client passed in stays connected. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  // --- Internal helpers ---

  private layoutReady(): Promise<void> {
    if (!this.layoutChecked) {
      this.layoutChecked = this.checkLayout();
      // A failed check (server down) is tried again by the next call.
      this.layoutChecked.catch(() => {
        this.layoutChecked = undefined;
      });
    }
    return this.layoutChecked;
  }

  /**
   * Records how the prefix's data is laid out (`shards`, layout version), or checks it: a store
   * opened with another `shards` would look for every session in the wrong shard and find
   * nothing, silently. Data of layout 1 is migrated here, before the first call runs.
   */
  private async checkLayout(): Promise<void> {
    const layout = `shards=${this.shards} layout=${LAYOUT}`;
    const found = optionalText(
      await this.connection.command(this.layoutKey, ['SET', this.layoutKey, layout, 'NX', 'GET']),
    );
    if (found === undefined || found === layout) return;
    const prefix = JSON.stringify(this.layoutKey.slice(0, -'layout'.length));
    const parsed = /^shards=(\d+)(?: layout=(\d+))?$/.exec(found);
    if (!parsed) {
      throw new StoreError(`${this.layoutKey} holds ${JSON.stringify(found)}, not a layout this store knows`);
    }
    if (Number(parsed[1]) !== this.shards) {
      throw new StoreError(
        `data under ${prefix} was written with shards=${parsed[1]}, ` +
          `but this store is configured with shards=${this.shards}: give it the same shards option`,
      );
    }
    const version = Number(parsed[2] ?? 1);
    if (version > LAYOUT) {
      throw new StoreError(
        `data under ${prefix} has layout ${version}, newer than this @mcp-sessions/redis knows (${LAYOUT}): upgrade the package`,
      );
    }
    await this.migrateLayout1();
    await this.connection.command(this.layoutKey, ['SET', this.layoutKey, layout]);
  }

  /** Layout 1 → 2 on every shard, batch by batch (see `MIGRATE_LAYOUT_1`). */
  private async migrateLayout1(): Promise<void> {
    const started = Date.now();
    const moved = await Promise.all(
      this.keys.allShards.map(async (shard) => {
        const keys = [this.keys.due(shard), ...SESSION_STATUSES.map((s) => this.keys.layout1Index(shard, s))];
        let total = 0;
        for (;;) {
          const n = integer(
            await evalScript(
              this.connection,
              lua.MIGRATE_LAYOUT_1,
              [this.keys.created(shard), ...keys],
              [String(MIGRATE_BATCH), this.keys.tag(shard)],
            ),
          );
          total += n;
          if (n < MIGRATE_BATCH) return total;
        }
      }),
    );
    this.logger.info('redis session store migrated to layout 2', {
      prefix: this.layoutKey.slice(0, -'layout'.length),
      records: moved.reduce((a, b) => a + b, 0),
      ms: Date.now() - started,
    });
  }
}

/** A URL the client can use: otherwise a typo fails later as a retryable-looking network error. */
function assertRedisUrl(option: string, value: unknown): void {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    // Not the value itself: it may hold a password.
    throw new InvalidArgumentError(option, 'is not a URL (redis://host:6379)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidArgumentError(
      option,
      `has scheme ${JSON.stringify(url.protocol)}; expected redis:// or rediss://`,
    );
  }
  // The client reads the path as the database number.
  if (!/^\/?\d*$/.test(url.pathname)) {
    throw new InvalidArgumentError(option, 'has a path that is not a database number (redis://host:6379/0)');
  }
}
