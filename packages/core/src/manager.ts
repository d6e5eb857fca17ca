import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Activity } from './activity';
import {
  ConflictError,
  HandleExpiredError,
  InvalidArgumentError,
  type McpSessionsError,
  type RecoveryRefusal,
  RecoveryRefusedError,
  SessionExistsError,
  SessionNotFoundError,
  SessionNotLiveError,
} from './errors';
import type { AgentState } from './http/agent-state';
import { assertName, assertSessionId, generateSessionId, isValidSessionId, sessionTag } from './ids';
import { encodeJson, type JsonObject, type JsonValue } from './json';
import {
  createHandleRecord,
  createOnceRecord,
  createRecord,
  type HandleRefusal,
  handleDeadline,
  handleRefusal,
  heartbeatPatch,
  type LifecycleEvent,
  type LifecyclePolicy,
  RECORD_KIND_KEY,
  recoveryRefusal,
  sweepAction,
  type TransitionRefusal,
  transition,
} from './lifecycle';
import { type LoggerLike, resolveLogger, stderrLogger } from './logger';
import {
  assertKnownOptions,
  CLEANUP_JITTER,
  type Clock,
  DEFAULT_CLEANUP_BATCH_SIZE,
  DEFAULT_CLEANUP_INTERVAL_MS,
  DEFAULT_GRACE_PERIOD_MS,
  DEFAULT_HANDLE_TTL_MS,
  DEFAULT_HEARTBEAT_BATCH_SIZE,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CAS_RETRIES,
  DEFAULT_MAX_RECOVERY_ATTEMPTS,
  DEFAULT_STALE_AFTER_HEARTBEATS,
  DEFAULT_SWEEP_LEASE_MS,
  DEFAULT_TOMBSTONE_MS,
  type Logger,
  nonNegativeInteger,
  nonNegativeNumber,
  positiveInteger,
  positiveNumber,
  positiveOrInfinite,
  silentLogger,
  systemClock,
  timerDelay,
} from './options';
import { sharedSecret } from './secrets';
import {
  type AgentStateEntry,
  LIVE_STATUSES,
  type ListAfter,
  livenessOf,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  type TouchPatch,
} from './store';

export interface SessionManagerOptions {
  store: SessionStore;
  /** How long a disconnected session may be recovered. Default 10 minutes. */
  gracePeriodMs?: number;
  /** One timer touches every session this instance holds, this often. Default 30 s. */
  heartbeatIntervalMs?: number;
  /** Default 3. */
  maxRecoveryAttempts?: number;
  /** Sweep of expired sessions and state, jittered ±20%. Default 5 minutes; 0 turns it off. */
  cleanupIntervalMs?: number;
  /** An active session without heartbeat this long is treated as disconnected. Default 3 heartbeats. */
  staleAfterMs?: number;
  /** How long expired and closed records stay as tombstones. Default 1 hour. */
  tombstoneMs?: number;
  /**
   * A session no request has used for this long expires through the lifecycle (404 everywhere,
   * its state and events deleted, the tombstone deleted later). Counted from its last use on the
   * instance that used it last; a session with a request in flight or an open stream is in use.
   * Nothing is written per request: the deadline rides on the write that lets the session go
   * (`handOff`, the idle release). Default 24 hours; `Infinity` keeps unused sessions forever.
   */
  idleTimeoutMs?: number;
  heartbeatBatchSize?: number;
  cleanupBatchSize?: number;
  /** Start the heartbeat and cleanup timers. Default true; tests drive `tick()` by hand instead. */
  timers?: boolean;
  /** Time source for every deadline. Default `Date.now`; tests move a fake one instead of sleeping. */
  clock?: Clock;
  /**
   * Lifecycle events at `info`, lost sessions at `warn`, background failures at `error` (when
   * there is no `error` listener). Default: warnings and errors on stderr. `false` silences it;
   * a background failure with no listener then becomes a process warning, so it is never lost.
   * Console-style and pino/bunyan-style loggers both fit.
   */
  logger?: LoggerLike | false;
  /** Names this process in records (`ownerId`) and logs. Default `hostname:pid:random`. */
  instanceId?: string;
}

export interface InitializeOptions {
  principal?: string | null;
  workingDirectory?: string | null;
  metadata?: JsonObject | null;
  /** The client's `initialize` params, kept so another instance can rebuild the session. */
  initializeParams?: JsonObject | null;
}

export interface PrincipalOptions {
  /** The authenticated subject making the request; must equal the session's. */
  principal?: string | null;
}

export type RecoveryCheck = { ok: true } | { ok: false; reason: RecoveryRefusal };

export type SaveStateOptions =
  | { ttlMs?: number; expiresAt?: never }
  | { expiresAt?: number | Date; ttlMs?: never };

export interface CleanupResult {
  /** Sessions moved to expired (their state and events deleted). */
  expired: number;
  /** Tombstones deleted. */
  deleted: number;
  /** Agent-state entries past their own expiry, deleted. */
  stateEntriesPurged: number;
}

export interface SessionPage {
  sessions: SessionRecord[];
  /** Pass to the next call; absent on the last page. */
  nextCursor?: string;
}

