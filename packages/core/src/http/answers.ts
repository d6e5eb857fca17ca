/**
 * The session handler's own answers: a JSON-RPC error with an HTTP status, for what it refuses
 * (400, 404, 405, 413) and for a failure (503 when the store is unavailable, never the driver's
 * text), and which of the manager's refusals mean "no such session here" (404).
 */
import {
  InvalidArgumentError,
  InvalidValueError,
  McpSessionsError,
  RecoveryRefusedError,
  SessionNotFoundError,
  SessionNotLiveError,
  StoreUnavailableError,
} from '../errors';
import type { Logger } from '../options';

/** How the handler answers a failure: 503 when the store is unavailable, 400 for the client's input, else 500. */
export function errorResponse(error: unknown, logger: Logger): Response {
  if (error instanceof StoreUnavailableError) {
    logger.error('session store unavailable', { error });
    return jsonRpcError(503, -32000, 'Session store unavailable', { 'Retry-After': '1' });
  }
  if (error instanceof InvalidValueError || error instanceof InvalidArgumentError) {
    // The client's input (initialize params nested too deep, say): its fault, said without internals.
    logger.warn('request refused', { error, code: error.code });
    return jsonRpcError(400, -32602, `Invalid params: ${error.code}`);
  }
  const code = error instanceof McpSessionsError ? error.code : undefined;
  logger.error('request failed', { error, code });
  return jsonRpcError(500, -32603, 'Internal error');
}

/** The manager's refusals that mean "no such session here": the client must initialize again. */
export function isGone(error: unknown): boolean {
  return (
    error instanceof RecoveryRefusedError ||
    error instanceof SessionNotFoundError ||
    error instanceof SessionNotLiveError
  );
}

export function missingSessionId(): Response {
  return jsonRpcError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
}

export function sessionNotFound(): Response {
  return jsonRpcError(404, -32001, 'Session not found');
}

export function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: string | number | null = null,
): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}
