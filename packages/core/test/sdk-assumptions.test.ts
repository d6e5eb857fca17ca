/**
 * Every assumption `src/http/sdk-assumptions.ts` makes about SDK internals, checked against each
 * pinned SDK version (v1 1.32.2, v1 1.25.2 under an npm alias, v2 2.4.0): a release that breaks
 * one fails here, by name, before any integration test goes strange. The transport is driven
 * with web-standard `Request`s, a real server connected to it, and a recording event store.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HandlerTransport, TransportClass, TransportEventStore } from '../src/http/handler';
import type { WireMessage } from '../src/http/link';
import {
  dnsRebindingRefusal,
  endAfterEvents,
  isJsonRpcMessage,
  isPrimingEvent,
  loadDefaultTransportClass,
  MAX_BATCH_SIZE,
  refusedMessages,
  SDK_TRANSPORT_MODULES,
  SdkNotFoundError,
  STANDALONE_STREAM_ID,
  UNSTORED_EVENT_ID,
} from '../src/http/sdk-assumptions';
import { modernRequest } from './fixtures/modern-request';

type Version = '1.32.2' | '1.25.2' | '2.4.0';
const VERSIONS: Version[] = ['1.32.2', '1.25.2', '2.4.0'];

/** The low-level server surface used here (the same in both lines). */
interface LowServer {
  connect(transport: never): Promise<void>;
  notification(notification: { method: string; params?: Record<string, unknown> }): Promise<void>;
}
interface Line {
  Transport: TransportClass;
  newServer(): LowServer;
}

async function line(version: Version): Promise<Line> {
  const server = (McpServer: new (info: object, options: object) => { server: unknown }) => () =>
    new McpServer({ name: 'assumptions', version: '1' }, { capabilities: { logging: {} } })
      .server as LowServer;
  if (version === '1.32.2') {
    const [http, mcp] = await Promise.all([
      import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
      import('@modelcontextprotocol/sdk/server/mcp.js'),
    ]);
    return {
      Transport: http.WebStandardStreamableHTTPServerTransport,
      newServer: server(mcp.McpServer as never),
    };
  }
  if (version === '1.25.2') {
    const [http, mcp] = await Promise.all([
      import('mcp-sdk-1-25/server/webStandardStreamableHttp.js'),
      import('mcp-sdk-1-25/server/mcp.js'),
    ]);
    return {
      Transport: http.WebStandardStreamableHTTPServerTransport as unknown as TransportClass,
      newServer: server(mcp.McpServer as never),
    };
  }
  const v2 = await import('@modelcontextprotocol/server');
  return {
    Transport: v2.WebStandardStreamableHTTPServerTransport as unknown as TransportClass,
    newServer: server(v2.McpServer as never),
  };
}

/** Records every `storeEvent` call; ids are `e<n>`. */
function recordingStore(): TransportEventStore & { stored: { streamId: string; message: unknown }[] } {
  const stored: { streamId: string; message: unknown }[] = [];
  return {
    stored,
    storeEvent: async (streamId, message) => {
      stored.push({ streamId, message });
      return `e${stored.length}`;
    },
    replayEventsAfter: async () => '',
  };
}

const URL_ = 'http://127.0.0.1/mcp';
const PROTOCOL = '2025-11-25';
const POST_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request(URL_, {
    method: 'POST',
    headers: { ...POST_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
}

/** An initialized session on a fresh transport and server. */
async function session(version: Version, events = recordingStore()) {
  const { Transport, newServer } = await line(version);
  const transport = new Transport({ sessionIdGenerator: () => 's1', eventStore: events });
  const server = newServer();
  await server.connect(transport as never);
  const init = await transport.handleRequest(
    post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'a', version: '1' } },
    }),
  );
  expect(init.status).toBe(200);
  await init.text();
  const session = { 'mcp-session-id': 's1', 'mcp-protocol-version': PROTOCOL };
  const ack = await transport.handleRequest(
    post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session),
  );
  expect(ack.status).toBe(202);
  return { transport, server, events, session };
}

/** Every chunk of an SSE body until `count` chunks arrived (or the body ended). */
async function chunks(response: Response, count: number): Promise<string[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const out: string[] = [];
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    out.push(decoder.decode(value));
  }
  await reader.cancel();
  return out;
}

/** One complete SSE event: lines, one blank line at the end, nothing after it. */
function isOneEvent(chunk: string): boolean {
  return chunk.endsWith('\n\n') && chunk.slice(0, -2).split('\n\n').length === 1 && !chunk.startsWith(':');
}

