/**
 * `pnpm start` serves both protocol eras on /mcp, as real processes on one SQLite file: a 2025
 * client (SDK v1) keeps its session across SIGKILL + restart; a 2026-07-28 client (SDK v2,
 * pinned) is served statelessly and keeps its notebook (by handle) across the same restart; the
 * 2025 client reads the notebook the 2026 client wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it, vi } from 'vitest';

import { freePort } from '../src/spawn';
import { cleanups, toolJson as json, server } from './fixtures/processes';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

describe('example server, both eras on one endpoint', () => {
  it('a 2025 session and a 2026-07-28 notebook both survive SIGKILL + restart; the eras share the notebook', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-dual-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = { PORT: String(await freePort()), MCP_SESSIONS_STORE: `sqlite:${join(dir, 'sessions.db')}` };
    const first = await server(env);

    const legacy = new Client({ name: 'legacy-agent', version: '1.0.0' });
    const legacyTransport = new StreamableHTTPClientTransport(new URL(first.url), {
      reconnectionOptions: {
        initialReconnectionDelay: 20,
        maxReconnectionDelay: 200,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 10,
      },
    });
    await legacy.connect(legacyTransport);
    cleanups.push(() => legacy.close());
    const sessionId = legacyTransport.sessionId;
    await legacy.callTool({ name: 'remember', arguments: { key: 'color', value: 'teal' } });

    const modern = new ClientV2(
      { name: 'modern-agent', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await modern.connect(new TransportV2(new URL(first.url)));
    cleanups.push(() => modern.close());
    expect(modern.getProtocolEra()).toBe('modern');
    const { handle } = json(await modern.callTool({ name: 'notebook_open', arguments: {} })) as {
      handle: string;
    };
    expect(handle).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await modern.callTool({ name: 'remember', arguments: { key: 'plan', value: 'ship', handle } });
    // Without a handle there is no state to reach in this era: a clear error, not a guess.
    const refused = await modern.callTool({ name: 'remember', arguments: { key: 'x', value: 'y' } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toMatch(/handle/);
    expect(json(await modern.callTool({ name: 'session_info', arguments: {} }))).toMatchObject({
      sessionId: null,
      era: '2026-07-28',
    });

    first.child.kill('SIGKILL');
    await first.exited;
    await server(env);

    expect(json(await legacy.callTool({ name: 'recall', arguments: { key: 'color' } })).value).toBe('teal');
    expect(legacyTransport.sessionId).toBe(sessionId);
    expect(json(await modern.callTool({ name: 'recall', arguments: { key: 'plan', handle } })).value).toBe(
      'ship',
    );
    // The 2025 client reaches the same notebook (its own agent's entries: none yet, then its write).
    await legacy.callTool({ name: 'remember', arguments: { key: 'seen', value: 'yes', handle } });
    expect(json(await legacy.callTool({ name: 'recall', arguments: { key: 'seen', handle } })).value).toBe(
      'yes',
    );
    expect(
      json(await legacy.callTool({ name: 'recall', arguments: { key: 'plan', handle } })).value,
    ).toBeNull();
  });

  it('a subscriptions/listen client on instance A is told of a remember served by instance B; the notebook reads back as a resource', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-dual-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = `sqlite:${join(dir, 'sessions.db')}`;
    const a = await server({ PORT: String(await freePort()), MCP_SESSIONS_STORE: store });
    const b = await server({ PORT: String(await freePort()), MCP_SESSIONS_STORE: store });

    const modern = async (url: string) => {
      const client = new ClientV2(
        { name: 'modern-agent', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      await client.connect(new TransportV2(new URL(url)));
      cleanups.push(() => client.close());
      return client;
    };
    const listener = await modern(a.url);
    const { handle } = json(await listener.callTool({ name: 'notebook_open', arguments: {} })) as {
      handle: string;
    };
    const uri = `notebook://${handle}`;
    const told = new Promise<string>((resolve) => {
      listener.setNotificationHandler('notifications/resources/updated', (n) => resolve(n.params.uri));
    });
    const subscription = await listener.listen({ resourceSubscriptions: [uri] });
    cleanups.push(() => subscription.close());

    // A 2025-era client on the other process writes to the notebook.
    const legacy = new Client({ name: 'legacy-agent', version: '1.0.0' });
    await legacy.connect(new StreamableHTTPClientTransport(new URL(b.url)));
    cleanups.push(() => legacy.close());
    await legacy.callTool({ name: 'remember', arguments: { key: 'plan', value: 'ship', handle } });
    expect(await told).toBe(uri);

    const read = await listener.readResource({ uri });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toEqual([
      { agentId: 'legacy-agent', key: 'plan', value: 'ship' },
    ]);
  });
});
