/**
 * The modern leg's answer when a store failed while it served a request. SDK v2's
 * `createMcpHandler` answers a handler's thrown error with HTTP 200 and the error's message (a
 * tool's `isError` result, a JSON-RPC error), which for a store failure is the driver's text
 * (`redis HMGET: The client is offline`). A failed answer is replaced by the session leg's: 503
 * with Retry-After when the store was unavailable, else 500; the error goes to the logger.
 */
import { StoreUnavailableError } from '../errors';
import type { Logger } from '../options';
import { jsonRpcError } from './answers';

/**
 * `response`, or the store-failure answer when the request failed and `failures` is not empty.
 * Only a JSON answer can still change status; a streamed one (SSE) is passed on as it is.
 */
export async function answerStoreFailures(
  response: Response,
  failures: readonly Error[],
  logger: Logger,
): Promise<Response> {
  if (failures.length === 0 || !isJson(response)) return response;
  const text = await response.text();
  const answer = parseJson(text);
  if (!isFailed(answer)) {
    // The handler recovered (a fallback, a retry): its answer stands, the failure is noted.
    logger.debug('store failure handled by the request handler', { error: failures[0] });
    return new Response(text, response);
  }
  const id = requestId(answer);
  const unavailable = failures.find((error) => error instanceof StoreUnavailableError);
  if (unavailable) {
    logger.error('session store unavailable', { error: unavailable });
    return jsonRpcError(503, -32000, 'Session store unavailable', { 'Retry-After': '1' }, id);
  }
  logger.error('request failed', { error: failures[0], code: (failures[0] as { code?: unknown }).code });
  return jsonRpcError(500, -32603, 'Internal error', {}, id);
}

// --- Internal helpers ---

function isJson(response: Response): boolean {
  return response.headers.get('content-type')?.includes('application/json') === true;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // not an answer this module understands: passed on as it is
  }
}

/** A JSON-RPC error, or a tool's `isError` result. */
function isFailed(answer: unknown): boolean {
  if (typeof answer !== 'object' || answer === null) return false;
  const { error, result } = answer as { error?: unknown; result?: { isError?: unknown } };
  return error !== undefined || (typeof result === 'object' && result !== null && result.isError === true);
}

function requestId(answer: unknown): string | number | null {
  const id = (answer as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
