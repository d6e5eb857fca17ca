/**
 * A session's and a task's statuses: the lowest file of the contract, so the errors and the
 * store contract both name them without importing each other.
 */

export type SessionStatus = 'active' | 'disconnected' | 'expired' | 'closed';

/** Every status, in lifecycle order. */
export const SESSION_STATUSES: readonly SessionStatus[] = ['active', 'disconnected', 'expired', 'closed'];

/** For adapters parsing what they read back. */
export function isSessionStatus(value: unknown): value is SessionStatus {
  return (SESSION_STATUSES as readonly unknown[]).includes(value);
}

/** Statuses of a session that may still be used or recovered: those whose `endedAt` is null. */
export const LIVE_STATUSES: readonly SessionStatus[] = ['active', 'disconnected'];

/** A task's statuses (MCP's Tasks extension; `task-store.ts` re-exports it). */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
