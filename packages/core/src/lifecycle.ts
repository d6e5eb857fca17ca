/**
 * The session lifecycle as pure functions: DESIGN.md's table, in one place. Stores persist what
 * these return; they never decide. No clock, no I/O: `now` and the policy come in as arguments.
 *
 *   initialize → active ──disconnect──▶ disconnected ──(grace over)──▶ expired ──(tombstone over)──▶ deleted
 *                  ▲  │ no heartbeat for staleAfterMs: treated as disconnected │
 *                  └──┴──────────────── recover (counted, limited) ◀─────────────┘
 *   close: any → closed ──(tombstone over)──▶ deleted
 *
 * An instance that lets a session go on purpose hands it off instead of disconnecting it: after a
 * planned shutdown, or once the session was idle for the handler's `idleReleaseMs`. It stays
 * active with no owner (`ownerId: null`) and an idle deadline (`graceExpiresAt`: its last use plus
 * `idleTimeoutMs`), and the next instance to serve it attaches without counting a recovery, stale
 * or not, until that deadline; after it the sweep expires it like any session past grace. A
 * crashed owner or a lost client still costs a counted recovery.
 *
 * The same records carry three more kinds, marked by `RECORD_KIND_KEY` in their metadata and told
 * apart by `recordKind` alone; none is ever a session (recover, resume, attach and a client's
 * close refuse them as not found):
 *
 *   handle (stateless era): mint → disconnected until its deadline ──extend──▶ later deadline
 *                            └──(deadline over)──▶ expired ──(tombstone over)──▶ deleted
 *   consume-once:           consume → closed ──(its own TTL over)──▶ deleted
 *   shared secret:          create → closed, never due, never deleted by the sweep
 */
import type { RecoveryRefusal } from './errors';
import type { JsonObject } from './json';
import { DEFAULT_IDLE_TIMEOUT_MS } from './options';
import type { SessionRecord, TouchPatch } from './store';

export interface LifecyclePolicy {
  /** How long a disconnected (or stale) session may be recovered. */
  readonly gracePeriodMs: number;
  readonly maxRecoveryAttempts: number;
  /** An active session with no heartbeat for this long is treated as disconnected (owner crashed). */
  readonly staleAfterMs: number;
  /** How long an expired or closed record stays (so its id answers "gone", not "unknown"). */
  readonly tombstoneMs: number;
  /**
   * A session no request used for this long expires: a handed-off session's deadline is its last
   * use plus this. `Infinity`: never (a handed-off session then waits for its client forever).
   * Default `DEFAULT_IDLE_TIMEOUT_MS` (24 hours).
   */
  readonly idleTimeoutMs?: number;
}

export interface InitializeInput {
  readonly id: string;
  readonly ownerId: string;
  readonly principal?: string | null;
  readonly workingDirectory?: string | null;
  readonly metadata?: JsonObject | null;
  readonly initializeParams?: JsonObject | null;
}

export type LifecycleEvent =
  | { readonly type: 'disconnect' }
  | { readonly type: 'recover'; readonly ownerId: string; readonly principal?: string | null }
  | { readonly type: 'resume'; readonly ownerId: string; readonly principal?: string | null }
  /**
   * The instance serving it lets it go (a planned stop, or idle for `idleReleaseMs`). `lastActiveAt`:
   * when a request last used it there (default `now`); the idle deadline counts from it.
   */
  | { readonly type: 'hand_off'; readonly lastActiveAt?: number }
  | { readonly type: 'expire' }
  /** `by`: a client closing its own session (HTTP DELETE): only its principal, only while live. */
  | { readonly type: 'close'; readonly by?: { readonly principal: string | null } }
  /** A handle's holder pushes its deadline to at least `now + ttlMs` (never earlier). */
  | { readonly type: 'extend_handle'; readonly principal?: string | null; readonly ttlMs: number };

export type TransitionRefusal = RecoveryRefusal | 'not_live' | 'not_due';

/** `record` is the next state to write, or the input itself when nothing changes. */
export type TransitionResult =
  | { readonly ok: true; readonly record: SessionRecord; readonly changed: boolean }
  | { readonly ok: false; readonly reason: TransitionRefusal };

/** What the sweep does with a due record. */
export type SweepAction = 'expire' | 'delete' | 'none';

/**
 * Metadata key naming what a record is when it is not a session. Reserved: the manager refuses
 * it in a session's metadata, so a client cannot turn its session into something else.
 */
export const RECORD_KIND_KEY = 'mcp-sessions:kind';

/**
 * `session`: a 2025-era MCP session. `handle`: state referenced by an explicit id in the stateless
 * era (SEP-2567), never served over HTTP as a session. `once`: a consume-once marker. `secret`: a
 * random secret the instances sharing the store agree on (`sharedSecret`).
 */
export type RecordKind = 'session' | 'handle' | 'once' | 'secret';

