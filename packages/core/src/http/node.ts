import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import {
  type AuthInfo,
  type CloseOptions,
  createSessionHandler,
  type SessionHandler,
  type SessionHandlerOptions,
} from './handler';

/** The handler for `node:http` and Express: `(req, res, parsedBody?)`. */
export interface NodeSessionHandler {
  (req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void>;
  /** The web-standard handler underneath. */
  readonly web: SessionHandler;
  close(options?: CloseOptions): Promise<void>;
}

/**
 * The same handler for Node: converts `req/res` to `Request/Response` once at the edge (with
 * `@hono/node-server`, as the SDK's own Node transport does), streaming SSE as it goes.
 * `req.auth` (set by the SDK's bearer-auth middleware) is passed on as `authInfo`.
 *
 * @example
 * ```ts
 * const handler = createNodeSessionHandler({ manager, createServer });
 * app.all('/mcp', express.json(), (req, res) => handler(req, res, req.body)); // Express
 * http.createServer((req, res) => handler(req, res)).listen(3000);              // node:http
 * process.on('SIGTERM', () => handler.close());
 * ```
 */
export function createNodeSessionHandler(
  options: SessionHandlerOptions | SessionHandler,
): NodeSessionHandler {
  const web = typeof options === 'function' ? options : createSessionHandler(options);
  const handler = async (req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> => {
    const authInfo = (req as IncomingMessage & { auth?: AuthInfo }).auth;
    const listener = getRequestListener((request) => web(request, { parsedBody, authInfo }), {
      overrideGlobalObjects: false,
    });
    await listener(req, res);
  };
  return Object.assign(handler, { web, close: (options?: CloseOptions) => web.close(options) });
}