describe.each(VERSIONS)('SDK internals the integration relies on, SDK %s', (version) => {
  it('1. the standalone GET stream is stored under "_GET_stream"', async () => {
    const { transport, server, events, session: headers } = await session(version);
    const get = await transport.handleRequest(
      new Request(URL_, { headers: { accept: 'text/event-stream', ...headers } }),
    );
    expect(get.status).toBe(200);
    await server.notification({ method: 'notifications/message', params: { level: 'info', data: 'hi' } });
    const written = await chunks(get, 1);
    expect(written[0]).toContain('"data":"hi"');
    const note = events.stored.find((e) => (e.message as WireMessage).method === 'notifications/message');
    expect(note?.streamId).toBe(STANDALONE_STREAM_ID);
  });

  it('2. only request streams are primed, with {}, and each request gets a stream id of its own', async () => {
    const { transport, events, session: headers } = await session(version);
    const get = await transport.handleRequest(
      new Request(URL_, { headers: { accept: 'text/event-stream', ...headers } }),
    );
    expect(get.status).toBe(200);
    const before = events.stored.length;
    const streams: string[] = [];
    for (const id of [2, 3]) {
      const response = await transport.handleRequest(post({ jsonrpc: '2.0', id, method: 'ping' }, headers));
      const written = await chunks(response, 2);
      expect(written[0]).toContain('id: e');
      const primed = events.stored.filter((e) => isPrimingEvent(e.message)).at(-1);
      expect(primed?.message).toEqual({});
      streams.push(primed!.streamId);
    }
    expect(events.stored.slice(before).filter((e) => isPrimingEvent(e.message))).toHaveLength(2);
    expect(new Set(streams).size).toBe(2);
    expect(streams).not.toContain(STANDALONE_STREAM_ID);
    expect(events.stored.some((e) => e.streamId === STANDALONE_STREAM_ID && isPrimingEvent(e.message))).toBe(
      false,
    );
    expect(isPrimingEvent({ jsonrpc: '2.0', method: 'x' })).toBe(false);
  });

  it('3. the transport writes one chunk per SSE event', async () => {
    const { transport, server, session: headers } = await session(version);
    const get = await transport.handleRequest(
      new Request(URL_, { headers: { accept: 'text/event-stream', ...headers } }),
    );
    for (let n = 0; n < 3; n++) {
      await server.notification({ method: 'notifications/message', params: { level: 'info', data: n } });
    }
    const request = await transport.handleRequest(post({ jsonrpc: '2.0', id: 3, method: 'ping' }, headers));
    const written = [...(await chunks(get, 3)), ...(await chunks(request, 2))];
    expect(written).toHaveLength(5);
    for (const chunk of written) expect(isOneEvent(chunk), JSON.stringify(chunk)).toBe(true);
  });

  it('6. a request-stream message stored under the empty id is written without an id line, and its response still ends the stream', async () => {
    const recording = recordingStore();
    const unstored: typeof recording = {
      ...recording,
      storeEvent: async (streamId, message) => {
        const id = await recording.storeEvent(streamId, message);
        return isPrimingEvent(message) ? id : UNSTORED_EVENT_ID;
      },
    };
    const { transport, session: headers } = await session(version, unstored);
    const response = await transport.handleRequest(post({ jsonrpc: '2.0', id: 7, method: 'ping' }, headers));
    expect(response.status).toBe(200);
    const written = await chunks(response, 10); // ends by itself after the response
    expect(written).toHaveLength(2);
    expect(written[0]).toMatch(/^id: e\d+\n/m);
    expect(written[1]).toContain('"id":7');
    expect(written[1]).toContain('"result"');
    expect(written[1]).not.toMatch(/^id:/m);
  });

  it('4. OPTIONS asks only the DNS-rebinding question: 403 for a foreign Host or Origin, else 405', async () => {
    const { Transport } = await line(version);
    const guard: HandlerTransport = new Transport({
      sessionIdGenerator: () => 'guard',
      enableDnsRebindingProtection: true,
      allowedHosts: ['good.example'],
      allowedOrigins: ['http://good.example'],
    });
    const ask = (headers: Record<string, string>) =>
      guard.handleRequest(new Request(URL_, { method: 'OPTIONS', headers }));
    expect((await ask({ host: 'good.example' })).status).toBe(405);
    expect((await ask({ host: 'evil.example' })).status).toBe(403);
    expect((await ask({ host: 'good.example', origin: 'http://evil.example' })).status).toBe(403);
    const request = (host: string) => new Request(URL_, { method: 'POST', headers: { host } });
    expect((await dnsRebindingRefusal(guard, request('evil.example')))?.status).toBe(403);
    expect(await dnsRebindingRefusal(guard, request('good.example'))).toBeUndefined();
  });

  it('7. a POST of more than 100 messages is refused with 400, before any is handled (1.25.2: no limit)', async () => {
    const { transport, session: headers } = await session(version);
    const notes = (n: number) =>
      Array.from({ length: n }, () => ({ jsonrpc: '2.0', method: 'notifications/x' }));
    const over = await transport.handleRequest(post(notes(MAX_BATCH_SIZE + 1), headers));
    if (version === '1.25.2') {
      expect(over.status).toBe(202);
    } else {
      const ours = refusedMessages(notes(MAX_BATCH_SIZE + 1))!;
      expect(over.status).toBe(ours.status);
      expect(((await over.json()) as { error: unknown }).error).toEqual(
        ((await ours.json()) as { error: unknown }).error,
      );
    }
    expect((await transport.handleRequest(post(notes(MAX_BATCH_SIZE), headers))).status).toBe(202);
    expect(refusedMessages(notes(MAX_BATCH_SIZE))).toBeUndefined();
  });

  it('8. the transport refuses a POST exactly when isJsonRpcMessage refuses one of its messages', async () => {
    const { transport, session: headers } = await session(version);
    for (const sample of JSON_RPC_SAMPLES) {
      const answer = await transport.handleRequest(post([sample], headers));
      await answer.body?.cancel();
      expect(answer.status === 400, JSON.stringify(sample)).toBe(!isJsonRpcMessage(sample));
    }
    const ours = refusedMessages({ jsonrpc: '2.0', id: 1, result: [] })!;
    const theirs = await transport.handleRequest(post({ jsonrpc: '2.0', id: 1, result: [] }, headers));
    expect(theirs.status).toBe(ours.status);
    expect(((await theirs.json()) as { error: unknown }).error).toEqual(
      ((await ours.json()) as { error: unknown }).error,
    );
  });
});