/** What a record is. The one place the kind is read; every rule below asks this. */
export function recordKind(record: SessionRecord): RecordKind {
  const kind = record.metadata?.[RECORD_KIND_KEY];
  return kind === 'handle' || kind === 'once' || kind === 'secret' ? kind : 'session';
}

/** Metadata key of a shared secret record holding its value (base64url). Only `secrets.ts` reads it. */
export const SECRET_VALUE_KEY = 'mcp-sessions:secret';

/**
 * A `dueAt` no clock reaches: the latest instant a `Date` holds, within every store's range
 * (SQL bigint, Redis score, JS number), so `claimDue` never leases the record.
 */
export const NEVER_DUE_AT = 8_640_000_000_000_000;

/** Why a handle may not be used: unknown, not a handle, or another principal's all read `not_found`. */
export type HandleRefusal = 'not_found' | 'expired';

export interface HandleInput {
  /** At least 128 random bits (`generateSessionId()` gives 192): with no principal it is the only secret. */
  readonly id: string;
  readonly principal?: string | null;
  readonly ttlMs: number;
}

/** initialize: (none) → active. */
export function createRecord(input: InitializeInput, now: number, policy: LifecyclePolicy): SessionRecord {
  return {
    id: input.id,
    status: 'active',
    version: 1,
    principal: input.principal ?? null,
    ownerId: input.ownerId,
    createdAt: now,
    lastHeartbeatAt: now,
    disconnectedAt: null,
    graceExpiresAt: null,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: null,
    dueAt: activeDueAt(now, policy),
    workingDirectory: input.workingDirectory ?? null,
    metadata: input.metadata ?? null,
    initializeParams: input.initializeParams ?? null,
  };
}

/**
 * mint: (none) → a handle. Modelled as a `disconnected` record whose grace deadline is the
 * handle's own expiry: the indexed sweep expires it at `dueAt` like any disconnected session
 * (state purged, tombstone, delete), heartbeats never extend it (`touch` only moves active
 * records), and the store's "live" rule lets agent state be written under it until then.
 */
export function createHandleRecord(input: HandleInput, now: number): SessionRecord {
  const expiresAt = now + input.ttlMs;
  return {
    id: input.id,
    status: 'disconnected',
    version: 1,
    principal: input.principal ?? null,
    ownerId: null,
    createdAt: now,
    lastHeartbeatAt: now,
    disconnectedAt: now,
    graceExpiresAt: expiresAt,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: null,
    dueAt: expiresAt,
    workingDirectory: null,
    metadata: { [RECORD_KIND_KEY]: 'handle' },
    initializeParams: null,
  };
}

/** The instant a handle stops being usable, or null when it has ended (or is not a handle). */
export function handleDeadline(record: SessionRecord): number | null {
  return recordKind(record) === 'handle' && record.status === 'disconnected' ? record.graceExpiresAt : null;
}

/** Whether `principal` may use the handle now; the reason when not. Every handle operation asks this. */
export function handleRefusal(
  record: SessionRecord | undefined,
  principal: string | null | undefined,
  now: number,
): HandleRefusal | null {
  // Another principal's handle reads as unknown: the caller learns nothing about it.
  if (!record || recordKind(record) !== 'handle' || !samePrincipal(record, principal)) return 'not_found';
  const deadline = handleDeadline(record);
  return deadline === null || now >= deadline ? 'expired' : null;
}

/**
 * consume: (none) → a closed marker for one consumed key. Inserting it is the atomic
 * "first time?" test (a taken id is `SessionExistsError` on every store); it stays until the
 * sweep deletes it `ttlMs` later (`tombstoneUntil`), and a key is consumable again only then.
 * Closed, so no state or event can be written under it.
 */
export function createOnceRecord(id: string, now: number, ttlMs: number): SessionRecord {
  return {
    id,
    status: 'closed',
    version: 1,
    principal: null,
    ownerId: null,
    createdAt: now,
    lastHeartbeatAt: now,
    disconnectedAt: null,
    // A consume-once record keeps its own release instant here (no grace applies to it).
    graceExpiresAt: now + ttlMs,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: now,
    dueAt: now + ttlMs,
    workingDirectory: null,
    metadata: { [RECORD_KIND_KEY]: 'once' },
    initializeParams: null,
  };
}

/**
 * create: (none) → a closed record holding a shared secret (base64url). Closed, so no state or event
 * can be written under it; never due (`NEVER_DUE_AT`), and `tombstoneUntil` gives it no end, so
 * the sweep neither claims nor deletes it.
 */
