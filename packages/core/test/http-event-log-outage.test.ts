/**
 * A request in flight when the store under the event log drops (issue #22, item 1): a real
 * redis-server is stopped while a slow tool sends progress, and started again. The call must end
 * with its result, the failure must be logged, and a resume after the store is back, on the
 * instance that ran the request or on another one, must replay the result, never an empty stream.
 * Real HTTP, the official v1 SDK client.
 */
import { RedisSessionStore } from '@mcp-sessions/redis';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { startRedis } from '../../../test/services';
import { createEventStore, createNodeSessionHandler } from '../src/http/index';
import type { Logger } from '../src/index';
import { SessionManager } from '../src/index';
import { listen, loadSdk, type Sdk, type SdkVersion } from './fixtures/http-app';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 60_000 });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const V1_SDKS: SdkVersion[] = ['1.32.2', '1.25.2'];
/** The call must end well within this, store down or not (the client's own timeout is longer). */
const CALL_BOUND_MS = 10_000;

interface Sse {
  id?: string;
  message: { id?: unknown; method?: string; params?: { progress?: number }; result?: unknown };
}

function sseEvents(text: string): Sse[] {
  const events: Sse[] = [];
  for (const block of text.split('\n\n')) {
    const data = block.split('\n').find((l) => l.startsWith('data: '));
    if (!data || data === 'data: ') continue;
    const id = block.split('\n').find((l) => l.startsWith('id: '));
    events.push({ id: id?.slice(4), message: JSON.parse(data.slice(6)) as Sse['message'] });
  }
  return events;
}

function capturingLogger(lines: string[]): Logger {
  const at = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe.each(V1_SDKS)('SDK %s: the event log store drops while a request runs', (version) => {
  let sdk: Sdk;
  beforeAll(async () => {
    sdk = await loadSdk(version);
  });

  /** A server whose `slow` tool sends progress 1, waits for `resume`, then sends the rest and answers. */
  function slowServer(resume: Promise<void>) {
    return () => {
      const server = new sdk.McpServer({ name: 'outage', version: '1' }, { capabilities: { logging: {} } });
      server.registerTool(
        'slow',
        { inputSchema: { steps: z.number().int().min(2) } },
        async ({ steps }, extra) => {
          const progressToken = extra._meta?.progressToken;
          for (let progress = 1; progress <= steps; progress++) {
            if (progressToken !== undefined) {
              await extra.sendNotification({
                method: 'notifications/progress',
                params: { progressToken, progress, total: steps },
              });
            }
            if (progress === 1) await resume;
          }
          return { content: [{ type: 'text' as const, text: 'done' }] };
        },
      );
      return server;
    };
  }

  it('the call ends with its result, the failure is logged, and a resume once the store is back replays the result on either instance', async () => {
    const redis = await startRedis({ appendonly: true });
    cleanups.push(() => redis.stop());
    let storeDown!: () => void;
    const resume = new Promise<void>((resolve) => {
      storeDown = resolve;
    });
    const logged: string[] = [];
    const instance = async (id: string) => {
      const store = new RedisSessionStore({ url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 });
      cleanups.push(() => store.close());
      const manager = new SessionManager({ store, timers: false, instanceId: id, logger: false });
      cleanups.push(() => manager.dispose());
      const handler = createNodeSessionHandler({
        manager,
        createServer: slowServer(resume),
        transportClass: sdk.transportClass,
        eventStore: createEventStore(manager),
        logger: capturingLogger(logged),
      });
      cleanups.push(() => handler.close());
      const http = await listen(handler);
      cleanups.push(() => http.close());
      return http;
    };
    const a = await instance('a');
    const b = await instance('b');

    const client = new sdk.Client({ name: 'outage-client', version: '1' });
    const transport = new sdk.StreamableHTTPClientTransport(new URL(a.url));
    await client.connect(transport);
    cleanups.push(() => client.close());

    const progress: number[] = [];
    const tokens: string[] = [];
    const started = Date.now();
    const result = await client.callTool({ name: 'slow', arguments: { steps: 3 } }, undefined, {
      timeout: 3 * CALL_BOUND_MS,
      onprogress: (p) => {
        progress.push(p.progress);
        // The store goes away after the client saw the first progress; the tool then goes on.
        if (p.progress === 1) void redis.stop().then(storeDown);
      },
      onresumptiontoken: (token) => tokens.push(token),
    });
    expect(Date.now() - started).toBeLessThan(CALL_BOUND_MS);
    expect(result.content).toEqual([{ type: 'text', text: 'done' }]);
    expect(progress).toEqual([1, 2, 3]);
    expect(logged.some((l) => l.startsWith('error event log unavailable'))).toBe(true);

    // The client's last id is the last event the log holds: progress 1.
    const lastEventId = tokens.at(-1)!;
    const resumeOn = (url: string) =>
      fetch(url, {
        headers: {
          accept: 'text/event-stream',
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': '2025-11-25',
          'last-event-id': lastEventId,
        },
      });
    await redis.start();
    for (const url of [a.url, b.url]) {
      // Until the store answers again a resume is refused (503); the first one served has the result.
      const served = await vi.waitFor(
        async () => {
          const response = await resumeOn(url);
          if (response.status !== 200) await response.body?.cancel();
          expect(response.status).toBe(200);
          return sseEvents(await response.text());
        },
        { timeout: 20_000, interval: 200 },
      );
      const answer = served.at(-1)?.message;
      expect(served.slice(0, -1).map((e) => e.message.params?.progress)).toEqual([2, 3]);
      expect(answer?.result).toEqual({ content: [{ type: 'text', text: 'done' }] });
      expect(served.every((e) => e.id !== undefined && e.id !== '')).toBe(true);
    }
  });
});
