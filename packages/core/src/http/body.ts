/** Reading request bodies without buffering more than a limit (not exported from the package). */

import { jsonRpcError } from './answers';
import type { HandleOptions } from './wire';

/** The body as text, or undefined once it grows past `max` bytes (the rest is never read). */
export async function readCapped(request: Request, max: number): Promise<string | undefined> {
  if (Number(request.headers.get('content-length') ?? '0') > max) return undefined;
  if (!request.body) return '';
  const reader = request.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
}

/** The POST body as JSON: the framework's parsed body, or the request's read as a capped stream. */
export async function parsedBody(
  request: Request,
  handleOptions: HandleOptions,
  max: number,
): Promise<unknown | Response> {
  if (handleOptions.parsedBody !== undefined) return handleOptions.parsedBody;
  const text = await readCapped(request, max);
  if (text === undefined) return jsonRpcError(413, -32000, `Payload too large (max ${max} bytes)`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return jsonRpcError(400, -32700, 'Parse error: Invalid JSON');
  }
}

/** What a 2026-07-28 (stateless) leg accepts at most: SDK v2's default, 4 MiB. */
export const MODERN_MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * A POST read and parsed once, for whoever routes on it before a handler that would read it
 * again: the request with its body as sent (a fresh stream), and the JSON (undefined when it is
 * not JSON: the handler answers that its own way). A 413 past `max`, nothing more read.
 */
export async function readOnce(
  request: Request,
  handleOptions: HandleOptions,
  max = MODERN_MAX_BODY_BYTES,
): Promise<{ request: Request; parsedBody: unknown } | Response> {
  if (request.method !== 'POST' || handleOptions.parsedBody !== undefined || !request.body) {
    return { request, parsedBody: handleOptions.parsedBody };
  }
  const text = await readCapped(request, max);
  if (text === undefined) return jsonRpcError(413, -32000, `Payload too large (max ${max} bytes)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    parsed = undefined;
  }
  return { request: new Request(request, { body: text }), parsedBody: parsed };
}