export function createSecretRecord(id: string, value: string, now: number): SessionRecord {
  return {
    id,
    status: 'closed',
    version: 1,
    principal: null,
    ownerId: null,
    createdAt: now,
    lastHeartbeatAt: now,
    disconnectedAt: null,
    graceExpiresAt: null,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: now,
    dueAt: NEVER_DUE_AT,
    workingDirectory: null,
    metadata: { [RECORD_KIND_KEY]: 'secret', [SECRET_VALUE_KEY]: value },
    initializeParams: null,
  };
}

/** When the sweep deletes an ended record: `tombstoneMs` after it ended, or a consume-once record's own TTL. */
export function tombstoneUntil(record: SessionRecord, policy: LifecyclePolicy): number | null {
  if (record.endedAt === null) return null;
  // A shared secret outlives every tombstone: removing it would invalidate what it signed.
  if (recordKind(record) === 'secret') return null;
  if (recordKind(record) === 'once' && record.graceExpiresAt !== null) return record.graceExpiresAt;
  return record.endedAt + policy.tombstoneMs;
}

/** heartbeat keeps an active session's deadline this far ahead of its last heartbeat. */
export function activeDueAt(lastHeartbeatAt: number, policy: LifecyclePolicy): number {
  return lastHeartbeatAt + Math.max(policy.staleAfterMs, policy.gracePeriodMs);
}

/** heartbeat: active → active. What `touch` writes: the heartbeat instant and the deadline it pushes out. */
export function heartbeatPatch(now: number, policy: LifecyclePolicy): TouchPatch {
  return { now, dueAt: activeDueAt(now, policy) };
}

/** Active, but its owner stopped heartbeating: it crashed or hangs. */
export function isStale(record: SessionRecord, now: number, policy: LifecyclePolicy): boolean {
  return record.status === 'active' && now - record.lastHeartbeatAt >= policy.staleAfterMs;
}

/** The instant recovery stops being possible, or null for a session that is not recoverable by time. */
export function graceDeadline(record: SessionRecord, policy: LifecyclePolicy): number | null {
  if (record.status === 'disconnected') return record.graceExpiresAt;
  // A handed-off session carries its idle deadline; one handed off by an older version, none.
  if (record.status === 'active') return record.graceExpiresAt ?? activeDueAt(record.lastHeartbeatAt, policy);
  return null;
}

/** When a session last used at `lastActiveAt` expires for idleness, if no instance holds it. */
export function idleDeadline(lastActiveAt: number, policy: LifecyclePolicy): number {
  const timeout = policy.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  // `Infinity`: a deadline no clock reaches, stored and indexed like any other instant.
  return Number.isFinite(timeout) ? lastActiveAt + timeout : NEVER_DUE_AT;
}

/**
 * Since when nobody has used a live session, as far as its record tells: a handed-off session's
 * last use, a disconnected one's disconnect. Null while an instance holds it (in use, or idle for
 * less than that instance's `idleReleaseMs`), and for a record that is not a live session.
 */
export function idleSince(record: SessionRecord): number | null {
  if (recordKind(record) !== 'session') return null;
  if (record.status === 'disconnected') return record.disconnectedAt;
  return isHandedOff(record) ? record.lastHeartbeatAt : null;
}

/**
 * Why an expired session expired: `idle`, handed off and then unused until its idle deadline;
 * `grace`, disconnected (or its owner crashed) and not recovered within grace.
 */
export function expiryCause(record: SessionRecord): 'idle' | 'grace' | null {
  if (record.status !== 'expired' || recordKind(record) !== 'session') return null;
  return record.disconnectedAt === null && record.graceExpiresAt !== null ? 'idle' : 'grace';
}

/** Whether `recover` would succeed now; the reason when not. Same rules `transition` applies. */
export function recoveryRefusal(
  record: SessionRecord | undefined,
  principal: string | null | undefined,
  now: number,
  policy: LifecyclePolicy,
): RecoveryRefusal | null {
  // A handle or a consume-once record is not a session: it cannot be recovered or served as one.
  if (!record || recordKind(record) !== 'session') return 'not_found';
  // A caller with the wrong principal learns nothing more about the session.
  if (!samePrincipal(record, principal)) return 'principal_mismatch';
  if (record.status === 'closed') return 'closed';
  if (record.status === 'expired') return 'expired';
  if (record.status === 'active' && !isStale(record, now, policy)) return 'still_active';
  const deadline = graceDeadline(record, policy);
  if (deadline === null || now >= deadline) return 'grace_expired';
  if (record.recoveryAttempts >= policy.maxRecoveryAttempts) return 'attempts_exhausted';
  return null;
}

/**
 * May be served here without counting a recovery: active and either fresh (another instance
 * holds it) or handed off by a planned shutdown and still within its grace deadline.
 */
export function canAttach(
  record: SessionRecord | undefined,
  principal: string | null | undefined,
  now: number,
  policy: LifecyclePolicy,
): record is SessionRecord {
  if (record === undefined || recordKind(record) !== 'session') return false;
  if (!samePrincipal(record, principal) || record.status !== 'active') return false;
  if (!isStale(record, now, policy)) return true;
  const deadline = graceDeadline(record, policy);
  return isHandedOff(record) && deadline !== null && now < deadline;
}