export interface ResumeResult {
  record: SessionRecord;
  /** `attached`: the session was active and fresh elsewhere; no recovery counted. */
  mode: 'attached' | 'recovered';
}

export interface MintHandleOptions {
  /** The authenticated subject the handle is bound to; null or absent for none (the id is then the only secret). */
  principal?: string | null;
  /** Lifetime from now. Default `DEFAULT_HANDLE_TTL_MS` (1 hour). */
  ttlMs?: number;
}

export interface TouchHandleOptions extends PrincipalOptions {
  /** The handle then lives at least this long from now (never shortened). Default `DEFAULT_HANDLE_TTL_MS`. */
  ttlMs?: number;
}

export interface HandleInfo {
  handle: string;
  /** Epoch ms after which the handle is refused with `HandleExpiredError`. */
  expiresAt: number;
}

export interface HandOffOptions {
  /** When a request last used the session here. Default: what this instance saw, or now. */
  lastActiveAt?: number;
}

export interface ConsumeOnceOptions {
  /** How long the key stays consumed. Required: at least the lifetime of what the key names. */
  ttlMs: number;
}

export interface SessionManagerEvents {
  initialized: [record: SessionRecord];
  disconnected: [record: SessionRecord];
  recovered: [record: SessionRecord];
  expired: [record: SessionRecord];
  closed: [record: SessionRecord];
  /** A session this instance held is no longer active in the store (closed or expired elsewhere). */
  lost: [sessionId: string];
  /**
   * This instance let a session go because it was idle (`releaseIdle`): no longer held, handed
   * off in the store so any instance serves it next without counting a recovery.
   */
  released: [sessionId: string];
  /** A background heartbeat or cleanup failed. Without a listener it goes to the logger. */
  error: [error: Error];
}

/**
 * Keeps MCP sessions alive across reconnects, restarts and instances, over any `SessionStore`.
 *
 * @example
 * ```ts
 * const manager = new SessionManager({ store: new SqliteSessionStore({ filename: 'sessions.db' }) });
 * await manager.initialize(sessionId, { principal: user.id });
 * await manager.saveAgentState('planner', sessionId, 'plan', { step: 2 }, { ttlMs: 3_600_000 });
 * // ...after a restart, on any instance:
 * await manager.recover(sessionId, { principal: user.id });
 * await manager.loadAgentState('planner', sessionId, 'plan'); // { step: 2 }
 * ```
 */
