/**
 * Everything the HTTP integration assumes about the MCP SDK beyond its typed public API, in one
 * place, each checked against every pinned SDK version (v1 1.25.2 and 1.32.2, v2 2.4.x) by
 * `test/sdk-assumptions.test.ts`: when an SDK release breaks one, that test names it.
 *
 * 1. The standalone (GET) stream's id, as the transport gives it to the event store.
 * 2. Priming events: the transport stores `{}` to give a stream its first id; never replayed. Only
 *    request streams are primed, and each request's stream has a fresh id.
 * 3. The transport writes one chunk per SSE event (keep-alive comments, v2 only, are chunks of
 *    their own), so an SSE response can be ended after n events without parsing it.
 * 4. The transport checks Host and Origin before anything else and answers a method it does not
 *    support with 405, so an OPTIONS request asks only the DNS-rebinding question.
 * 5. Where each SDK line exports the sessionful web-standard transport (public, but the one
 *    place the integration imports an SDK value).
 * 6. A request-stream message whose `storeEvent` resolves to the empty id is written to its open
 *    stream without an `id:` line (the client keeps the last id it got), and a response so written
 *    still ends the stream. (A `storeEvent` that throws makes the transport drop the message and
 *    leave the stream open: never let it throw there.)
 * 7. A POST carries at most `MAX_BATCH_SIZE` (100) messages; the transport refuses more with 400
 *    (v1 1.32+ and v2; v1 1.25 has no limit, and the handler applies it there too).
 * 8. The transport checks every posted message against the JSON-RPC message schema and refuses
 *    the whole POST with 400 "Parse error" when one fails; `isJsonRpcMessage` is that check.
 *
 * The Tasks extension (`tasks-extension.ts`, SDK v2 only) assumes three more:
 * 9. A server keeps its request handlers, each wrapped once by the SDK, in the private map
 *    `_requestHandlers` by method (read by the protected `_getRequestHandler`); McpServer sets its
 *    `tools/call` handler in its constructor (with `capabilities.tools`) or at its first tool. The
 *    extension stores a router there that sends task calls to its own wrapped handler and every
 *    other call to McpServer's, so no call is wrapped (its `requestState` verified) twice.
 * 10. SDK v2 lifts `params.inputResponses` off every request into `ctx.mcpReq.inputResponses`
 *     (entries that look like requests dropped), `tasks/update`'s included.
 * 11. A `tools/call` result with `resultType: 'task'` reaches the 2026-07-28 wire as returned,
 *     plus an empty `content` array the SDK adds to a result without one.
 *
 * SDK v1's experimental tasks (`v1-task-store.ts`, `v1-task-queue.ts`; protocol 2025-11-25)
 * assume two more, checked on 1.32.2 and 1.25.2 by `test/v1-tasks.test.ts`:
 * 12. The `TaskStore` and `TaskMessageQueue` shapes declared in `wire.ts` fit both versions'
 *     interfaces (tsc checks the assignment).
 * 13. A queued request's answer (and a queued reply) is settled by a promise in the memory of the
 *     server that queued it, found by that server's own request id; 1.32 passes the session id
 *     to every queue call, 1.25 passes none to `enqueue` for requests and notifications nor to
 *     `dequeueAll`.
 */
import { McpSessionsError } from '../errors';
import type { HandlerTransport, TransportClass } from './wire';

/** 1. The SDK's id of the standalone GET stream (server-initiated messages). */
export const STANDALONE_STREAM_ID = '_GET_stream';

/** 2. A priming event as the transport stores it: an empty object that only carries an id. */
export function isPrimingEvent(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    !Array.isArray(message) &&
    Object.keys(message).length === 0
  );
}

/** 6. The event id under which a message goes to its stream unstored: written with no `id:` line. */
export const UNSTORED_EVENT_ID = '';

