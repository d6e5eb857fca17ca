/**
 * The Node edge adds no timer waits: a resumable (SSE) response's headers and priming event leave
 * the process as soon as the transport produces them, with `setTimeout` frozen, while the tool
 * is still running. (@hono/node-server, which the SDK's Node transport uses, waits a setTimeout
 * tick when the second chunk of a streamed body is not ready: about +1 ms per resumable request.)
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventStore, createNodeSessionHandler } from '../src/http/index';
import { SessionManager } from '../src/index';
import { listen } from './fixtures/http-app';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

describe('Node edge', () => {
  it('flushes the headers and the priming event of a resumable response before the tool resolves, with setTimeout frozen', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const manager = new SessionManager({ store: new MemorySessionStore(), timers: false, logger: false });
    cleanups.push(() => manager.dispose());
    const handler = createNodeSessionHandler({
      manager,
      eventStore: createEventStore(manager),
      logger: false,
      createServer: () => {
        const server = new McpServer({ name: 'edge', version: '1' });
        server.registerTool('gated', {}, async () => {
          await gate;
          return { content: [{ type: 'text', text: 'done' }] };
        });
        return server;
      },
    });
    const http = await listen(handler);
    cleanups.push(() => http.close());
    const init = await fetch(http.url, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'edge', version: '1' },
        },
      }),
    });
    await init.text();
    const sessionId = init.headers.get('mcp-session-id')!;

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { response, firstChunk } = await post(http.port, {
      ...HEADERS,
      'mcp-session-id': sessionId,
      'mcp-protocol-version': '2025-11-25',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/event-stream');
    expect(firstChunk).toMatch(/^id: \d+\./m); // the priming event, its id naming a log position
    release();
    vi.useRealTimers();
  });
});

/** A tools/call POST; resolves with the response head and its first chunk, yielding only with setImmediate. */
function post(
  port: number,
  headers: Record<string, string>,
): Promise<{ response: IncomingMessage; firstChunk: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers },
      (response) => {
        response.setEncoding('utf8');
        response.once('data', (chunk: string) => resolve({ response, firstChunk: chunk }));
      },
    );
    req.on('error', reject);
    req.end(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'gated', arguments: {} },
      }),
    );
  });
}