/** Active with no owner: its last holder shut down on purpose and handed it off. */
export function isHandedOff(record: SessionRecord): boolean {
  return record.status === 'active' && record.ownerId === null;
}

/** A session is bound to the principal that initialized it (null for unauthenticated ones). */
export function samePrincipal(record: SessionRecord, principal: string | null | undefined): boolean {
  return (record.principal ?? null) === (principal ?? null);
}

export function sweepAction(record: SessionRecord, now: number, policy: LifecyclePolicy): SweepAction {
  switch (record.status) {
    case 'active':
    case 'disconnected': {
      const deadline = graceDeadline(record, policy);
      const stale = record.status === 'disconnected' || isStale(record, now, policy);
      return stale && deadline !== null && now >= deadline ? 'expire' : 'none';
    }
    case 'expired':
    case 'closed': {
      const until = tombstoneUntil(record, policy);
      return until !== null && now >= until ? 'delete' : 'none';
    }
  }
}

/** The next record for `event`, or why the event is refused. Pure. */
export function transition(
  record: SessionRecord,
  event: LifecycleEvent,
  now: number,
  policy: LifecyclePolicy,
): TransitionResult {
  const next = (patch: Partial<SessionRecord>): TransitionResult => ({
    ok: true,
    changed: true,
    record: { ...record, ...patch, version: record.version + 1 },
  });
  const same: TransitionResult = { ok: true, changed: false, record };

  switch (event.type) {
    case 'disconnect': {
      if (record.status === 'disconnected') return same;
      if (record.status !== 'active') return { ok: false, reason: 'not_live' };
      const graceExpiresAt = now + policy.gracePeriodMs;
      return next({ status: 'disconnected', disconnectedAt: now, graceExpiresAt, dueAt: graceExpiresAt });
    }
    case 'hand_off': {
      if (record.status !== 'active') return { ok: false, reason: 'not_live' };
      const lastActiveAt = Math.min(event.lastActiveAt ?? now, now);
      let deadline = idleDeadline(lastActiveAt, policy);
      // Several instances may hold one session (round robin): the one used last sets the deadline.
      if (isHandedOff(record) && record.graceExpiresAt !== null) {
        if (deadline <= record.graceExpiresAt) return same;
        deadline = Math.max(deadline, record.graceExpiresAt);
      }
      // `lastHeartbeatAt` becomes the last use: what an operator reads as the session's idle time.
      return next({
        ownerId: null,
        lastHeartbeatAt: lastActiveAt,
        graceExpiresAt: deadline,
        dueAt: deadline,
      });
    }
    case 'resume': {
      // Served here from now on: attach when no recovery is needed, else recover (below).
      if (canAttach(record, event.principal, now, policy)) {
        if (record.ownerId !== null) return same;
        return next({
          ownerId: event.ownerId,
          lastHeartbeatAt: now,
          graceExpiresAt: null,
          dueAt: activeDueAt(now, policy),
        });
      }
      return transition(record, { ...event, type: 'recover' }, now, policy);
    }
    case 'recover': {
      const refusal = recoveryRefusal(record, event.principal, now, policy);
      if (refusal) return { ok: false, reason: refusal };
      return next({
        status: 'active',
        ownerId: event.ownerId,
        lastHeartbeatAt: now,
        disconnectedAt: null,
        graceExpiresAt: null,
        recoveryAttempts: record.recoveryAttempts + 1,
        recoveredAt: now,
        dueAt: activeDueAt(now, policy),
      });
    }
    case 'expire': {
      if (sweepAction(record, now, policy) !== 'expire') return { ok: false, reason: 'not_due' };
      return next({ status: 'expired', endedAt: now, dueAt: now + policy.tombstoneMs });
    }
    case 'close': {
      if (event.by) {
        if (recordKind(record) !== 'session') return { ok: false, reason: 'not_found' };
        if (!samePrincipal(record, event.by.principal)) return { ok: false, reason: 'principal_mismatch' };
        if (record.status !== 'active' && record.status !== 'disconnected')
          return { ok: false, reason: 'not_live' };
      }
      if (record.status === 'closed') return same;
      return next({ status: 'closed', endedAt: now, dueAt: now + policy.tombstoneMs });
    }
    case 'extend_handle': {
      const refusal = handleRefusal(record, event.principal, now);
      if (refusal) return { ok: false, reason: refusal };
      const current = record.graceExpiresAt ?? now;
      const expiresAt = Math.max(current, now + event.ttlMs);
      if (expiresAt === current) return same;
      return next({ lastHeartbeatAt: now, graceExpiresAt: expiresAt, dueAt: expiresAt });
    }
  }
}
