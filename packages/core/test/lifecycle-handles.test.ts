/**
 * The pure rules for the stateless era's records: handles (a disconnected record whose grace is
 * the handle's TTL, never a session) and consume-once markers (closed, deleted after their own
 * TTL). No store, no clock: every instant is an argument.
 */

import type { SessionRecord } from '@mcp-sessions/core';
import {
  createHandleRecord,
  createOnceRecord,
  createRecord,
  type LifecyclePolicy,
  RECORD_KIND_KEY,
  recordKind,
  transition,
} from '@mcp-sessions/core/adapter';
import { describe, expect, it } from 'vitest';
import {
  canAttach,
  handleDeadline,
  handleRefusal,
  recoveryRefusal,
  sweepAction,
  tombstoneUntil,
} from '../src/lifecycle';

const T0 = 1_700_000_000_000;
const TTL = 60_000;
const policy: LifecyclePolicy = {
  gracePeriodMs: 600_000,
  maxRecoveryAttempts: 3,
  staleAfterMs: 90_000,
  tombstoneMs: 3_600_000,
};

function handle(principal: string | null = 'alice'): SessionRecord {
  return createHandleRecord({ id: 'h-1', principal, ttlMs: TTL }, T0);
}

function ok(result: ReturnType<typeof transition>): SessionRecord {
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.record;
}

describe('recordKind', () => {
  it('tells sessions, handles and consume-once markers apart by the reserved metadata key', () => {
    expect(recordKind(createRecord({ id: 's', ownerId: 'A' }, T0, policy))).toBe('session');
    expect(recordKind(handle())).toBe('handle');
    expect(recordKind(createOnceRecord('once:x', T0, TTL))).toBe('once');
    const other = createRecord(
      { id: 's', ownerId: 'A', metadata: { [RECORD_KIND_KEY]: 'other' } },
      T0,
      policy,
    );
    expect(recordKind(other)).toBe('session');
  });
});

