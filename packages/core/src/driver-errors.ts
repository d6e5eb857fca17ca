/**
 * Wrapping driver errors, for adapters. Apart from `errors.ts` so that `@mcp-sessions/core/adapter`
 * can bundle it while the error classes it creates stay the root entry's own (see tsup.config.ts).
 */
import { McpSessionsError, StoreError, StoreUnavailableError } from './errors';

/** Node socket error codes: the backend cannot be reached right now. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Whether `error`, one of its causes, or one error of an `AggregateError` is a Node socket error. */
export function isNetworkError(error: unknown, depth = 0): boolean {
  if (depth > 4 || typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isNetworkError(x, depth + 1))) return true;
  return isNetworkError(e.cause, depth + 1);
}

/**
 * How an adapter turns a driver error into this hierarchy: errors of the hierarchy pass
 * through; `unavailable(error)` gives `StoreUnavailableError`, anything else `StoreError`, with
 * the message `${context}: ${the driver's message}` and the driver's error as `cause`.
 */
export function toStoreError(
  error: unknown,
  context: string,
  unavailable: (error: unknown) => boolean,
): McpSessionsError {
  if (error instanceof McpSessionsError) return error;
  const message = `${context}: ${error instanceof Error ? error.message : String(error)}`;
  return unavailable(error)
    ? new StoreUnavailableError(message, { cause: error })
    : new StoreError(message, { cause: error });
}
