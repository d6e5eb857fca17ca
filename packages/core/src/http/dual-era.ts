/**
 * One MCP endpoint for both protocol eras: 2025-era clients (`initialize`, `Mcp-Session-Id`) get
 * sessions through the session handler, so they survive restarts and move between instances;
 * 2026-07-28 clients (stateless, the per-request `_meta` envelope) go to SDK v2's
 * `createMcpHandler`. Which era a request belongs to is decided per request by the SDK's own
 * classification (`isLegacyRequest` from `@modelcontextprotocol/server`), the very code
 * `createMcpHandler` routes with, so the two legs can never disagree about a request.
 */

import { InvalidArgumentError } from '../errors';
import { type LoggerLike, resolveLogger } from '../logger';
import { assertKnownOptions } from '../options';
import { observeStoreFailures } from '../store-failures';
import { readOnce } from './body';
import {
  type CloseOptions,
  createSessionHandler,
  type HandleOptions,
  type SessionHandler,
  type SessionHandlerOptions,
} from './handler';
import { SdkNotFoundError } from './sdk-assumptions';
import { answerStoreFailures } from './store-failure-answer';

/**
 * The 2026-07-28 leg: what SDK v2's `createMcpHandler(factory, { legacy: 'reject' })` returns
 * (structurally: its `fetch` and `close`).
 */
export interface StatelessMcpHandler {
  fetch(request: Request, options?: HandleOptions): Promise<Response>;
  close?(): Promise<void>;
}

/** SDK v2's `isLegacyRequest(request, parsedBody?)`: true for 2025-era traffic. */
export type LegacyRequestClassifier = (request: Request, parsedBody?: unknown) => Promise<boolean>;

export interface DualEraHandlerOptions {
  /** The 2025 era: a session handler, or the options to create one (`createSessionHandler`). */
  sessions: SessionHandler | SessionHandlerOptions;
  /**
   * The 2026-07-28 era: `createMcpHandler(factory, { legacy: 'reject' })` from
   * `@modelcontextprotocol/server` (strict: 2025 traffic never reaches it, this handler routes it).
   */
  stateless: StatelessMcpHandler;
  /**
   * The classification. Default: `isLegacyRequest` from `@modelcontextprotocol/server`, loaded on
   * the first request. Pass it when your v2 handler was created with another
   * `maxRequestBodySize` (`(r, b) => isLegacyRequest(r, b, { maxRequestBodySize })`).
   */
  isLegacyRequest?: LegacyRequestClassifier;
  /**
   * Where a store failure while serving the 2026-07-28 leg is logged (its client gets a plain 503
   * or 500). Default: the session handler's options' `logger`, else warnings and errors on
   * stderr; `false` silences it.
   */
  logger?: LoggerLike | false;
}

/**
 * A web-standard handler serving both eras; it is a `SessionHandler` too, so
 * `createNodeSessionHandler(dualEra)` mounts it on `node:http` and Express unchanged.
 */
export interface DualEraHandler extends SessionHandler {
  /** The 2025 leg. */
  readonly sessions: SessionHandler;
  /** The 2026-07-28 leg. */
  readonly stateless: StatelessMcpHandler;
}

/**
 * Creates the dual-era handler. A request the SDK classifies as legacy (every 2025 POST,
 * `initialize` included, and every GET and DELETE) goes to the session handler; everything else,
 * including the modern leg's own error answers (an unsupported revision, a malformed envelope, a
 * body over the limit), goes to `stateless`.
 *
 * `close()` hands the sessions off (see `SessionHandler.close`) and closes the modern leg.
 *
 * @example
 * ```ts
 * import { createMcpHandler } from '@modelcontextprotocol/server';
 * const handler = createDualEraHandler({
 *   sessions: { manager, createServer: (ctx) => buildSessionServer(ctx), eventStore, bus },
 *   stateless: createMcpHandler(() => buildStatelessServer(), { legacy: 'reject' }),
 * });
 * app.all('/mcp', (c) => handler(c.req.raw));                                   // Hono, Workers
 * http.createServer(createNodeSessionHandler(handler)).listen(3000);            // node:http
 * ```
 */
export function createDualEraHandler(options: DualEraHandlerOptions): DualEraHandler {
  assertKnownOptions(options, DUAL_ERA_OPTIONS, 'createDualEraHandler');
  if (typeof options.stateless?.fetch !== 'function') {
    throw new InvalidArgumentError(
      'stateless',
      "must be SDK v2's createMcpHandler(factory, { legacy: 'reject' }) (an object with fetch)",
    );
  }
  if (options.isLegacyRequest !== undefined && typeof options.isLegacyRequest !== 'function') {
    throw new InvalidArgumentError('isLegacyRequest', 'must be a function (SDK v2 isLegacyRequest)');
  }
  const sessions =
    typeof options.sessions === 'function' ? options.sessions : createSessionHandler(options.sessions);
  const stateless = options.stateless;
  const logger = resolveLogger(
    options.logger ?? (typeof options.sessions === 'function' ? undefined : options.sessions.logger),
  );
  let classify: LegacyRequestClassifier | Promise<LegacyRequestClassifier> | undefined =
    options.isLegacyRequest;

  const isLegacy = async (request: Request, parsedBody: unknown): Promise<boolean> => {
    classify ??= loadIsLegacyRequest();
    try {
      classify = await classify;
    } catch (error) {
      classify = undefined;
      throw error;
    }
    return classify(request, parsedBody);
  };

  const handler = async (request: Request, handleOptions: HandleOptions = {}): Promise<Response> => {
    // Read and parse a POST body once, for the classifier and the modern leg (each would again).
    // The session leg reads the body as sent, under its own limits (1 MiB for an initialize).
    const read = await readOnce(request, handleOptions);
    if (read instanceof Response) return read;
    request = read.request;
    const parsedBody = read.parsedBody;
    if (await isLegacy(request, parsedBody)) return sessions(request, handleOptions);
    const modern = parsedBody === undefined ? handleOptions : { ...handleOptions, parsedBody };
    // A store failure the SDK turned into a 200 with the driver's text is answered as the session leg does.
    const { result, failures } = await observeStoreFailures(() => stateless.fetch(request, modern));
    return answerStoreFailures(result, failures, logger);
  };
  return Object.assign(handler, {
    sessions,
    stateless,
    liveSessionIds: () => sessions.liveSessionIds(),
    close: async (closeOptions?: CloseOptions) => {
      await Promise.all([sessions.close(closeOptions), stateless.close?.()]);
    },
  });
}

// --- Internal helpers ---

const DUAL_ERA_OPTIONS = Object.keys({
  sessions: true,
  stateless: true,
  isLegacyRequest: true,
  logger: true,
} satisfies Record<keyof DualEraHandlerOptions, true>);

async function loadIsLegacyRequest(): Promise<LegacyRequestClassifier> {
  const specifier = '@modelcontextprotocol/server';
  let loaded: { isLegacyRequest?: unknown };
  try {
    loaded = (await import(specifier)) as { isLegacyRequest?: unknown };
  } catch (error) {
    throw new SdkNotFoundError([
      `${specifier}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    ]);
  }
  if (typeof loaded.isLegacyRequest !== 'function') {
    throw new SdkNotFoundError([`${specifier}: no isLegacyRequest export`]);
  }
  return loaded.isLegacyRequest as LegacyRequestClassifier;
}