/** Valid and invalid messages; none is a request the server would answer slowly. */
const JSON_RPC_SAMPLES: unknown[] = [
  { jsonrpc: '2.0', method: 'notifications/x' },
  { jsonrpc: '2.0', method: 'notifications/x', params: { a: 1 } },
  { jsonrpc: '2.0', id: 'AbCdEfGh.1', result: {} },
  { jsonrpc: '2.0', id: 1, result: { anything: [1] } },
  { jsonrpc: '2.0', id: 1, error: { code: -1, message: 'm' } },
  { jsonrpc: '2.0', id: 1, error: { code: -1, message: 'm', data: { x: 1 } } },
  { jsonrpc: '2.0', error: { code: -1, message: 'm' } },
  { jsonrpc: '2.0', id: 99, method: 'ping' },
  {},
  'text',
  3,
  null,
  [],
  { jsonrpc: '1.0', method: 'notifications/x' },
  { method: 'notifications/x' },
  { jsonrpc: '2.0', method: 7 },
  { jsonrpc: '2.0', method: 'notifications/x', params: [1] },
  { jsonrpc: '2.0', method: 'notifications/x', extra: 1 },
  { jsonrpc: '2.0', id: 1.5, method: 'ping' },
  { jsonrpc: '2.0', id: null, method: 'ping' },
  { jsonrpc: '2.0', id: 1, method: 'ping', extra: 1 },
  { jsonrpc: '2.0', id: 1, result: [] },
  { jsonrpc: '2.0', id: 1, result: 'ok' },
  { jsonrpc: '2.0', result: {} },
  { jsonrpc: '2.0', id: { a: 1 }, result: {} },
  { jsonrpc: '2.0', id: 1, result: {}, extra: 1 },
  { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'm' } },
  { jsonrpc: '2.0', id: null, error: { code: -1, message: 'm' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'm' } },
  { jsonrpc: '2.0', id: 1, error: { code: 1, message: 2 } },
  { jsonrpc: '2.0', id: 1, error: 'm' },
  { jsonrpc: '2.0', id: 1 },
];

