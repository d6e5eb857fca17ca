import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

import {
  type BusSdk,
  connectBusClient,
  loadBusSdk,
  toolJson,
} from '../../../packages/core/test/fixtures/bus-app';
import { startProxy } from '../../../packages/core/test/fixtures/http-proxy';
import { freePort, type ServerProcess } from '../src/spawn';
import { backends, cleanups, server } from './fixtures/processes';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 60_000 });

const BUS_SERVER = fileURLToPath(new URL('./fixtures/bus-server.ts', import.meta.url));
const BACKENDS = backends('multi-instance');

async function busServers(spec: string, count: number) {
  const servers: ServerProcess[] = [];
  for (let i = 0; i < count; i++) {
    const env = {
      PORT: String(await freePort()),
      MCP_SESSIONS_STORE: spec,
      MCP_SESSIONS_INSTANCE_ID: `p${i}`,
    };
    servers.push(await server(env, BUS_SERVER));
  }
  const ports = servers.map((s) => Number(new URL(s.url).port));
  // The GET stream (the only request without a body) is cut after 3 events, once: the client
  // resumes it with Last-Event-ID, on the other process.
  const proxy = await startProxy(ports, { cutSseAfterEvents: 3, cutWhen: (body) => body === '' });
  cleanups.push(() => proxy.close());
  return { servers, proxy };
}

describe.each(BACKENDS)('two processes on $name behind a round-robin proxy', ({ spec }) => {
  const clientVersions = ['1.32.2', '1.25.2'] as const;

  it.skipIf(!spec).each(clientVersions)(
    'every live message crosses instances (client SDK %s)',
    async (version) => {
      const sdk: BusSdk = await loadBusSdk(version);
      const { servers, proxy } = await busServers(spec!(), 2);
      const { client, notifications } = await connectBusClient(sdk, proxy.url);
      cleanups.push(() => client.close());

      const askedFrom = new Set<unknown>();
      for (let round = 0; round < 2; round++) {
        const elicited = toolJson(await client.callTool({ name: 'elicit', arguments: {} }));
        expect(elicited).toMatchObject({ action: 'accept', content: { name: 'Ada' } });
        const sampled = toolJson(await client.callTool({ name: 'sample', arguments: {} }));
        expect(sampled.answer).toBe('sampled');
        // Three progress notifications, then the answer, posted to alternating processes (so the
        // answer can land on the asker while progress is still on the bus): all arrive, in order.
        const progressed = toolJson(await client.callTool({ name: 'sample_with_progress', arguments: {} }));
        expect(progressed).toMatchObject({ answer: 'sampled', progress: [1, 2, 3] });
        const roots = toolJson(await client.callTool({ name: 'roots', arguments: { standalone: false } }));
        expect(roots.roots).toEqual(['file:///work']);
        const standaloneRoots = toolJson(
          await client.callTool({ name: 'roots', arguments: { standalone: true } }),
        );
        expect(standaloneRoots.roots).toEqual(['file:///work']);
        expect(toolJson(await client.callTool({ name: 'ping_client', arguments: {} })).pinged).toBe(true);
        for (const r of [elicited, sampled, progressed, roots, standaloneRoots]) askedFrom.add(r.instance);
        await client.ping(); // the next round asks from the other process
      }
      expect([...askedFrom].sort()).toEqual(['p0', 'p1']);

      const controller = new AbortController();
      const waiting = client.callTool({ name: 'wait', arguments: {} }, undefined, {
        signal: controller.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      controller.abort('no longer needed');
      await expect(waiting).rejects.toThrow();
      await vi.waitFor(
        () =>
          expect(
            servers.flatMap((s) => s.lines.filter((l) => l.includes('aborted')).map((l) => l.slice(25))),
          ).toEqual([expect.stringMatching(/^aborted instance=p[01]$/)]),
        { timeout: 10_000 },
      );

      for (let n = 1; n <= 10; n++) await client.callTool({ name: 'broadcast', arguments: { n } });
      await vi.waitFor(() => expect(notifications).toHaveLength(10), { timeout: 15_000 });
      expect(notifications).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(proxy.cuts()).toBeGreaterThanOrEqual(1); // the GET stream was cut and resumed elsewhere
    },
  );
});

describe.each(BACKENDS.filter((b) => b.name !== 'redis-cluster'))(
  'first requests after the owner shut down, on $name',
  ({ spec }) => {
    it.skipIf(!spec)(
      '3 processes × 8 sessions, every first request at once: no 404, one recovery each',
      async () => {
        const store = spec!();
        const env = (instance: string) => ({
          PORT: '0',
          MCP_SESSIONS_STORE: store,
          MCP_SESSIONS_INSTANCE_ID: instance,
          MCP_SESSIONS_SHUTDOWN: 'disconnect',
        });
        const owner = await server({ ...env('owner'), PORT: String(await freePort()) });
        const sessions: string[] = [];
        for (let i = 0; i < 8; i++) {
          const res = await fetch(owner.url, {
            method: 'POST',
            headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 1,
              method: 'initialize',
              params: {
                protocolVersion: '2025-06-18',
                capabilities: {},
                clientInfo: { name: `c${i}`, version: '1' },
              },
            }),
          });
          await res.body?.cancel();
          sessions.push(res.headers.get('mcp-session-id')!);
        }
        owner.child.kill('SIGTERM');
        await owner.exited;

        const others: ServerProcess[] = [];
        for (const name of ['x', 'y', 'z'])
          others.push(await server({ ...env(name), PORT: String(await freePort()) }));
        const call = (url: string, sessionId: string) =>
          fetch(url, {
            method: 'POST',
            headers: {
              accept: 'application/json, text/event-stream',
              'content-type': 'application/json',
              'mcp-session-id': sessionId,
              'mcp-protocol-version': '2025-06-18',
            },
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 2,
              method: 'tools/call',
              params: { name: 'session_info', arguments: {} },
            }),
          }).then(async (res) => ({ status: res.status, body: await res.text() }));
        const answers = await Promise.all(sessions.flatMap((id) => others.map((o) => call(o.url, id))));
        expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
        for (const id of sessions) {
          const attempts = answers
            .filter((a) => a.body.includes(id))
            .map((a) => /recoveryAttempts\\":(\d+)/.exec(a.body)?.[1]);
          expect(new Set(attempts)).toEqual(new Set(['1']));
        }
      },
    );
  },
);
