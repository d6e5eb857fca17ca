import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, vi } from 'vitest';

import { startProxy } from '../../../packages/core/test/fixtures/http-proxy';
import { freePort } from '../src/spawn';
import { backends, cleanups, toolJson as json, server } from './fixtures/processes';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 60_000 });

const BACKENDS = backends('dual-era backends', ['redis-cluster']);

async function legacyClient(url: string) {
  const client = new Client({ name: 'legacy-agent', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    // Its standalone GET stream breaks with the killed process: retry soon, and not forever.
    reconnectionOptions: {
      initialReconnectionDelay: 20,
      maxReconnectionDelay: 200,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 10,
    },
  });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

async function modernClient(url: string): Promise<ClientV2> {
  const client = new ClientV2(
    { name: 'modern-agent', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(new TransportV2(new URL(url)));
  cleanups.push(() => client.close());
  expect(client.getProtocolEra()).toBe('modern');
  return client;
}

describe.each(BACKENDS)('both eras on one endpoint, two processes on $name', ({ spec }) => {
  it.skipIf(!spec)(
    'a 2025 session and a 2026-07-28 notebook survive SIGKILL + restart and move between instances; listen on one instance is told of a remember on the other',
    async () => {
      const store = spec!();
      const envs = [
        { PORT: String(await freePort()), MCP_SESSIONS_STORE: store, MCP_SESSIONS_INSTANCE_ID: 'p0' },
        { PORT: String(await freePort()), MCP_SESSIONS_STORE: store, MCP_SESSIONS_INSTANCE_ID: 'p1' },
      ];
      const a = await server(envs[0]!);
      const b = await server(envs[1]!);
      const proxy = await startProxy(envs.map((e) => Number(e.PORT)));
      cleanups.push(() => proxy.close());

      const legacy = await legacyClient(proxy.url);
      const sessionId = legacy.transport.sessionId;
      expect(sessionId).toBeTruthy();
      const modern = await modernClient(proxy.url);
      const { handle } = json(await modern.callTool({ name: 'notebook_open', arguments: {} })) as {
        handle: string;
      };
      await legacy.client.callTool({ name: 'remember', arguments: { key: 'color', value: 'teal' } });
      await modern.callTool({ name: 'remember', arguments: { key: 'plan', value: 'ship', handle } });

      // Reads both states and notes which instance served each read, until both instances have.
      // Five requests a round (a ping shifts the parity), so round-robin alternates who serves what.
      const servedBy = { legacy: new Set<unknown>(), modern: new Set<unknown>() };
      const readBoth = async () => {
        servedBy.legacy.clear();
        servedBy.modern.clear();
        for (let round = 0; round < 6 && (servedBy.legacy.size < 2 || servedBy.modern.size < 2); round++) {
          const recalled = json(
            await legacy.client.callTool({ name: 'recall', arguments: { key: 'color' } }),
          );
          expect(recalled.value).toBe('teal');
          const info = json(await legacy.client.callTool({ name: 'session_info', arguments: {} }));
          expect(info.sessionId).toBe(sessionId);
          servedBy.legacy.add(info.instanceId);
          const noted = json(await modern.callTool({ name: 'recall', arguments: { key: 'plan', handle } }));
          expect(noted.value).toBe('ship');
          servedBy.modern.add(
            json(await modern.callTool({ name: 'session_info', arguments: {} })).instanceId,
          );
          await legacy.client.ping();
        }
      };
      await readBoth();
      expect([...servedBy.legacy].sort()).toEqual(['p0', 'p1']);
      expect([...servedBy.modern].sort()).toEqual(['p0', 'p1']);

      // SIGKILL: no hand-off, nothing flushed; the same port comes back with a new process.
      a.child.kill('SIGKILL');
      await a.exited;
      const restarted = await server(envs[0]!);
      await readBoth();
      expect(legacy.transport.sessionId).toBe(sessionId);
      expect([...servedBy.legacy].sort()).toEqual(['p0', 'p1']);
      expect([...servedBy.modern].sort()).toEqual(['p0', 'p1']);

      // The listen stream is pinned to the restarted process; both writes are served by the other.
      const listener = await modernClient(restarted.url);
      const uri = `notebook://${handle}`;
      const told: string[] = [];
      listener.setNotificationHandler('notifications/resources/updated', (n) => void told.push(n.params.uri));
      const subscription = await listener.listen({ resourceSubscriptions: [uri] });
      cleanups.push(() => subscription.close());

      const writerModern = await modernClient(b.url);
      await writerModern.callTool({ name: 'remember', arguments: { key: 'plan', value: 'review', handle } });
      await vi.waitFor(() => expect(told).toEqual([uri]), { timeout: 15_000 });
      const writerLegacy = await legacyClient(b.url);
      await writerLegacy.client.callTool({
        name: 'remember',
        arguments: { key: 'seen', value: 'yes', handle },
      });
      await vi.waitFor(() => expect(told).toEqual([uri, uri]), { timeout: 15_000 });

      const read = await listener.readResource({ uri });
      expect(
        JSON.parse((read.contents[0] as { text: string }).text).sort(
          (x: { key: string }, y: { key: string }) => x.key.localeCompare(y.key),
        ),
      ).toEqual([
        { agentId: 'modern-agent', key: 'plan', value: 'review' },
        { agentId: 'legacy-agent', key: 'seen', value: 'yes' },
      ]);
    },
  );
});
