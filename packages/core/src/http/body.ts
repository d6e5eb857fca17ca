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
