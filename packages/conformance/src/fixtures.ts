/**
 * Shared fixtures for conformance tests and adapters' own tests: a clock the test moves by hand,
 * record builders, and batching for the big counts.
 */
import type { Clock, JsonObject, SessionRecord, SessionStatus, SessionStore } from '@mcp-sessions/core';
import { livenessOf, type SessionLiveness } from '@mcp-sessions/core/adapter';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** A clock that only moves when told to. Starts near the real time (adapters may set native TTLs). */
export class TestClock implements Clock {
  constructor(private current: number = Date.now()) {}

  now(): number {
    return this.current;
  }

  /** Moves forward by `ms` and returns the new time. */
  advance(ms: number): number {
    this.current += ms;
    return this.current;
  }

  set(at: number): void {
    this.current = at;
  }
}

/**
 * A valid record as the lifecycle would create it: `active`, version 1, due 10 minutes after `now`.
 * `overrides` win, so `makeRecord('a', now, { status: 'closed', endedAt: now })` builds a tombstone.
 */
export function makeRecord(id: string, now: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    status: 'active',
    version: 1,
    principal: null,
    ownerId: 'conformance',
    createdAt: now,
    lastHeartbeatAt: now,
    disconnectedAt: null,
    graceExpiresAt: null,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: null,
    dueAt: now + 10 * MINUTE,
    workingDirectory: null,
    metadata: null,
    initializeParams: null,
    ...overrides,
  };
}

/** A record in `status`, with the timestamps that status implies. */
export function recordWithStatus(id: string, now: number, status: SessionStatus): SessionRecord {
  switch (status) {
    case 'active':
      return makeRecord(id, now);
    case 'disconnected':
      return makeRecord(id, now, {
        status,
        disconnectedAt: now,
        graceExpiresAt: now + 10 * MINUTE,
        dueAt: now + 10 * MINUTE,
      });
    case 'expired':
    case 'closed':
      return makeRecord(id, now, { status, endedAt: now, dueAt: now + HOUR });
  }
}

/**
 * The next version of `record` with `patch` applied, as a writer about to compare-and-set builds it.
 * Only liveness fields may change: a record's identity is written once, by `insert`.
 */
export function bump(record: SessionRecord, patch: Partial<SessionLiveness> = {}): SessionRecord {
  return { ...record, ...patch, version: record.version + 1 };
}

/**
 * `store.compareAndSet(next.id, livenessOf(next), expectedVersion)`: writes `next` as the manager
 * does, its liveness only.
 */
export function compareAndSetRecord(
  store: SessionStore,
  next: SessionRecord,
  expectedVersion: number,
): Promise<boolean> {
  return store.compareAndSet(next.id, livenessOf(next), expectedVersion);
}

/** `prefix-000042`: ASCII ids whose binary order is their numeric order. */
export function sessionId(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(6, '0')}`;
}

/** A small JSON-RPC message, the kind an MCP event log holds. */
export function rpcMessage(n: number, extra: JsonObject = {}): JsonObject {
  return { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: n, ...extra } };
}

/** Runs `work` over `items`, `size` at a time in parallel: fast on network stores, bounded on all. */
export async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => work(item, i + j)))));
  }
  return out;
}

/** The order `list` promises: `createdAt` descending, then `id` descending, binary. */
export function compareListOrder(
  a: Pick<SessionRecord, 'createdAt' | 'id'>,
  b: Pick<SessionRecord, 'createdAt' | 'id'>,
): number {
  return b.createdAt - a.createdAt || compareBinary(b.id, a.id);
}

/** Code-unit order: SQL's binary collation (`COLLATE "C"`), Redis, JS `<`. */
export function compareBinary(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