/** 3. The same SSE response, ended after its first `events` events (comment chunks pass, uncounted). */
export function endAfterEvents(response: Response, events: number): Response {
  const reader = response.body!.getReader();
  let left = events;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left === 0) {
        controller.close();
        await reader.cancel();
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else {
        if (!isSseComment(value)) left--;
        controller.enqueue(value);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

/** An SSE chunk made of comment lines only (`: keepalive`): no event. */
function isSseComment(chunk: Uint8Array): boolean {
  return chunk.length > 0 && chunk[0] === 0x3a; // ':'
}

/**
 * 4. The SDK transport's own DNS-rebinding answer (403) for `request`, or undefined when it
 * passes: an OPTIONS request with the same URL, Host and Origin is refused with 403 or, having
 * passed the check, answered 405.
 */
export async function dnsRebindingRefusal(
  guard: HandlerTransport,
  request: Request,
): Promise<Response | undefined> {
  const headers: Record<string, string> = {};
  for (const name of ['host', 'origin']) {
    const value = request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const answer = await guard.handleRequest(new Request(request.url, { method: 'OPTIONS', headers }));
  return answer.status === 403 ? answer : undefined;
}

/** 5. Where each SDK line exports `WebStandardStreamableHTTPServerTransport`, in the order tried. */
export const SDK_TRANSPORT_MODULES = [
  '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js',
  '@modelcontextprotocol/server',
] as const;

/** Loads a module by name (`import()` by default; tests pass one that hides a line). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const importModule: ModuleImporter = (specifier) => import(specifier);

/**
 * The installed SDK's `WebStandardStreamableHTTPServerTransport`: v1's when
 * `@modelcontextprotocol/sdk` is installed (so v1 users see no change), else v2's from
 * `@modelcontextprotocol/server`. With both installed and a v2 server, pass `transportClass`.
 */
export function loadDefaultTransportClass(importer?: ModuleImporter): Promise<TransportClass> {
  if (importer) return findTransportClass(importer);
  // The installed SDK does not change while the process runs: resolve it once for every handler.
  defaultTransportClass ??= findTransportClass(importModule).catch((error: unknown) => {
    defaultTransportClass = undefined;
    throw error;
  });
  return defaultTransportClass;
}

let defaultTransportClass: Promise<TransportClass> | undefined;

async function findTransportClass(importer: ModuleImporter): Promise<TransportClass> {
  const failures: string[] = [];
  for (const specifier of SDK_TRANSPORT_MODULES) {
    let loaded: unknown;
    try {
      loaded = await importer(specifier);
    } catch (error) {
      failures.push(`${specifier}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      continue;
    }
    const found = (loaded as { WebStandardStreamableHTTPServerTransport?: unknown } | null)
      ?.WebStandardStreamableHTTPServerTransport;
    if (typeof found === 'function') return found as TransportClass;
    failures.push(`${specifier}: no WebStandardStreamableHTTPServerTransport export`);
  }
  throw new SdkNotFoundError(failures);
}

/**
 * Neither SDK line is installed and no `transportClass` was given: a deployment fault (answered
 * 500 and logged), not the client's.
 */
export class SdkNotFoundError extends McpSessionsError {
  constructor(readonly tried: string[]) {
    super(
      'INVALID_ARGUMENT',
      `no MCP SDK found: install @modelcontextprotocol/sdk 1.25+ or @modelcontextprotocol/server 2.x, or pass transportClass (tried ${tried.join('; ')})`,
    );
  }
}

/** 7. The most messages one POST may carry (the SDK's `MAX_BATCH_SIZE`). */
export const MAX_BATCH_SIZE = 100;

/**
 * 7 and 8. The transport's answer to a POST body it refuses before handling any message (a batch
 * over the limit, an invalid message), or undefined when it would handle the messages. Checked
 * before anything is routed to another instance, so a refused POST publishes nothing.
 */
export function refusedMessages(body: unknown): Response | undefined {
  if (Array.isArray(body) && body.length > MAX_BATCH_SIZE) {
    return refusal(-32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);
  }
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  if (messages.every(isJsonRpcMessage)) return undefined;
  return refusal(-32700, 'Parse error: Invalid JSON-RPC message');
}

/**
 * 8. A JSON-RPC request, notification, result or error, as the SDK's `JSONRPCMessageSchema`
 * parses it: `jsonrpc: "2.0"`, ids strings or integers, no members beyond each shape's.
 */
export function isJsonRpcMessage(value: unknown): boolean {
  if (!isObject(value) || value.jsonrpc !== '2.0') return false;
  const has = (key: string) => Object.hasOwn(value, key);
  if (has('method')) {
    if (typeof value.method !== 'string' || (has('params') && !isObject(value.params))) return false;
    return has('id') ? isRequestId(value.id) && only(value, REQUEST_KEYS) : only(value, NOTIFICATION_KEYS);
  }
  if (has('result')) return isRequestId(value.id) && isObject(value.result) && only(value, RESULT_KEYS);
  if (!has('error') || (has('id') && !isRequestId(value.id)) || !only(value, ERROR_KEYS)) return false;
  const error = value.error;
  return isObject(error) && Number.isInteger(error.code) && typeof error.message === 'string';
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const NOTIFICATION_KEYS = new Set(['jsonrpc', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);
const ERROR_KEYS = new Set(['jsonrpc', 'id', 'error']);

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRequestId(id: unknown): boolean {
  return typeof id === 'string' || Number.isInteger(id);
}

function only(value: { [key: string]: unknown }, keys: ReadonlySet<string>): boolean {
  return Object.keys(value).every((key) => keys.has(key));
}

function refusal(code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status: 400 });
}
