import { EventEmitter } from 'node:events';
import { Activity } from './activity';
import { type AgentState, AgentStates, type SaveStateOptions } from './agent-state';
import { decodeCursor, encodeCursor } from './cursor';
import {
  ConflictError,
  InvalidArgumentError,
  type McpSessionsError,
  type RecoveryRefusal,
  RecoveryRefusedError,
  SessionNotFoundError,
  SessionNotLiveError,
} from './errors';
import {
  type ConsumeOnceOptions,
  type HandleInfo,
  Handles,
  handleError,
  type MintHandleOptions,
  type TouchHandleOptions,
} from './handles';
import { Heartbeats } from './heartbeats';
import { assertSessionId, sessionTag } from './ids';
import { encodeJson, type JsonObject, type JsonValue } from './json';
import {
  createRecord,
  heartbeatPatch,
  type LifecycleEvent,
  type LifecyclePolicy,
  RECORD_KIND_KEY,
  recoveryRefusal,
  type TransitionRefusal,
  transition,
} from './lifecycle';
import { stderrLogger } from './logger';
import { resolveManagerOptions, type SessionManagerOptions } from './manager-options';
import {
  CLEANUP_JITTER,
  type Clock,
  DEFAULT_MAX_CAS_RETRIES,
  type Logger,
  type PrincipalOptions,
  positiveInteger,
} from './options';
import { Releases } from './release';
import {
  type AgentStateEntry,
  LIVE_STATUSES,
  livenessOf,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
} from './store';
import { type CleanupResult, sweep } from './sweep';

// What the manager's methods take and return, from the facets that define them.
export type {
  AgentState,
  CleanupResult,
  ConsumeOnceOptions,
  HandleInfo,
  MintHandleOptions,
  PrincipalOptions,
  SaveStateOptions,
  SessionManagerOptions,
  TouchHandleOptions,
};

export interface InitializeOptions {
  principal?: string | null;
  workingDirectory?: string | null;
  metadata?: JsonObject | null;
  /** The client's `initialize` params, kept so another instance can rebuild the session. */
  initializeParams?: JsonObject | null;
}

export type RecoveryCheck = { ok: true } | { ok: false; reason: RecoveryRefusal };

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

export interface HandOffOptions {
  /** When a request last used the session here. Default: what this instance saw, or now. */
  lastActiveAt?: number;
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
  private readonly cleanupBatchSize: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly silenced: boolean;
  private readonly logsInfo: boolean;
  // The parts it wires: what it holds and heartbeats, what is in use, agent state, handles.
  private readonly heartbeats: Heartbeats;
  private readonly activity = new Activity();
  private readonly state: AgentStates;
  private readonly handles: Handles;
  private readonly releases = new Releases(async (id, lastActiveAt) => {
    const { record, changed } = await this.apply(id, { type: 'hand_off', lastActiveAt });
    if (changed) this.log('info', 'session released', record);
  });
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private cleanupTimer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private ticking: Promise<number> | undefined;
  private sweeping: Promise<CleanupResult> | undefined;
  private disposed = false;

  constructor(options: SessionManagerOptions) {
    super();
    const resolved = resolveManagerOptions(options);
    ({ store: this.store, policy: this.policy, clock: this.clock, logger: this.logger } = resolved);
    ({ heartbeatIntervalMs: this.heartbeatIntervalMs, cleanupIntervalMs: this.cleanupIntervalMs } = resolved);
    ({ cleanupBatchSize: this.cleanupBatchSize, instanceId: this.instanceId } = resolved);
    this.silenced = resolved.silenced;
    // The default logger prints warnings and errors only: lifecycle lines (and their fields) are skipped.
    this.logsInfo = !this.silenced && this.logger !== stderrLogger;
    this.heartbeats = new Heartbeats(this.store, resolved.heartbeatBatchSize);
    this.state = new AgentStates(this.store, this.clock, (id, now) => this.activity.touch(id, now));
    this.handles = new Handles(this.store, this.clock, (id, event) => this.apply(id, event), this.state);
    if (options.timers !== false) this.startTimers();
  }

  /** Ids of the sessions this instance currently serves and heartbeats. */
  get heldSessionIds(): ReadonlySet<string> {
    return this.heartbeats.ids;
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
    await this.releases.settled(sessionId);
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

  // --- Agent state (the `AgentStates` facet) ---

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
    return this.state.save(agentId, sessionId, key, value, options);
  }

