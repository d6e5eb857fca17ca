/**
 * DESIGN.md's lifecycle table, row by row, on the pure functions of `lifecycle.ts`. No store,
 * no clock: every instant is an argument.
 */

import { generateSessionId, type SessionRecord } from '@mcp-sessions/core';
import {
  createRecord,
  heartbeatPatch,
  isValidSessionId,
  type LifecyclePolicy,
  transition,
} from '@mcp-sessions/core/adapter';
import { describe, expect, it } from 'vitest';
import {
  activeDueAt,
  canAttach,
  expiryCause,
  graceDeadline,
  idleDeadline,
  isStale,
  NEVER_DUE_AT,
  recoveryRefusal,
  sweepAction,
} from '../src/lifecycle';

const T0 = 1_700_000_000_000;
const policy: LifecyclePolicy = {
  gracePeriodMs: 600_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};

function active(patch: Partial<SessionRecord> = {}): SessionRecord {
  return { ...createRecord({ id: 'sess-1', ownerId: 'A', principal: 'alice' }, T0, policy), ...patch };
}

function disconnected(at = T0): SessionRecord {
  const result = transition(active(), { type: 'disconnect' }, at, policy);
  if (!result.ok) throw new Error(result.reason);
  return result.record;
}

function ok(result: ReturnType<typeof transition>): SessionRecord {
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.record;
}

/** What a store's `touch` writes, so heartbeats can be simulated without a store. */
function touched(record: SessionRecord, now: number): SessionRecord {
  const patch = heartbeatPatch(now, policy);
  return { ...record, lastHeartbeatAt: patch.now, dueAt: patch.dueAt, version: record.version + 1 };
}

const recoverBy = (ownerId: string, principal: string | null = 'alice') =>
  ({ type: 'recover', ownerId, principal }) as const;

