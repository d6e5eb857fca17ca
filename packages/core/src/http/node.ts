import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
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
 * The same handler for Node: converts `req` to a `Request` and writes the `Response` to `res`
 * once at the edge. Each chunk of a streamed (SSE) response is written the moment the transport
 * produces it, headers first, with no timer in between; a client that goes away cancels the
 * stream. `req.auth` (set by the SDK's bearer-auth middleware) is passed on as `authInfo`.
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
    const response = await web(toRequest(req, parsedBody !== undefined), { parsedBody, authInfo });
    await writeResponse(response, res);
  };
  return Object.assign(handler, { web, close: (options?: CloseOptions) => web.close(options) });
}

// --- Internal helpers ---

/** `req` as a web `Request`; its body streams from `req` unless a framework consumed it already. */
function toRequest(req: IncomingMessage, consumed: boolean): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  const url = `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  const method = req.method ?? 'GET';
  const hasBody = !consumed && method !== 'GET' && method !== 'HEAD';
  return new Request(url, {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Node's fetch needs this for a streamed request body.
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/** Writes `response` to `res`: a JSON answer in one write, a stream chunk by chunk as it comes. */
async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 1) headers['set-cookie'] = cookies;
  if (!response.body) {
    res.writeHead(response.status, headers).end();
    return;
  }
  const streaming = (response.headers.get('content-type') ?? '').includes('text/event-stream');
  if (!streaming) {
    const body = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, { ...headers, 'content-length': String(body.length) }).end(body);
    return;
  }
  res.writeHead(response.status, headers);
  res.flushHeaders();
  const reader = response.body.getReader();
  // The client went away (or the server is closing its connections): stop the stream upstream.
  const onClose = () => void reader.cancel().catch(() => undefined);
  res.once('close', onClose);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
    }
    res.end();
  } catch {
    // The stream failed or was cancelled because the connection closed: nothing more to send.
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}