  /** The saved value, or `undefined` when there is none or it expired. */
  loadAgentState(agentId: string, sessionId: string, key: string): Promise<JsonValue | undefined> {
    return this.state.load(agentId, sessionId, key);
  }

  deleteAgentState(agentId: string, sessionId: string, key: string): Promise<boolean> {
    return this.state.delete(agentId, sessionId, key);
  }

  listAgentState(sessionId: string, agentId?: string): Promise<AgentStateEntry[]> {
    return this.state.list(sessionId, agentId);
  }

  // --- Handles, consume-once and shared secrets (the `Handles` facet) ---

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
    return this.handles.mint(options);
  }

  /**
   * Whether `principal` may use the handle now. `HandleExpiredError` once it has expired (until
   * its tombstone is swept); `SessionNotFoundError` for an unknown id, another principal's
   * handle or a session id; `InvalidArgumentError` for a malformed one.
   */
  async checkHandle(handle: string, options: PrincipalOptions = {}): Promise<HandleInfo> {
    this.assertUsable();
    return this.handles.check(handle, options);
  }

  /** Extends a live handle to at least `now + ttlMs` (never shortens it). Same refusals as `checkHandle`. */
  async touchHandle(handle: string, options: TouchHandleOptions = {}): Promise<HandleInfo> {
    this.assertUsable();
    return this.handles.touch(handle, options);
  }

  /**
   * Per-agent state under a handle, after `checkHandle`: the same `AgentState` that
   * `agentState()` gives for a session (`sessionId` is the handle). The check is made once, here;
   * state outlives no handle, since the sweep deletes it when the handle expires.
   */
  handleState(handle: string, agentId: string, options: PrincipalOptions = {}): Promise<AgentState> {
    return this.handles.agentState(handle, agentId, options);
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
    return this.handles.consumeOnce(key, options);
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
  async sharedSecret(name: string): Promise<Buffer> {
    this.assertUsable();
    return this.handles.sharedSecret(name);
  }

  // --- Heartbeats, idle release and the sweep ---

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

  /** Stops the timers and waits for a running tick or sweep. Closes nothing: the store is the caller's. */
  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.cleanupTimer);
    this.heartbeatTimer = this.cleanupTimer = undefined;
    await this.running.catch(() => undefined);
    this.heartbeats.clear();
    this.activity.clear();
    this.releases.clear();
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
    const letGo = settleAll([
      ...this.releases.retry(this.heartbeats.ids),
      ...(Number.isFinite(this.policy.idleTimeoutMs) ? [this.releaseIdle(this.policy.idleTimeoutMs!)] : []),
    ]);
    const { touched, lost } = await this.heartbeats.tick(heartbeatPatch(this.clock.now(), this.policy));
    for (const id of lost) {
      this.activity.forget(id);
      this.logger.warn('held session is no longer active in the store', { session: sessionTag(id) });
      this.emit('lost', id);
    }
    await letGo;
    return touched;
  }

  private async runCleanup(): Promise<CleanupResult> {
    const result = await sweep({
      store: this.store,
      policy: this.policy,
      now: this.clock.now(),
      batchSize: this.cleanupBatchSize,
      expired: (record) => {
        this.unhold(record.id);
        this.log('info', 'session expired', record);
        this.emit('expired', record);
      },
    });
    if (result.expired + result.deleted + result.stateEntriesPurged > 0) {
      this.logger.info('cleanup', { ...result });
    }
    return result;
  }

  /** Stops holding an idle session and hands it off with its last use. */
  private letGo(sessionId: string, lastActiveAt: number): Promise<void> {
    if (!this.unhold(sessionId)) return Promise.resolve();
    this.emit('released', sessionId);
    return this.releases.write(sessionId, lastActiveAt);
  }

  private hold(sessionId: string): void {
    this.activity.hold(sessionId, this.clock.now());
    this.heartbeats.add(sessionId);
  }

  /** False when the session was not held. */
  private unhold(sessionId: string): boolean {
    this.activity.forget(sessionId);
    return this.heartbeats.delete(sessionId);
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

/** Waits for every promise; then rejects with the first failure, if any. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** `getActiveSessions` page size when no `limit` is given. */
const DEFAULT_PAGE_SIZE = 100;