describe('initialize: (none) → active', () => {
  it('creates an active record at version 1 bound to its principal', () => {
    const record = createRecord(
      {
        id: 'abc',
        ownerId: 'inst-1',
        principal: 'alice',
        workingDirectory: '/srv',
        metadata: { a: 1 },
        initializeParams: { protocolVersion: '2025-06-18' },
      },
      T0,
      policy,
    );
    expect(record).toEqual({
      id: 'abc',
      status: 'active',
      version: 1,
      principal: 'alice',
      ownerId: 'inst-1',
      createdAt: T0,
      lastHeartbeatAt: T0,
      disconnectedAt: null,
      graceExpiresAt: null,
      recoveryAttempts: 0,
      recoveredAt: null,
      endedAt: null,
      dueAt: T0 + policy.gracePeriodMs,
      workingDirectory: '/srv',
      metadata: { a: 1 },
      initializeParams: { protocolVersion: '2025-06-18' },
    });
  });

  it('leaves an unauthenticated session without principal and optional fields null', () => {
    const record = createRecord({ id: 'abc', ownerId: 'x' }, T0, policy);
    expect(record.principal).toBeNull();
    expect(record.workingDirectory).toBeNull();
    expect(record.metadata).toBeNull();
    expect(record.initializeParams).toBeNull();
  });

  it('generates ids of at least 128 random bits that the transport accepts', () => {
    const ids = new Set(Array.from({ length: 10_000 }, generateSessionId));
    expect(ids.size).toBe(10_000);
    for (const id of [...ids].slice(0, 100)) {
      expect(isValidSessionId(id)).toBe(true);
      expect(Buffer.from(id, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    }
  });

  it('puts the first deadline at the later of stale and grace after the start', () => {
    expect(active().dueAt).toBe(T0 + Math.max(policy.staleAfterMs, policy.gracePeriodMs));
    const longStale = { ...policy, staleAfterMs: 2 * policy.gracePeriodMs };
    expect(createRecord({ id: 'a', ownerId: 'x' }, T0, longStale).dueAt).toBe(T0 + longStale.staleAfterMs);
  });
});

describe('heartbeat: active → active', () => {
  it('moves lastHeartbeatAt to now and the deadline with it', () => {
    expect(heartbeatPatch(T0 + 5, policy)).toEqual({ now: T0 + 5, dueAt: activeDueAt(T0 + 5, policy) });
  });

  it('keeps a heartbeating session alive indefinitely: never stale, never swept', () => {
    let record = active();
    for (let now = T0; now <= T0 + 24 * 3_600_000; now += 30_000) {
      record = touched(record, now);
      expect(isStale(record, now + 29_999, policy)).toBe(false);
      expect(sweepAction(record, now + 29_999, policy)).toBe('none');
      expect(transition(record, { type: 'expire' }, now + 29_999, policy)).toEqual({
        ok: false,
        reason: 'not_due',
      });
    }
    expect(record.status).toBe('active');
  });
});

describe('disconnect: active → disconnected', () => {
  it('starts the grace period now and bumps the version', () => {
    const now = T0 + 1000;
    const record = ok(transition(active(), { type: 'disconnect' }, now, policy));
    expect(record).toMatchObject({
      status: 'disconnected',
      version: 2,
      disconnectedAt: now,
      graceExpiresAt: now + policy.gracePeriodMs,
      dueAt: now + policy.gracePeriodMs,
    });
  });

  it('is idempotent on a disconnected session: same record, not changed', () => {
    const record = disconnected();
    expect(transition(record, { type: 'disconnect' }, T0 + 5000, policy)).toEqual({
      ok: true,
      changed: false,
      record,
    });
  });

  it.each(['expired', 'closed'] as const)('is refused on a %s session', (status) => {
    expect(transition(active({ status }), { type: 'disconnect' }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_live',
    });
  });
});

describe('stale: active without heartbeat for staleAfterMs', () => {
  it('is stale exactly from lastHeartbeatAt + staleAfterMs', () => {
    const record = active();
    expect(isStale(record, T0 + policy.staleAfterMs - 1, policy)).toBe(false);
    expect(isStale(record, T0 + policy.staleAfterMs, policy)).toBe(true);
  });

  it('applies only to active sessions', () => {
    expect(isStale(disconnected(), T0 + 10 * policy.staleAfterMs, policy)).toBe(false);
  });

  it('counts grace from the last heartbeat', () => {
    const record = touched(active(), T0 + 60_000);
    expect(graceDeadline(record, policy)).toBe(T0 + 60_000 + policy.gracePeriodMs);
    expect(graceDeadline(disconnected(T0 + 7), policy)).toBe(T0 + 7 + policy.gracePeriodMs);
    expect(graceDeadline(active({ status: 'expired' }), policy)).toBeNull();
  });

  it('is treated as disconnected: recoverable, and not attachable', () => {
    const now = T0 + policy.staleAfterMs;
    expect(recoveryRefusal(active(), 'alice', now, policy)).toBeNull();
    expect(canAttach(active(), 'alice', now, policy)).toBe(false);
    expect(canAttach(active(), 'alice', now - 1, policy)).toBe(true);
  });
});

describe('recover: disconnected or stale, within grace, under the limit, same principal → active', () => {
  it('recovers a disconnected session, counting the attempt and taking ownership', () => {
    const now = T0 + 5000;
    const record = ok(transition(disconnected(), recoverBy('B'), now, policy));
    expect(record).toMatchObject({
      status: 'active',
      version: 3,
      ownerId: 'B',
      lastHeartbeatAt: now,
      disconnectedAt: null,
      graceExpiresAt: null,
      recoveryAttempts: 1,
      recoveredAt: now,
      dueAt: activeDueAt(now, policy),
    });
  });

  it('recovers a stale session until grace (from its last heartbeat) runs out', () => {
    const last = T0 + policy.gracePeriodMs;
    expect(ok(transition(active(), recoverBy('B'), last - 1, policy)).recoveryAttempts).toBe(1);
    expect(transition(active(), recoverBy('B'), last, policy)).toEqual({
      ok: false,
      reason: 'grace_expired',
    });
  });

  it('refuses once grace is over, at the instant it ends', () => {
    const record = disconnected();
    const end = record.graceExpiresAt!;
    expect(recoveryRefusal(record, 'alice', end - 1, policy)).toBeNull();
    expect(transition(record, recoverBy('B'), end, policy)).toEqual({ ok: false, reason: 'grace_expired' });
  });

  it('refuses after maxRecoveryAttempts recoveries, and the limit is never passed', () => {
    let record = disconnected();
    let now = T0;
    for (let i = 1; i <= policy.maxRecoveryAttempts; i++) {
      now += 1000;
      record = ok(transition(record, recoverBy('B'), now, policy));
      expect(record.recoveryAttempts).toBe(i);
      record = ok(transition(record, { type: 'disconnect' }, now, policy));
    }
    expect(transition(record, recoverBy('B'), now + 1, policy)).toEqual({
      ok: false,
      reason: 'attempts_exhausted',
    });
    expect(recoveryRefusal(record, 'alice', now + 1, { ...policy, maxRecoveryAttempts: 4 })).toBeNull();
  });

  it('never recovers with maxRecoveryAttempts 0', () => {
    expect(recoveryRefusal(disconnected(), 'alice', T0 + 1, { ...policy, maxRecoveryAttempts: 0 })).toBe(
      'attempts_exhausted',
    );
  });

  it('refuses another principal, in either direction, before saying anything else', () => {
    expect(recoveryRefusal(disconnected(), 'mallory', T0 + 1, policy)).toBe('principal_mismatch');
    expect(recoveryRefusal(disconnected(), null, T0 + 1, policy)).toBe('principal_mismatch');
    expect(recoveryRefusal(disconnected(), undefined, T0 + 1, policy)).toBe('principal_mismatch');
    const anonymous = createRecord({ id: 'x', ownerId: 'A' }, T0, policy);
    const gone = ok(transition(anonymous, { type: 'close' }, T0, policy));
    expect(recoveryRefusal(gone, 'alice', T0 + 1, policy)).toBe('principal_mismatch');
    expect(recoveryRefusal(gone, undefined, T0 + 1, policy)).toBe('closed');
    expect(canAttach(active(), 'mallory', T0, policy)).toBe(false);
  });

  it.each([
    ['not_found', undefined],
    ['closed', active({ status: 'closed', endedAt: T0 })],
    ['expired', active({ status: 'expired', endedAt: T0 })],
    ['still_active', active()],
  ] as const)('refuses with %s', (reason, record) => {
    expect(recoveryRefusal(record, 'alice', T0 + 1, policy)).toBe(reason);
    if (record) expect(transition(record, recoverBy('B'), T0 + 1, policy)).toEqual({ ok: false, reason });
  });
});

describe('expire: disconnected or stale past grace → expired', () => {
  it('expires a disconnected session at the end of grace and starts its tombstone', () => {
    const record = disconnected();
    const end = record.graceExpiresAt!;
    expect(sweepAction(record, end - 1, policy)).toBe('none');
    expect(transition(record, { type: 'expire' }, end - 1, policy)).toEqual({ ok: false, reason: 'not_due' });
    expect(sweepAction(record, end, policy)).toBe('expire');
    expect(ok(transition(record, { type: 'expire' }, end, policy))).toMatchObject({
      status: 'expired',
      version: record.version + 1,
      endedAt: end,
      dueAt: end + policy.tombstoneMs,
    });
  });

  it('expires a stale active session (crashed owner) past grace from its last heartbeat', () => {
    const deadline = T0 + policy.gracePeriodMs;
    expect(sweepAction(active(), deadline - 1, policy)).toBe('none');
    expect(sweepAction(active(), deadline, policy)).toBe('expire');
    expect(ok(transition(active(), { type: 'expire' }, deadline, policy)).status).toBe('expired');
  });

  it('expires a recovered session like any other', () => {
    const recovered = ok(transition(disconnected(), recoverBy('B'), T0 + 1000, policy));
    const again = ok(transition(recovered, { type: 'disconnect' }, T0 + 2000, policy));
    expect(sweepAction(again, T0 + 2000 + policy.gracePeriodMs, policy)).toBe('expire');
    expect(sweepAction(recovered, T0 + 1000 + policy.gracePeriodMs, policy)).toBe('expire');
  });

  it('does not expire what is already expired or closed', () => {
    for (const status of ['expired', 'closed'] as const) {
      const record = active({ status, endedAt: T0 });
      expect(transition(record, { type: 'expire' }, T0 + 1, policy)).toEqual({
        ok: false,
        reason: 'not_due',
      });
    }
  });
});

describe('close: any → closed', () => {
  it.each([
    ['active', active()],
    ['disconnected', disconnected()],
    ['stale', active()],
    ['expired', active({ status: 'expired', endedAt: T0 })],
  ] as const)('closes a %s session and starts its tombstone', (_, record) => {
    const now = T0 + policy.staleAfterMs;
    expect(ok(transition(record, { type: 'close' }, now, policy))).toMatchObject({
      status: 'closed',
      version: record.version + 1,
      endedAt: now,
      dueAt: now + policy.tombstoneMs,
    });
  });

  it('by a client: only its own principal, only while live', () => {
    const owned = active({ principal: 'alice' });
    expect(transition(owned, { type: 'close', by: { principal: 'mallory' } }, T0, policy)).toEqual({
      ok: false,
      reason: 'principal_mismatch',
    });
    expect(
      transition(active({ principal: null }), { type: 'close', by: { principal: 'alice' } }, T0, policy),
    ).toEqual({
      ok: false,
      reason: 'principal_mismatch',
    });
    expect(ok(transition(owned, { type: 'close', by: { principal: 'alice' } }, T0, policy)).status).toBe(
      'closed',
    );
    const ended = active({ status: 'expired', endedAt: T0, principal: 'alice' });
    expect(transition(ended, { type: 'close', by: { principal: 'alice' } }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_live',
    });
  });

  it('is idempotent on a closed session', () => {
    const closed = ok(transition(active(), { type: 'close' }, T0, policy));
    expect(transition(closed, { type: 'close' }, T0 + 5, policy)).toEqual({
      ok: true,
      changed: false,
      record: closed,
    });
  });
});

describe('tombstone: expired or closed, after tombstoneMs → deleted', () => {
  it.each(['expired', 'closed'] as const)('deletes a %s record once its tombstone has run out', (status) => {
    const record = active({ status, endedAt: T0 });
    expect(sweepAction(record, T0 + policy.tombstoneMs - 1, policy)).toBe('none');
    expect(sweepAction(record, T0 + policy.tombstoneMs, policy)).toBe('delete');
  });

  it('keeps a tombstone without an end time', () => {
    expect(sweepAction(active({ status: 'expired', endedAt: null }), T0 + 10 ** 12, policy)).toBe('none');
  });
});

describe('transition is pure', () => {
  it('never mutates its input and always writes a higher version', () => {
    const record = Object.freeze(disconnected());
    const snapshot = structuredClone(record);
    const events = [{ type: 'disconnect' }, recoverBy('B'), { type: 'expire' }, { type: 'close' }] as const;
    for (const event of events) {
      const result = transition(record, event, record.graceExpiresAt! + 1, policy);
      if (result.ok && result.changed) expect(result.record.version).toBe(record.version + 1);
    }
    expect(record).toEqual(snapshot);
  });
});

describe('hand_off: active → active with no owner, until its idle deadline', () => {
  const IDLE = 4 * 3_600_000;
  const idlePolicy: LifecyclePolicy = { ...policy, idleTimeoutMs: IDLE };
  const handedOff = (lastActiveAt: number, now: number, record = active()) =>
    ok(transition(record, { type: 'hand_off', lastActiveAt }, now, idlePolicy));

  it('writes the last use as lastHeartbeatAt and its idle deadline as graceExpiresAt and dueAt', () => {
    const record = handedOff(T0 + 1000, T0 + 5000);
    expect(record).toMatchObject({
      status: 'active',
      ownerId: null,
      lastHeartbeatAt: T0 + 1000,
      graceExpiresAt: T0 + 1000 + IDLE,
      dueAt: T0 + 1000 + IDLE,
      disconnectedAt: null,
      recoveryAttempts: 0,
      version: 2,
    });
  });

  it('is attachable, uncounted, until the deadline though stale; then the sweep expires it as idle', () => {
    const record = handedOff(T0, T0);
    const deadline = T0 + IDLE;
    expect(isStale(record, deadline - 1, idlePolicy)).toBe(true);
    expect(canAttach(record, 'alice', deadline - 1, idlePolicy)).toBe(true);
    expect(canAttach(record, 'alice', deadline, idlePolicy)).toBe(false);
    expect(sweepAction(record, deadline - 1, idlePolicy)).toBe('none');
    expect(sweepAction(record, deadline, idlePolicy)).toBe('expire');
    const attached = ok(
      transition(record, { type: 'resume', ownerId: 'B', principal: 'alice' }, deadline - 1, idlePolicy),
    );
    expect(attached).toMatchObject({ ownerId: 'B', recoveryAttempts: 0, graceExpiresAt: null });
    const expired = ok(transition(record, { type: 'expire' }, deadline, idlePolicy));
    expect(expiryCause(expired)).toBe('idle');
    expect(expiryCause(ok(transition(disconnected(), { type: 'expire' }, T0 + 600_000, idlePolicy)))).toBe(
      'grace',
    );
  });

  it('a later use on another holder moves the deadline out, an earlier one does not move it back', () => {
    const first = handedOff(T0 + 10_000, T0 + 20_000);
    const later = handedOff(T0 + 15_000, T0 + 30_000, first);
    expect(later.graceExpiresAt).toBe(T0 + 15_000 + IDLE);
    expect(
      transition(later, { type: 'hand_off', lastActiveAt: T0 + 12_000 }, T0 + 40_000, idlePolicy),
    ).toMatchObject({ ok: true, changed: false });
  });

  it('a last use in the future is taken as now; with no last use, now', () => {
    expect(handedOff(T0 + 99_000, T0).graceExpiresAt).toBe(T0 + IDLE);
    expect(ok(transition(active(), { type: 'hand_off' }, T0 + 7, idlePolicy)).graceExpiresAt).toBe(
      T0 + 7 + IDLE,
    );
  });

  it('idleTimeoutMs Infinity: a deadline that never comes, stored as a plain safe integer', () => {
    const never = { ...policy, idleTimeoutMs: Number.POSITIVE_INFINITY };
    expect(idleDeadline(T0, never)).toBe(NEVER_DUE_AT);
    expect(Number.isSafeInteger(NEVER_DUE_AT)).toBe(true);
    const record = ok(transition(active(), { type: 'hand_off', lastActiveAt: T0 }, T0, never));
    expect(sweepAction(record, T0 + 100 * 365 * 86_400_000, never)).toBe('none');
  });

  it('the default idle timeout is 24 hours; a record handed off by an older version keeps its old deadline', () => {
    expect(idleDeadline(T0, policy)).toBe(T0 + 86_400_000);
    const legacy = { ...active(), ownerId: null };
    expect(graceDeadline(legacy, policy)).toBe(activeDueAt(legacy.lastHeartbeatAt, policy));
  });

  it('refuses a session that is not active', () => {
    expect(transition(disconnected(), { type: 'hand_off', lastActiveAt: T0 }, T0, idlePolicy)).toEqual({
      ok: false,
      reason: 'not_live',
    });
  });
});
