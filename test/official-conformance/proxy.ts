/**
 * A round-robin HTTP proxy for the official conformance runs: every request goes to the next
 * backend in turn (no stickiness), streamed both ways (SSE included), Host header unchanged.
 * It notes which backend received each POST that carries only JSON-RPC responses (a client's
 * answers to the server's requests), can send those away from the instance that asked, and can
 * hold all traffic while the caller restarts the backend (the restart mode): after each accepted
 * `initialize`, and before each 2026-07-28 retry that echoes a `requestState`.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  /** Called after each `initialize` answered 200; requests wait until it resolves. */
  afterInitialize?: () => Promise<void>;
  /**
   * Called before forwarding a POST whose request echoes `params.requestState` (a 2026-07-28
   * multi round-trip retry); it and later requests wait until it resolves.
   */
  beforeStateRetry?: () => Promise<void>;
  /**
   * Send every POST that carries only responses to a backend other than the one that served the
   * last POST carrying a request (a balancer at its worst for the server's questions: the
   * client's answer always lands on an instance that did not ask). Default false: plain round-robin.
   */
  answersElsewhere?: boolean;
}

export interface RunningProxy {
  url: string;
  /** `127.0.0.1:<port>`: the Host header clients send through the proxy. */
  host: string;
  /** The backends' ports, in round-robin order (set once they listen). */
  setBackends(ports: number[]): void;
  /** Backend port of every POST that carried only JSON-RPC responses, in order. */
  answersRoutedTo(): number[];
  close(): Promise<void>;
}

export async function startProxy(options: ProxyOptions = {}): Promise<RunningProxy> {
  let backends: number[] = [];
  let next = 0;
  let lastRequestPort: number | undefined;
  const answers: number[] = [];
  /** Resolves when traffic may flow (a restart after `initialize` holds it). */
  let gate: Promise<void> = Promise.resolve();

  const server = createServer(async (req, res) => {
    const body = await readAll(req);
    await gate;
    const message = parseJson(body);
    if (req.method === 'POST' && options.beforeStateRetry && echoesRequestState(message)) {
      const restart = options.beforeStateRetry;
      gate = restart();
      await gate;
    }
    const answer = req.method === 'POST' && isOnlyResponses(message);
    let port = backends[next++ % backends.length]!;
    if (answer && options.answersElsewhere && port === lastRequestPort) {
      port = backends[next++ % backends.length]!;
    }
    if (answer) answers.push(port);
    else if (req.method === 'POST' && hasRequest(message)) lastRequestPort = port;
    const initialize = req.method === 'POST' && isInitialize(message);
    const upstream = httpRequest(
      // A fresh connection per request: no keep-alive reuse across a backend restart.
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        if (initialize && upRes.statusCode === 200 && options.afterInitialize) {
          const restart = options.afterInitialize;
          let release = () => {};
          gate = new Promise((done) => {
            release = done;
          });
          // After the client has the whole answer (session id included): then the backend goes.
          upRes.once('end', () => void restart().finally(release));
        }
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    host: `127.0.0.1:${port}`,
    setBackends: (ports) => {
      backends = [...ports];
    },
    answersRoutedTo: () => [...answers],
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isOnlyResponses(message: unknown): boolean {
  const messages = Array.isArray(message) ? message : [message];
  return (
    messages.length > 0 &&
    messages.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        'id' in m &&
        !('method' in m) &&
        ('result' in m || 'error' in m),
    )
  );
}

function hasRequest(message: unknown): boolean {
  const messages = Array.isArray(message) ? message : [message];
  return messages.some((m) => typeof m === 'object' && m !== null && 'id' in m && 'method' in m);
}

function echoesRequestState(message: unknown): boolean {
  const params = (message as { params?: { requestState?: unknown } } | undefined)?.params;
  return typeof params?.requestState === 'string';
}

function isInitialize(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { method?: unknown }).method === 'initialize'
  );
}
