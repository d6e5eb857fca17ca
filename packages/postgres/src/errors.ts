/**
 * What a pg error means, for the store and the bus alike: one rule for "the server is not
 * reachable right now".
 */
import { isNetworkError } from '@mcp-sessions/core/adapter';

/** SQLSTATEs that mean "the server is not reachable right now" (class 08 too, see below). */
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, in recovery)
  '57014', // query_canceled: statement_timeout
  '53300', // too_many_connections
]);
const UNAVAILABLE_MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|not queryable|query read timeout|connection ended|the database system is (starting|shutting)/i;

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Unreachable, shutting down, timed out: the errors that become `StoreUnavailableError`. */
export function isUnavailable(error: unknown): boolean {
  if (isNetworkError(error)) return true;
  const code = errorCode(error);
  if (code !== undefined && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message);
}