export class SessionManager extends EventEmitter<SessionManagerEvents> {
  readonly store: SessionStore;
  readonly instanceId: string;
  readonly policy: LifecyclePolicy;
  readonly heartbeatIntervalMs: number;
  readonly cleanupIntervalMs: number;
  private readonly heartbeatBatchSize: number;
  private readonly cleanupBatchSize: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly silenced: boolean;
  private readonly logsInfo: boolean;
  /** Sessions this instance serves; the heartbeat tick touches exactly these. */
  private readonly held = new Set<string>();
  /** Which held sessions are in use, and since when the others are idle. */
  private readonly activity = new Activity();
  /** Hand-offs of released sessions being written; `resume` waits for the session's own. */
  private readonly releasing = new Map<string, Promise<unknown>>();
  /** Released sessions whose hand-off write failed: tried again at the next tick. */
  private unwritten = new Map<string, number>();
  /**
   * The held ids as of the last tick, sorted and cut into frozen `touch` batches (runs of at most
   * `heartbeatBatchSize`). A run is replaced, never modified, when its ids change; the others are
   * passed again as the same arrays: the stable-batch promise `SessionStore.touch` states.
   */
  private runs: (readonly string[])[] = [];
  private runsValid = false;
  /** Held ids added and released since the runs were last brought up to date. */
  private added: string[] = [];
  private released: string[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private ticking: Promise<number> | undefined;
  private sweeping: Promise<CleanupResult> | undefined;
  private disposed = false;

  constructor(options: SessionManagerOptions) {
    super();
    assertKnownOptions(options, MANAGER_OPTIONS, 'SessionManager');
    if (!isStore(options.store)) throw new InvalidArgumentError('store', 'must be a SessionStore');
    this.store = options.store;
    this.heartbeatIntervalMs = timerDelay(
      'heartbeatIntervalMs',
      options.heartbeatIntervalMs,
      DEFAULT_HEARTBEAT_INTERVAL_MS,
    );
    this.cleanupIntervalMs =
      options.cleanupIntervalMs === 0
        ? 0
        : timerDelay('cleanupIntervalMs', options.cleanupIntervalMs, DEFAULT_CLEANUP_INTERVAL_MS);
    this.policy = {
      gracePeriodMs: positiveNumber('gracePeriodMs', options.gracePeriodMs, DEFAULT_GRACE_PERIOD_MS),
      maxRecoveryAttempts: nonNegativeInteger(
        'maxRecoveryAttempts',
        options.maxRecoveryAttempts,
        DEFAULT_MAX_RECOVERY_ATTEMPTS,
      ),
      staleAfterMs: positiveNumber(
        'staleAfterMs',
        options.staleAfterMs,
        this.heartbeatIntervalMs * DEFAULT_STALE_AFTER_HEARTBEATS,
      ),
      tombstoneMs: nonNegativeNumber('tombstoneMs', options.tombstoneMs, DEFAULT_TOMBSTONE_MS),
      idleTimeoutMs: positiveOrInfinite('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS),
    };
    // A session must survive at least one late tick, or a healthy owner would look crashed.
    if (this.policy.staleAfterMs <= this.heartbeatIntervalMs) {
      throw new InvalidArgumentError('staleAfterMs', 'must be longer than heartbeatIntervalMs');
    }
    this.heartbeatBatchSize = positiveInteger(
      'heartbeatBatchSize',
      options.heartbeatBatchSize,
      DEFAULT_HEARTBEAT_BATCH_SIZE,
    );
    this.cleanupBatchSize = positiveInteger(
      'cleanupBatchSize',
      options.cleanupBatchSize,
      DEFAULT_CLEANUP_BATCH_SIZE,
    );
    this.clock = options.clock ?? systemClock;
    this.logger = resolveLogger(options.logger);
    this.silenced = this.logger === silentLogger || options.logger === false;
    // The default logger prints warnings and errors only: lifecycle lines (and their fields) are skipped.
    this.logsInfo = !this.silenced && this.logger !== stderrLogger;
    this.instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${generateSessionId().slice(0, 6)}`;
    if (options.timers !== false) this.startTimers();
  }

  /** Ids of the sessions this instance currently serves and heartbeats. */
  get heldSessionIds(): ReadonlySet<string> {
    return this.held;
  }

  /**
   * initialize: (none) → active, held by this instance. Throws `SessionExistsError` for a taken
   * id. Also takes a record from `prepareSession`, to write exactly what was prepared.
   */
  async initialize(sessionId: string, options?: InitializeOptions): Promise<SessionRecord>;
  async initialize(prepared: SessionRecord): Promise<SessionRecord>;
  async initialize(
    sessionIdOrPrepared: string | SessionRecord,
    options: InitializeOptions = {},
  ): Promise<SessionRecord> {
    this.assertUsable();
    const record =
      typeof sessionIdOrPrepared === 'string'
        ? this.prepareSession(sessionIdOrPrepared, options)
        : sessionIdOrPrepared;
    await this.store.insert(record);
    this.hold(record.id);
    this.log('info', 'session initialized', record);
    this.emit('initialized', record);
    return record;
  }

  /**
   * The record `initialize` would write now, checked but not stored: for a caller that must build
   * what serves the session before committing it (the HTTP handler writes it only once the
   * transport has accepted the `initialize` request).
   */
  prepareSession(sessionId: string, options: InitializeOptions = {}): SessionRecord {
    assertSessionId(sessionId);
    if (options.metadata && Object.hasOwn(options.metadata, RECORD_KIND_KEY)) {
      throw new InvalidArgumentError('metadata', `${RECORD_KIND_KEY} is reserved`);
    }
    if (options.metadata) encodeJson(options.metadata);
    if (options.initializeParams) encodeJson(options.initializeParams);
    return createRecord(
      { ...options, id: sessionId, ownerId: this.instanceId },
      this.clock.now(),
      this.policy,
    );
  }

  /** Extends an active session's deadline now (the timer does this for held sessions). */
  async heartbeat(sessionId: string): Promise<void> {
    this.assertUsable();
    assertSessionId(sessionId);
    const now = this.clock.now();
    this.activity.touch(sessionId, now);
    const touched = await this.store.touch([sessionId], heartbeatPatch(now, this.policy));
    if (touched.length === 0) {
      const record = await this.store.get(sessionId);
      if (!record) throw new SessionNotFoundError(sessionId);
      throw new SessionNotLiveError(sessionId, record.status);
    }
  }

  /** disconnect: active → disconnected; the grace period starts now. Idempotent. */
  async markDisconnected(sessionId: string): Promise<SessionRecord> {
    this.assertUsable();
    assertSessionId(sessionId);
    const { record, changed } = await this.apply(sessionId, { type: 'disconnect' });
    this.unhold(sessionId);
    if (changed) {
      this.log('info', 'session disconnected', record);
      this.emit('disconnected', record);
    }
    return record;
  }

  /** Whether `recover` would succeed now. A hint only: `recover` decides atomically. */
  async canRecover(sessionId: string, options: PrincipalOptions = {}): Promise<RecoveryCheck> {
    this.assertUsable();
    assertSessionId(sessionId);
    const record = await this.store.get(sessionId);
    const reason = recoveryRefusal(record, options.principal, this.clock.now(), this.policy);
    return reason ? { ok: false, reason } : { ok: true };
  }

  /**
   * recover: disconnected (or stale) within grace → active, held here, one attempt counted.
   * Atomic check-and-claim: of many concurrent calls on any instances exactly one wins.
   * Throws `RecoveryRefusedError` with the reason otherwise.
   */
  async recover(sessionId: string, options: PrincipalOptions = {}): Promise<SessionRecord> {
    this.assertUsable();
    assertSessionId(sessionId);
    const event: LifecycleEvent = { type: 'recover', ownerId: this.instanceId, principal: options.principal };
    const { record } = await this.apply(sessionId, event);
    this.hold(sessionId);
    this.log('info', 'session recovered', record);
    this.emit('recovered', record);
    return record;
  }

  /**
   * What a request for a session not held here does: attach without counting when no recovery
   * is needed (the session is active and fresh on another instance, as behind a round-robin
   * balancer, or was handed off by a planned shutdown), else `recover`. Either way this instance
   * then holds and heartbeats it. Concurrent callers on any instances all succeed: one recovers,
   * the others attach to the session it recovered.
   */
  async resume(sessionId: string, options: PrincipalOptions = {}): Promise<ResumeResult> {
    this.assertUsable();
    assertSessionId(sessionId);
    // Let a release of this session finish first, so its hand-off never lands after this attach.
    await this.releasing.get(sessionId);
    const event: LifecycleEvent = { type: 'resume', ownerId: this.instanceId, principal: options.principal };
    const { record, before } = await this.apply(sessionId, event);
    this.hold(sessionId);
    if (record.recoveryAttempts === before.recoveryAttempts) return { record, mode: 'attached' };
    this.log('info', 'session recovered', record);
    this.emit('recovered', record);
    return { record, mode: 'recovered' };
  }

  /**
   * Planned shutdown of this instance (SIGTERM, a deploy): stops serving the session and leaves
   * it active with no owner, so the instance its client reaches next attaches without counting
   * a recovery, within the grace period. `markDisconnected` is for a client that went away.
   * Idempotent; throws `SessionNotLiveError` for a session that is no longer active.
   */
  async handOff(sessionId: string, options: HandOffOptions = {}): Promise<SessionRecord> {
    this.assertUsable();
    assertSessionId(sessionId);
    const lastActiveAt = options.lastActiveAt ?? this.activity.idleSince(sessionId);
    this.unhold(sessionId);
    const { record, changed } = await this.apply(sessionId, { type: 'hand_off', lastActiveAt });
    if (changed) this.log('info', 'session handed off', record);
    return record;
  }

  /**
   * Opens one use of a held session (a request in flight, an open stream); the session counts as
   * idle only once every use is closed by calling the returned function. Memory only, nothing is
   * written: the HTTP handler calls it for every request, so `releaseIdle` never takes a session
   * mid-request. For a session not held here it does nothing.
   */
  use(sessionId: string): () => void {
    return this.activity.begin(sessionId, this.clock);
  }

  /**
   * Lets go of every held session that has been idle (no open use, see `use`) for `idleForMs`
   * or longer: it is no longer held or heartbeated here, `released` is emitted (the HTTP handler
   * then closes its server and transport), and the record is handed off with its last use, so the
   * next request on any instance attaches without counting a recovery until `idleTimeoutMs` after
   * that use. The handler calls this every quarter of its `idleReleaseMs`; the heartbeat tick
   * calls it with `idleTimeoutMs`. Returns how many sessions it let go. A hand-off the store
   * refuses now is written again at the next tick.
   */
  async releaseIdle(idleForMs: number): Promise<number> {
    this.assertUsable();
    const idle = this.activity.idleBefore(this.clock.now() - idleForMs);
    await settleAll(idle.map(([sessionId, since]) => this.letGo(sessionId, since)));
    return idle.length;
  }

  /**
   * close: any → closed; state and events deleted now, the record kept as a tombstone. With
   * `{ principal }` (a client closing its own session), only a live session of that principal:
   * `SessionNotFoundError` for another principal's, `SessionNotLiveError` for an ended one.
   */
  async close(sessionId: string, options?: PrincipalOptions): Promise<SessionRecord> {
    this.assertUsable();
    assertSessionId(sessionId);
    const by = options === undefined ? undefined : { principal: options.principal ?? null };
    const { record, changed } = await this.apply(sessionId, { type: 'close', by });
    this.unhold(sessionId);
    if (changed) {
      await this.store.purgeSessionData(sessionId);
      this.log('info', 'session closed', record);
      this.emit('closed', record);
    }
    return record;
  }

  async getSession(sessionId: string): Promise<SessionRecord | undefined> {
    assertSessionId(sessionId);
    return this.store.get(sessionId);
  }

  /** Live (active and disconnected) sessions, newest first, a keyset page at a time. */
  async getActiveSessions(
    options: { limit?: number; cursor?: string; statuses?: readonly SessionStatus[] } = {},
  ): Promise<SessionPage> {
    const limit = positiveInteger('limit', options.limit, DEFAULT_PAGE_SIZE);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    // One record more than asked tells whether there is a next page, so the last page has no cursor.
    const sessions = await this.store.list({
      statuses: options.statuses ?? LIVE_STATUSES,
      limit: limit + 1,
      after,
    });
    const last = sessions.length > limit ? sessions[limit - 1] : undefined;
    if (last) sessions.length = limit;
    return last ? { sessions, nextCursor: encodeCursor(last) } : { sessions };
  }

  /**
   * Saves `value` for `(agentId, sessionId, key)`. Rejects what JSON cannot round-trip with
   * `InvalidValueError` before anything is written; `SessionNotFoundError` unless the session is live.
   */
  async saveAgentState(
    agentId: string,
    sessionId: string,
    key: string,
    value: JsonValue,
    options: SaveStateOptions = {},
  ): Promise<void> {
    this.assertUsable();
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    encodeJson(value);
    const now = this.clock.now();
    this.activity.touch(sessionId, now);
    await this.store.setState({
      sessionId,
      agentId,
      key,
      value,
      updatedAt: now,
      expiresAt: expiry(options, now),
    });
  }

  /** The saved value, or `undefined` when there is none or it expired. */
  async loadAgentState(agentId: string, sessionId: string, key: string): Promise<JsonValue | undefined> {
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    const entry = await this.store.getState({ sessionId, agentId, key }, this.clock.now());
    return entry?.value;
  }

  async deleteAgentState(agentId: string, sessionId: string, key: string): Promise<boolean> {
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    return this.store.deleteState({ sessionId, agentId, key });
  }

  async listAgentState(sessionId: string, agentId?: string): Promise<AgentStateEntry[]> {
    assertSessionId(sessionId);
    if (agentId !== undefined) assertName('agentId', agentId);
    return this.store.listState(sessionId, agentId, this.clock.now());
  }

  /**
   * Stops heartbeating a session this instance no longer serves, and writes nothing: the record
   * stays as it is, so another instance attaches to it at once without counting a recovery, and
   * if none does it goes stale after `staleAfterMs` and expires after grace, like a crashed
   * owner's. For rolling restarts of a fleet (`handler.close({ disconnect: false })`).
   * Returns false when this instance did not hold the session.
   */
  release(sessionId: string): boolean {
    assertSessionId(sessionId);
    return this.unhold(sessionId);
  }

  /**
   * One heartbeat tick: touches every held session in batches of `heartbeatBatchSize`; sessions
   * the store no longer has active are dropped and reported as `lost`. Returns how many were touched.
   * Overlapping calls share one run.
   */
  tick(): Promise<number> {
    this.ticking ??= this.track(this.runTick()).finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /**
   * The sweep: expires disconnected and stale sessions past grace (deleting their state and
   * events), deletes tombstones past `tombstoneMs`, purges agent state past its own expiry.
   * Due records are claimed through the store's index, so instances sweeping at once never
   * expire a session twice. Overlapping calls share one run.
   */
  cleanupExpired(): Promise<CleanupResult> {
    this.sweeping ??= this.track(this.runCleanup()).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  // --- Handles (stateless era): session + agent state without a session ---

  /**
   * Mints a handle: an id (192 random bits) for state that spans requests of the stateless MCP
   * era (SEP-2567), bound to `principal` (or none) and expiring after `ttlMs` (default 1 hour).
   * Stored as a record in the same store and swept by `cleanupExpired` with its state; it is
   * never a session (recover, resume and HTTP requests refuse it as not found).
   *
   * @example
   * ```ts
   * const { handle } = await manager.mintHandle({ principal: auth?.clientId ?? null });
   * const notes = await manager.handleState(handle, 'notebook', { principal: auth?.clientId ?? null });
   * await notes.save('todo', ['write tests']);
   * // Any instance, any later request carrying { handle }:
   * await (await manager.handleState(handle, 'notebook', { principal })).load('todo');
   * ```
   */
  async mintHandle(options: MintHandleOptions = {}): Promise<HandleInfo> {
    this.assertUsable();
    const ttlMs = positiveNumber('ttlMs', options.ttlMs, DEFAULT_HANDLE_TTL_MS);
    const record = createHandleRecord(
      { id: generateSessionId(), principal: options.principal ?? null, ttlMs },
      this.clock.now(),
    );
    await this.store.insert(record);
    return { handle: record.id, expiresAt: record.dueAt };
  }

  /**
   * Whether `principal` may use the handle now. `HandleExpiredError` once it has expired (until
   * its tombstone is swept); `SessionNotFoundError` for an unknown id, another principal's
   * handle or a session id; `InvalidArgumentError` for a malformed one.
   */
  async checkHandle(handle: string, options: PrincipalOptions = {}): Promise<HandleInfo> {
    this.assertUsable();
    assertHandle(handle);
    const record = await this.store.get(handle);
    const refusal = handleRefusal(record, options.principal, this.clock.now());
    if (refusal || !record) throw handleError(handle, refusal ?? 'not_found');
    return { handle, expiresAt: handleDeadline(record) ?? record.dueAt };
  }

  /** Extends a live handle to at least `now + ttlMs` (never shortens it). Same refusals as `checkHandle`. */
  async touchHandle(handle: string, options: TouchHandleOptions = {}): Promise<HandleInfo> {
    this.assertUsable();
    assertHandle(handle);
    const ttlMs = positiveNumber('ttlMs', options.ttlMs, DEFAULT_HANDLE_TTL_MS);
    const { record } = await this.apply(handle, {
      type: 'extend_handle',
      principal: options.principal,
      ttlMs,
    });
    return { handle, expiresAt: handleDeadline(record) ?? record.dueAt };
  }

  /**
   * Per-agent state under a handle, after `checkHandle`: the same `AgentState` that
   * `agentState()` gives for a session (`sessionId` is the handle). The check is made once, here;
   * state outlives no handle, since the sweep deletes it when the handle expires.
   */
  async handleState(handle: string, agentId: string, options: PrincipalOptions = {}): Promise<AgentState> {
    assertName('agentId', agentId);
    await this.checkHandle(handle, options);
    return {
      sessionId: handle,
      agentId,
      load: (key) => this.loadAgentState(agentId, handle, key),
      save: (key, value, saveOptions) => this.saveAgentState(agentId, handle, key, value, saveOptions),
      delete: (key) => this.deleteAgentState(agentId, handle, key),
      list: () => this.listAgentState(handle, agentId),
    };
  }

  /**
   * True the first time `key` is consumed on any instance sharing the store, false afterwards
   * until the sweep releases it `ttlMs` later: server-side enforcement of a single-use
   * `requestState`. Atomic on atomic stores (one `insert` of a marker whose id is derived from
   * `key`, so of concurrent callers exactly one wins). Keys share one space per store: prefix them
   * by purpose. Any non-empty well-formed string; only its SHA-256 is stored.
   *
   * @example
   * ```ts
   * if (!(await manager.consumeOnce(`mrtr:${requestState}`, { ttlMs: 10 * 60_000 }))) {
   *   throw new Error('this request state was already used');
   * }
   * ```
   */
  async consumeOnce(key: string, options: ConsumeOnceOptions): Promise<boolean> {
    this.assertUsable();
    if (typeof key !== 'string' || key.length === 0 || !key.isWellFormed()) {
      throw new InvalidArgumentError('key', 'must be a non-empty, well-formed string');
    }
    const ttlMs = positiveNumber('ttlMs', options?.ttlMs, Number.NaN);
    try {
      await this.store.insert(createOnceRecord(onceRecordId(key), this.clock.now(), ttlMs));
      return true;
    } catch (error) {
      if (error instanceof SessionExistsError) return false;
      throw error;
    }
  }

  /**
   * The random secret named `name` that every instance sharing this store agrees on, created once
   * by whichever asks first (`sharedSecret` in `@mcp-sessions/core`): never swept, never a session.
   *
   * @example
   * ```ts
   * const key = await manager.sharedSecret('myapp:requestState'); // 32 random bytes, same everywhere
   * ```
   */
  sharedSecret(name: string): Promise<Buffer> {
    this.assertUsable();
    return sharedSecret(this.store, name, { now: this.clock.now() });
  }

  /** Stops the timers and waits for a running tick or sweep. Closes nothing: the store is the caller's. */
  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.cleanupTimer);
    this.heartbeatTimer = this.cleanupTimer = undefined;
    await this.running.catch(() => undefined);
    this.held.clear();
    this.activity.clear();
    this.unwritten.clear();
    this.runs = [];
    this.runsValid = false;
    this.added = [];
    this.released = [];
  }

  // --- Internal helpers ---

  private startTimers(): void {
    this.heartbeatTimer = setInterval(
      () => this.background(this.tick(), 'heartbeat'),
      this.heartbeatIntervalMs,
    );
    this.heartbeatTimer.unref();
    if (this.cleanupIntervalMs > 0) this.scheduleCleanup();
  }

  private scheduleCleanup(): void {
    const jitter = 1 - CLEANUP_JITTER + Math.random() * 2 * CLEANUP_JITTER;
    this.cleanupTimer = setTimeout(() => {
      this.background(this.cleanupExpired(), 'cleanup').finally(() => {
        if (!this.disposed) this.scheduleCleanup();
      });
    }, this.cleanupIntervalMs * jitter);
    this.cleanupTimer.unref();
  }

  private async runTick(): Promise<number> {
    // Hand-offs the store refused before, then sessions idle past the timeout (held by a handler
    // that releases later than that, or by none): their deadline has passed, so the sweep expires them.
    const retries = [...this.unwritten].filter(([id]) => !this.held.has(id));
    const letGo = settleAll([
      ...retries.map(([id, since]) => this.trackRelease(id, since)),
      ...(Number.isFinite(this.policy.idleTimeoutMs) ? [this.releaseIdle(this.policy.idleTimeoutMs!)] : []),
    ]);
    let touched = 0;
    if (this.held.size > 0) {
      const patch = heartbeatPatch(this.clock.now(), this.policy);
      for (const batch of this.heartbeatRuns()) touched += await this.touchHeld(batch, patch);
    }
    await letGo;
    return touched;
  }

  /** Stops holding an idle session and hands it off with its last use. */
  private letGo(sessionId: string, lastActiveAt: number): Promise<void> {
    if (!this.unhold(sessionId)) return Promise.resolve();
    this.emit('released', sessionId);
    return this.trackRelease(sessionId, lastActiveAt);
  }

  private trackRelease(sessionId: string, lastActiveAt: number): Promise<void> {
    const writing = this.writeRelease(sessionId, lastActiveAt).finally(() => {
      if (this.releasing.get(sessionId) === writing) this.releasing.delete(sessionId);
    });
    this.releasing.set(sessionId, writing);
    return writing;
  }

  private async writeRelease(sessionId: string, lastActiveAt: number): Promise<void> {
    try {
      const { record, changed } = await this.apply(sessionId, { type: 'hand_off', lastActiveAt });
      this.unwritten.delete(sessionId);
      if (changed) this.log('info', 'session released', record);
    } catch (error) {
      this.unwritten.delete(sessionId);
      // Closed or expired elsewhere meanwhile: nothing left to hand off.
      if (error instanceof SessionNotFoundError || error instanceof SessionNotLiveError) return;
      this.unwritten.set(sessionId, lastActiveAt);
      throw error;
    }
  }

  /**
   * The held ids in code-unit order, cut into batches. A B-tree store (SQLite, Postgres) then
   * finds each batch in one key range of its index instead of all over it (SQLite, 100k random
   * ids: 5 s a tick unsorted, 0.4 s sorted). Kept up to date run by run: a tick after a few
   * sessions came or went rebuilds only the runs they fall in, not a sort of every id.
   */
  private heartbeatRuns(): readonly (readonly string[])[] {
    const size = this.heartbeatBatchSize;
    // Too many small runs left by releases: cut afresh (amortised over the changes that caused it).
    if (
      !this.runsValid ||
      this.runs.length === 0 ||
      this.runs.length > 2 * Math.ceil(this.held.size / size) + 1
    ) {
      this.runs = chunk([...this.held].sort(), size).map((run) => Object.freeze(run));
      this.runsValid = true;
    } else if (this.added.length > 0 || this.released.length > 0) {
      const addedTo = new Map<number, string[]>();
      for (const id of this.added) {
        const r = this.runOf(id);
        const ids = addedTo.get(r);
        if (ids) ids.push(id);
        else addedTo.set(r, [id]);
      }
      const dirty = new Set([...addedTo.keys(), ...this.released.map((id) => this.runOf(id))]);
      const runs: (readonly string[])[] = [];
      for (const [r, run] of this.runs.entries()) {
        if (!dirty.has(r)) {
          runs.push(run);
          continue;
        }
        const fresh = (addedTo.get(r) ?? []).filter((id) => this.held.has(id)).sort();
        const merged = mergeSorted(
          run.filter((id) => this.held.has(id)),
          fresh,
        );
        if (merged.length === 0) continue;
        const parts = Math.ceil(merged.length / size);
        const length = Math.ceil(merged.length / parts);
        for (let i = 0; i < merged.length; i += length) runs.push(Object.freeze(merged.slice(i, i + length)));
      }
      this.runs = runs;
    }
    this.added = [];
    this.released = [];
    return this.runs;
  }

  /** Index of the run an id belongs in: the last whose first id is not after it. */
  private runOf(id: string): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runs[mid]![0]! <= id) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private hold(sessionId: string): void {
    this.activity.hold(sessionId, this.clock.now());
    if (this.held.has(sessionId)) return;
    this.held.add(sessionId);
    this.noteChange(this.added, sessionId);
  }

  /** False when the session was not held. */
  private unhold(sessionId: string): boolean {
    this.activity.forget(sessionId);
    if (!this.held.delete(sessionId)) return false;
    this.noteChange(this.released, sessionId);
    return true;
  }

  private noteChange(list: string[], sessionId: string): void {
    if (!this.runsValid) return;
    list.push(sessionId);
    // Without ticks (timers off) changes would pile up: cut afresh at the next tick instead.
    if (this.added.length + this.released.length > this.held.size) {
      this.runsValid = false;
      this.added = [];
      this.released = [];
    }
  }

  /** Touches one batch; a held session the store no longer has active is dropped as `lost`. */
  private async touchHeld(batch: readonly string[], patch: TouchPatch): Promise<number> {
    const hit = await this.store.touch(batch, patch);
    if (hit.length === batch.length) return hit.length;
    const alive = new Set(hit);
    for (const id of batch) {
      // Not held any more: this instance disconnected or closed it while the batch was in flight.
      if (alive.has(id) || !this.unhold(id)) continue;
      this.logger.warn('held session is no longer active in the store', { session: sessionTag(id) });
      this.emit('lost', id);
    }
    return hit.length;
  }

  private async runCleanup(): Promise<CleanupResult> {
    const result: CleanupResult = { expired: 0, deleted: 0, stateEntriesPurged: 0 };
    const now = this.clock.now();
    for (;;) {
      const due = await this.store.claimDue({
        now,
        limit: this.cleanupBatchSize,
        leaseMs: DEFAULT_SWEEP_LEASE_MS,
      });
      for (const record of due) {
        const action = sweepAction(record, now, this.policy);
        if (action === 'delete') {
          if (await this.store.delete(record.id)) result.deleted++;
        } else if (action === 'expire') {
          const next = transition(record, { type: 'expire' }, now, this.policy);
          // A lost compare-and-set means another writer (a recovery) got there first: not ours.
          if (
            !next.ok ||
            !(await this.store.compareAndSet(record.id, livenessOf(next.record), record.version))
          )
            continue;
          await this.store.purgeSessionData(record.id);
          this.unhold(record.id);
          result.expired++;
          this.log('info', 'session expired', next.record);
          this.emit('expired', next.record);
        }
      }
      if (due.length < this.cleanupBatchSize) break;
    }
    result.stateEntriesPurged = await this.store.purgeExpiredState(now);
    if (result.expired + result.deleted + result.stateEntriesPurged > 0) {
      this.logger.info('cleanup', { ...result });
    }
    return result;
  }

  /** Read, decide with the pure lifecycle, compare-and-set; again on a lost race. */
  private async apply(
    sessionId: string,
    event: LifecycleEvent,
  ): Promise<{ record: SessionRecord; changed: boolean; before: SessionRecord }> {
    for (let attempt = 0; attempt < DEFAULT_MAX_CAS_RETRIES; attempt++) {
      const current = await this.store.get(sessionId);
      if (!current) {
        if (event.type === 'recover' || event.type === 'resume') {
          throw new RecoveryRefusedError(sessionId, 'not_found');
        }
        throw new SessionNotFoundError(sessionId);
      }
      const result = transition(current, event, this.clock.now(), this.policy);
      if (!result.ok) throw refusalError(sessionId, current, event, result.reason);
      if (!result.changed) return { record: current, changed: false, before: current };
      if (await this.store.compareAndSet(current.id, livenessOf(result.record), current.version)) {
        return { record: result.record, changed: true, before: current };
      }
    }
    throw new ConflictError(sessionId, DEFAULT_MAX_CAS_RETRIES);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running = Promise.allSettled([this.running, work]);
    return work;
  }

  private background(work: Promise<unknown>, what: string): Promise<void> {
    return work.then(
      () => undefined,
      (error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error));
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else if (!this.silenced) {
          this.logger.error(`${what} failed`, { error: err, code: (err as Partial<McpSessionsError>).code });
        } else {
          // No listener and no logger: a process warning, so the failure is never lost silently.
          process.emitWarning(err);
        }
      },
    );
  }

  private assertUsable(): void {
    if (this.disposed) throw new InvalidArgumentError('manager', 'disposed');
  }

  private log(level: 'info', message: string, record: SessionRecord): void {
    if (!this.logsInfo) return;
    this.logger[level](message, {
      session: sessionTag(record.id),
      status: record.status,
      recoveryAttempts: record.recoveryAttempts,
      instanceId: this.instanceId,
    });
  }
}

function refusalError(
  sessionId: string,
  record: SessionRecord,
  event: LifecycleEvent,
  reason: TransitionRefusal,
): McpSessionsError {
  if (reason === 'not_live' || reason === 'not_due') return new SessionNotLiveError(sessionId, record.status);
  if (event.type === 'extend_handle')
    return handleError(sessionId, reason === 'expired' ? 'expired' : 'not_found');
  // Closing another principal's session: that caller learns nothing about it.
  if (event.type === 'close') return new SessionNotFoundError(sessionId);
  return new RecoveryRefusedError(sessionId, reason);
}

function handleError(handle: string, refusal: HandleRefusal): McpSessionsError {
  return refusal === 'expired' ? new HandleExpiredError(handle) : new SessionNotFoundError(handle);
}

function assertHandle(handle: unknown): asserts handle is string {
  if (!isValidSessionId(handle)) {
    throw new InvalidArgumentError('handle', 'must be 1-256 visible ASCII characters');
  }
}

/** `once:` + base64url(SHA-256(key)): 48 characters, a valid session id for any key length. */
function onceRecordId(key: string): string {
  return `once:${createHash('sha256').update(key, 'utf8').digest('base64url')}`;
}

/** Merges two code-unit-sorted lists, keeping one of equal ids (one re-added after a release). */
function mergeSorted(a: string[], b: string[]): string[] {
  if (b.length === 0) return a;
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== next) out.push(next);
  }
  return out;
}

/** Waits for every promise; then rejects with the first failure, if any. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function expiry(options: SaveStateOptions, now: number): number | null {
  if (options.ttlMs !== undefined && options.expiresAt !== undefined) {
    throw new InvalidArgumentError('ttlMs', 'give ttlMs or expiresAt, not both');
  }
  if (options.ttlMs !== undefined) return now + positiveNumber('ttlMs', options.ttlMs, 0);
  if (options.expiresAt === undefined) return null;
  const at = options.expiresAt instanceof Date ? options.expiresAt.getTime() : options.expiresAt;
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new InvalidArgumentError('expiresAt', 'must be a valid time');
  }
  return at;
}

function encodeCursor(record: SessionRecord): string {
  return Buffer.from(JSON.stringify([record.createdAt, record.id])).toString('base64url');
}

function decodeCursor(cursor: string): ListAfter {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'number' && typeof id === 'string') return { createdAt, id };
  } catch {
    // fall through to the typed error below
  }
  throw new InvalidArgumentError('cursor', 'not a cursor returned by getActiveSessions');
}

/** Every option's name (the type makes the list exhaustive). */
const MANAGER_OPTIONS = Object.keys({
  store: true,
  gracePeriodMs: true,
  heartbeatIntervalMs: true,
  maxRecoveryAttempts: true,
  cleanupIntervalMs: true,
  staleAfterMs: true,
  tombstoneMs: true,
  idleTimeoutMs: true,
  heartbeatBatchSize: true,
  cleanupBatchSize: true,
  timers: true,
  clock: true,
  logger: true,
  instanceId: true,
} satisfies Record<keyof SessionManagerOptions, true>);

/** `getActiveSessions` page size when no `limit` is given. */
const DEFAULT_PAGE_SIZE = 100;

function isStore(value: unknown): value is SessionStore {
  const store = value as Partial<SessionStore> | null | undefined;
  return typeof store?.insert === 'function' && typeof store.touch === 'function';
}
