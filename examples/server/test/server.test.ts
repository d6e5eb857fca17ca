import { createServer, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it, vi } from 'vitest';

import { startProxy } from '../../../packages/core/test/fixtures/http-proxy';
import { freePort } from '../src/spawn';
import { cleanups, toolJson as json, runToExit, server, tempSqlite } from './fixtures/processes';

// Real processes and sockets on a shared 2-core machine: generous, never a speed assertion.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const REDIS_URL = process.env.MCP_SESSIONS_TEST_REDIS_URL;
const POSTGRES_URL = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
if (!REDIS_URL)
  console.warn('example-server: MCP_SESSIONS_TEST_REDIS_URL unset: the Redis two-instance test is SKIPPED');
if (!POSTGRES_URL) {
  console.warn(
    'example-server: MCP_SESSIONS_TEST_POSTGRES_URL unset: the Postgres two-instance test is SKIPPED',
  );
}

async function connect(url: string) {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  const notifications: unknown[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    notifications.push(n.params.data);
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    reconnectionOptions: {
      initialReconnectionDelay: 20,
      maxReconnectionDelay: 200,
      reconnectionDelayGrowFactor: 1.5,
      maxRetries: 10,
    },
  });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, notifications };
}

describe('example server, real processes', () => {
  it('restart: SIGKILL, a new process on the same SQLite file, same client, same session, recall works', async () => {
    const env = { PORT: String(await freePort()), MCP_SESSIONS_STORE: tempSqlite() };
    const first = await server(env);
    const { client, transport } = await connect(first.url);
    const sessionId = transport.sessionId;
    await client.callTool({ name: 'remember', arguments: { key: 'color', value: 'teal' } });
    first.child.kill('SIGKILL');
    await first.exited;

    await server(env);
    expect(json(await client.callTool({ name: 'recall', arguments: { key: 'color' } })).value).toBe('teal');
    expect(transport.sessionId).toBe(sessionId);
    const info = json(await client.callTool({ name: 'session_info', arguments: {} }));
    expect(info).toMatchObject({ sessionId, status: 'active', agent: 'test-agent' });
  });

  const shared: [string, () => string | undefined][] = [
    ['SQLite', () => tempSqlite()],
    ['Redis', () => REDIS_URL],
    ['Postgres', () => POSTGRES_URL],
  ];
  for (const [name, storeOf] of shared) {
    const store = storeOf();
    it.skipIf(!store)(
      `two instances sharing ${name} behind a round-robin proxy: 200 calls, one session`,
      async () => {
        const a = await server({
          PORT: String(await freePort()),
          MCP_SESSIONS_STORE: store!,
          MCP_SESSIONS_INSTANCE_ID: 'a',
        });
        const b = await server({
          PORT: String(await freePort()),
          MCP_SESSIONS_STORE: store!,
          MCP_SESSIONS_INSTANCE_ID: 'b',
        });
        const ports = [a.url, b.url].map((u) => Number(new URL(u).port));
        const proxy = await startProxy(ports);
        cleanups.push(() => proxy.close());
        const { client, transport } = await connect(proxy.url);
        const served = new Map<string, number>();
        for (let i = 0; i < 200; i++) {
          if (i % 3 === 2) {
            await client.callTool({ name: 'remember', arguments: { key: 'i', value: String(i) } });
            continue;
          }
          const info = json(await client.callTool({ name: 'session_info', arguments: {} }));
          expect(info.sessionId).toBe(transport.sessionId);
          served.set(String(info.instanceId), (served.get(String(info.instanceId)) ?? 0) + 1);
        }
        expect(served.get('a')).toBeGreaterThan(0);
        expect(served.get('b')).toBeGreaterThan(0);
        expect(json(await client.callTool({ name: 'recall', arguments: { key: 'i' } })).value).toBe('197');
        const info = json(await client.callTool({ name: 'session_info', arguments: {} }));
        expect(info.recoveryAttempts).toBe(0);
      },
    );

    it.skipIf(!store)(
      `two instances sharing ${name}: a countdown cut mid-way resumes on either instance, each step once, in order`,
      async () => {
        const servers = await Promise.all(
          ['a', 'b'].map(async (id) =>
            server({
              PORT: String(await freePort()),
              MCP_SESSIONS_STORE: store!,
              MCP_SESSIONS_INSTANCE_ID: id,
            }),
          ),
        );
        const proxy = await startProxy(
          servers.map((s) => Number(new URL(s.url).port)),
          { cutSseAfterEvents: 4, cutWhen: (body) => body.includes('"countdown"') },
        );
        cleanups.push(() => proxy.close());
        const { client, notifications } = await connect(proxy.url);
        const result = json(
          await client.callTool({ name: 'countdown', arguments: { from: 10, intervalMs: 20 } }),
        );
        expect(result).toMatchObject({ done: true });
        expect(proxy.cuts()).toBe(1);
        // The client's resumed GETs went to both instances: one replayed from the shared store.
        expect(new Set(proxy.resumedOn()).size).toBe(2);
        expect(notifications).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      },
    );
  }

  it('resumption: a countdown cut by the proxy is resumed with Last-Event-ID, each step once, in order', async () => {
    const s = await server({ PORT: String(await freePort()), MCP_SESSIONS_STORE: tempSqlite() });
    const proxy = await startProxy([Number(new URL(s.url).port)], {
      cutSseAfterEvents: 5,
      cutWhen: (body) => body.includes('"countdown"'),
    });
    cleanups.push(() => proxy.close());
    const { client, notifications } = await connect(proxy.url);
    const result = json(
      await client.callTool({ name: 'countdown', arguments: { from: 12, intervalMs: 20 } }),
    );
    expect(result).toMatchObject({ done: true });
    expect(proxy.cuts()).toBe(1);
    expect(notifications).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });
});