describe('handles', () => {
  it('are minted disconnected, bound to the principal, due at their own deadline', () => {
    const record = handle();
    expect(record).toMatchObject({
      status: 'disconnected',
      principal: 'alice',
      ownerId: null,
      graceExpiresAt: T0 + TTL,
      dueAt: T0 + TTL,
      version: 1,
    });
    expect(handleDeadline(record)).toBe(T0 + TTL);
    expect(createHandleRecord({ id: 'h', ttlMs: TTL }, T0).principal).toBeNull();
  });

  it('are usable by their principal until the deadline, then expired', () => {
    expect(handleRefusal(handle(), 'alice', T0)).toBeNull();
    expect(handleRefusal(handle(), 'alice', T0 + TTL - 1)).toBeNull();
    expect(handleRefusal(handle(), 'alice', T0 + TTL)).toBe('expired');
    expect(handleRefusal(handle(null), null, T0)).toBeNull();
    expect(handleRefusal(handle(null), undefined, T0)).toBeNull();
  });

  it('read as not found for another principal (even expired), a session, or nothing', () => {
    expect(handleRefusal(handle(), 'bob', T0)).toBe('not_found');
    expect(handleRefusal(handle(), null, T0)).toBe('not_found');
    expect(handleRefusal(handle(), 'bob', T0 + TTL)).toBe('not_found');
    expect(handleRefusal(handle(null), 'alice', T0)).toBe('not_found');
    const session = transition(
      createRecord({ id: 's', ownerId: 'A' }, T0, policy),
      { type: 'disconnect' },
      T0,
      policy,
    );
    expect(handleRefusal(ok(session), null, T0)).toBe('not_found');
    expect(handleRefusal(undefined, null, T0)).toBe('not_found');
    expect(handleRefusal(createOnceRecord('once:x', T0, TTL), null, T0)).toBe('not_found');
  });

  it('are never recovered, resumed, attached or closed by a client as a session', () => {
    const record = handle();
    expect(recoveryRefusal(record, 'alice', T0, policy)).toBe('not_found');
    expect(canAttach(record, 'alice', T0, policy)).toBe(false);
    expect(canAttach({ ...record, status: 'active' }, 'alice', T0, policy)).toBe(false);
    expect(transition(record, { type: 'recover', ownerId: 'B', principal: 'alice' }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(transition(record, { type: 'resume', ownerId: 'B', principal: 'alice' }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(transition(record, { type: 'close', by: { principal: 'alice' } }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(transition(record, { type: 'hand_off' }, T0, policy)).toEqual({ ok: false, reason: 'not_live' });
  });

  it('extend to now + ttl, never earlier, only for their principal and while live', () => {
    const later = ok(
      transition(handle(), { type: 'extend_handle', principal: 'alice', ttlMs: TTL }, T0 + 1_000, policy),
    );
    expect(later).toMatchObject({ graceExpiresAt: T0 + 1_000 + TTL, dueAt: T0 + 1_000 + TTL, version: 2 });
    expect(later.lastHeartbeatAt).toBe(T0 + 1_000);
    const shorter = transition(
      handle(),
      { type: 'extend_handle', principal: 'alice', ttlMs: 1 },
      T0 + 1_000,
      policy,
    );
    expect(shorter).toMatchObject({ ok: true, changed: false });
    expect(transition(handle(), { type: 'extend_handle', principal: 'bob', ttlMs: TTL }, T0, policy)).toEqual(
      {
        ok: false,
        reason: 'not_found',
      },
    );
    expect(
      transition(handle(), { type: 'extend_handle', principal: 'alice', ttlMs: TTL }, T0 + TTL, policy),
    ).toEqual({
      ok: false,
      reason: 'expired',
    });
    const session = createRecord({ id: 's', ownerId: 'A' }, T0, policy);
    expect(transition(session, { type: 'extend_handle', ttlMs: TTL }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_found',
    });
  });

  it('are expired by the sweep at their deadline, then deleted after the tombstone', () => {
    expect(sweepAction(handle(), T0 + TTL - 1, policy)).toBe('none');
    expect(sweepAction(handle(), T0 + TTL, policy)).toBe('expire');
    const expired = ok(transition(handle(), { type: 'expire' }, T0 + TTL, policy));
    expect(expired).toMatchObject({
      status: 'expired',
      endedAt: T0 + TTL,
      dueAt: T0 + TTL + policy.tombstoneMs,
    });
    expect(handleRefusal(expired, 'alice', T0 + TTL)).toBe('expired');
    expect(handleDeadline(expired)).toBeNull();
    expect(tombstoneUntil(expired, policy)).toBe(T0 + TTL + policy.tombstoneMs);
    expect(sweepAction(expired, T0 + TTL + policy.tombstoneMs, policy)).toBe('delete');
  });

  it('closed by an operator read as expired', () => {
    const closed = ok(transition(handle(), { type: 'close' }, T0, policy));
    expect(handleRefusal(closed, 'alice', T0)).toBe('expired');
  });
});

describe('consume-once records', () => {
  it('are closed markers with no principal, deleted after their own TTL, not the tombstone', () => {
    const record = createOnceRecord('once:k', T0, TTL);
    expect(record).toMatchObject({
      status: 'closed',
      principal: null,
      endedAt: T0,
      dueAt: T0 + TTL,
      version: 1,
    });
    expect(tombstoneUntil(record, policy)).toBe(T0 + TTL);
    expect(sweepAction(record, T0 + TTL - 1, policy)).toBe('none');
    expect(sweepAction(record, T0 + TTL, policy)).toBe('delete');
    // A TTL longer than the tombstone is kept too.
    const long = createOnceRecord('once:k', T0, policy.tombstoneMs * 2);
    expect(sweepAction(long, T0 + policy.tombstoneMs, policy)).toBe('none');
  });

  it('are never a session', () => {
    const record = createOnceRecord('once:k', T0, TTL);
    expect(recoveryRefusal(record, null, T0, policy)).toBe('not_found');
    expect(transition(record, { type: 'close', by: { principal: null } }, T0, policy)).toEqual({
      ok: false,
      reason: 'not_found',
    });
  });

  it('leave the tombstone of a closed session as it was', () => {
    const closed = ok(
      transition(createRecord({ id: 's', ownerId: 'A' }, T0, policy), { type: 'close' }, T0, policy),
    );
    expect(tombstoneUntil(closed, policy)).toBe(T0 + policy.tombstoneMs);
    expect(sweepAction(closed, T0 + policy.tombstoneMs - 1, policy)).toBe('none');
    expect(sweepAction(closed, T0 + policy.tombstoneMs, policy)).toBe('delete');
  });
});