describe('the helpers built on those assumptions', () => {
  it('endAfterEvents passes n events (comment chunks uncounted) and then ends the body', async () => {
    const encoder = new TextEncoder();
    const parts = [
      'id: 1\ndata: {}\n\n',
      ': keepalive\n\n',
      'id: 2\ndata: {"a":1}\n\n',
      'id: 3\ndata: {}\n\n',
    ];
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        const part = parts[pulled++];
        if (part === undefined) return; // never ends by itself, like a live SSE stream
        controller.enqueue(encoder.encode(part));
      },
    });
    const ended = endAfterEvents(new Response(source, { status: 200 }), 2);
    expect(await ended.text()).toBe(parts.slice(0, 3).join(''));
  });

  it('5. the default transport: v1 when installed, else v2; neither is a typed error', async () => {
    const v1 = await import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js');
    const v2 = await import('@modelcontextprotocol/server');
    expect(await loadDefaultTransportClass()).toBe(v1.WebStandardStreamableHTTPServerTransport);
    const withoutV1 = (specifier: string) =>
      specifier.startsWith('@modelcontextprotocol/sdk')
        ? Promise.reject(new Error(`Cannot find package '${specifier}'`))
        : import(specifier);
    expect(await loadDefaultTransportClass(withoutV1)).toBe(v2.WebStandardStreamableHTTPServerTransport);
    const none = (specifier: string) => Promise.reject(new Error(`Cannot find package '${specifier}'`));
    const error = await loadDefaultTransportClass(none).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdkNotFoundError);
    expect((error as SdkNotFoundError).tried).toHaveLength(SDK_TRANSPORT_MODULES.length);
  });

  it('the http integration imports no SDK value at load (types only), so it loads with either line alone', () => {
    const dir = join(__dirname, '../src/http');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8');
      const valueImports = [
        ...source.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'(@modelcontextprotocol\/[^']+)'/gms),
      ];
      expect(valueImports.map((m) => `${file}: ${m[1]}`)).toEqual([]);
    }
  });
});

describe('SDK v2 2.4.0 internals the Tasks extension relies on', () => {
  async function modernCall(
    build: (server: import('@modelcontextprotocol/server').McpServer) => void,
    method: string,
    params: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const { createMcpHandler, McpServer } = await import('@modelcontextprotocol/server');
    const handler = createMcpHandler(
      () => {
        const server = new McpServer({ name: 'assumptions', version: '1' });
        build(server);
        return server;
      },
      { legacy: 'reject' },
    );
    const response = await handler.fetch(modernRequest(method, params));
    return (await response.json()) as Record<string, unknown>;
  }
  type Stored = (request: unknown, ctx: unknown) => Promise<unknown>;

  it('9. handlers live in _requestHandlers by method (read by _getRequestHandler); McpServer sets tools/call by its first tool', async () => {
    const answer = await modernCall(
      (server) => {
        const low = server.server as unknown as {
          _requestHandlers: Map<string, Stored>;
          _getRequestHandler(method: string): Stored | undefined;
        };
        expect(low._getRequestHandler('tools/call')).toBeUndefined();
        server.registerTool('plain', {}, async () => ({ content: [{ type: 'text', text: 'plain' }] }));
        const stored = low._getRequestHandler('tools/call');
        expect(stored).toBeTypeOf('function');
        expect(low._requestHandlers.get('tools/call')).toBe(stored);
        low._requestHandlers.set('tools/call', async (request, ctx) => ({
          ...((await stored!(request, ctx)) as object),
          routed: true,
        }));
      },
      'tools/call',
      { name: 'plain', arguments: {} },
    );
    expect(answer).toMatchObject({
      result: { content: [{ text: 'plain' }], resultType: 'complete', routed: true },
    });
  });

  it('10. params.inputResponses reaches a custom method handler as ctx.mcpReq.inputResponses', async () => {
    let seen: unknown;
    await modernCall(
      (server) =>
        server.server.setRequestHandler(
          'tasks/update',
          {
            params: {
              '~standard': { version: 1, vendor: 'test', validate: (value: unknown) => ({ value }) },
            },
          },
          (params: unknown, ctx: { mcpReq: { inputResponses?: unknown } }) => {
            seen = { params, lifted: ctx.mcpReq.inputResponses };
            return {};
          },
        ),
      'tasks/update',
      { taskId: 't', inputResponses: { a: { action: 'accept' }, b: { method: 'elicitation/create' } } },
    );
    expect(seen).toMatchObject({ lifted: { a: { action: 'accept' } } });
    expect((seen as { lifted: object }).lifted).not.toHaveProperty('b');
    expect((seen as { params: object }).params).not.toHaveProperty('inputResponses');
  });

  it('11. a task result from tools/call reaches the wire as returned, plus content: []', async () => {
    const task = {
      resultType: 'task',
      taskId: 't',
      status: 'working',
      createdAt: 'c',
      lastUpdatedAt: 'u',
      ttlMs: 1,
    };
    const answer = await modernCall(
      (server) => {
        server.registerTool('x', {}, async () => ({ content: [] }));
        server.server.setRequestHandler('tools/call', async () => task as never);
      },
      'tools/call',
      { name: 'x', arguments: {} },
    );
    const { _meta, ...result } = answer.result as Record<string, unknown>;
    expect(result).toEqual({ ...task, content: [] });
  });
});