describe('example server, failing to start: one line on stderr, no stack, no password', () => {
  it('a spec without a scheme, and a state key under 32 bytes: exit 2', async () => {
    const spec = await runToExit({ MCP_SESSIONS_STORE: 'u:S3cretPW@127.0.0.1:4191' });
    expect(spec.code).toBe(2);
    expect(spec.stderr).toMatch(
      /^mcp-sessions example: invalid store: "u:\*\*\*@127\.0\.0\.1:4191" is not a store spec: [^\n]+\n$/,
    );
    expect(spec.stderr).not.toContain('S3cretPW');

    const key = await runToExit({ MCP_SESSIONS_STORE: tempSqlite(), MCP_SESSIONS_STATE_KEY: 'too short' });
    expect(key.code).toBe(2);
    expect(key.stderr).toMatch(
      /^mcp-sessions example: invalid MCP_SESSIONS_STATE_KEY: must be at least 32 bytes[^\n]*\n$/,
    );
  });

  it('an unreachable Postgres: exit 1, naming the store and the cause', async () => {
    const port = await freePort(); // nothing listens there
    const run = await runToExit({ MCP_SESSIONS_STORE: `postgres://app:hunter2@127.0.0.1:${port}/app` });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^mcp-sessions example: store postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/app unreachable: [^\\n]*ECONNREFUSED[^\\n]*\\n$`,
      ),
    );
    expect(run.stderr).not.toContain('hunter2');
  });

  it('an unreachable Redis, refused or silent: exit 1, naming the store and the cause', async () => {
    const refusedPort = await freePort();
    const refused = await runToExit({ MCP_SESSIONS_STORE: `redis://:hunter2@127.0.0.1:${refusedPort}` });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^mcp-sessions example: store redis://:\\*\\*\\*@127\\.0\\.0\\.1:${refusedPort} unreachable: redis connect: [^\\n]*ECONNREFUSED[^\\n]*\\n$`,
      ),
    );
    expect(refused.stderr).not.toContain('hunter2');

    // A port that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const hung = await runToExit({ MCP_SESSIONS_STORE: `redis://127.0.0.1:${port}` });
    expect(hung.code).toBe(1);
    expect(hung.stderr).toBe(
      `mcp-sessions example: store redis://127.0.0.1:${port} unreachable: redis connect timed out after 5000 ms: the server accepted the connection but never answered\n`,
    );
  });
});

describe('pnpm demo', () => {
  it('prints each step and recalls the value on the same session after SIGKILL', async () => {
    const { spawn } = await import('node:child_process');
    const { EXAMPLE_DIR } = await import('../src/spawn');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@mcp-sessions/source', 'src/demo.ts'],
      {
        cwd: EXAMPLE_DIR,
        env: { ...process.env, MCP_SESSIONS_STORE: tempSqlite() },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out).toBe(0);
    expect(out).toContain('"value":"teal"');
    expect(out).toContain('same session id: true');
  });
});
