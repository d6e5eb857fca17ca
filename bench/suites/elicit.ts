/**
 * An elicitation round trip over real HTTP with the official SDK client (a `tools/call` whose tool
 * asks the client, the client answers, the tool returns), per backend: on one instance (the
 * baseline) against two instances behind a round-robin proxy, where the client's answer always
 * lands on the instance that did not ask and crosses over the live bus.
 * Goals (issue #12): <= 2x on Redis and Postgres, <= baseline + 50 ms on SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SessionBus, SessionManager, type SessionStore } from '@mcp-sessions/core';
import { createEventStore, createNodeSessionHandler } from '@mcp-sessions/core/http';
import { PostgresSessionBus, PostgresSessionStore } from '@mcp-sessions/postgres';
import { RedisSessionBus, RedisSessionStore } from '@mcp-sessions/redis';
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import {
  busAppServer,
  connectBusClient,
  loadBusSdk,
  toolJson,
} from '../../packages/core/test/fixtures/bus-app';
import { startProxy } from '../../packages/core/test/fixtures/http-proxy';
import { pgBinDir, type Service, startPostgres, startRedis, which } from '../../test/services';
import type { BenchGroup, BenchSuite } from '../harness';

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-elicit-'));
const closers: (() => Promise<unknown>)[] = [];
const servers: Service[] = [];

interface Backend {
  name: string;
  open(): { store: SessionStore; bus: SessionBus };
  goal: string;
}

async function instance(backend: Backend, id: string): Promise<number> {
  const { store, bus } = backend.open();
  const sdk = await loadBusSdk('1.32.2');
  const manager = new SessionManager({ store, timers: false, instanceId: id, logger: false });
  const handler = createNodeSessionHandler({
    manager,
    bus,
    eventStore: createEventStore(manager),
    createServer: () => busAppServer(sdk, manager, () => {}),
    logger: false,
  });
  const http = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  closers.push(
    async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
    () => handler.close(),
    () => manager.dispose(),
    () => bus.close(),
    () => store.close(),
  );
  return (http.address() as AddressInfo).port;
}

async function elicitation(url: string) {
  const { client } = await connectBusClient(await loadBusSdk('1.32.2'), url);
  closers.push(() => client.close());
  return async () => {
    const result = toolJson(await client.callTool({ name: 'elicit', arguments: {} }));
    if (result.action !== 'accept') throw new Error('not answered');
  };
}

async function group(backend: Backend): Promise<BenchGroup> {
  const one = await instance(backend, `${backend.name}-one`);
  const a = await instance(backend, `${backend.name}-a`);
  const b = await instance(backend, `${backend.name}-b`);
  const proxy = await startProxy([a, b]);
  closers.push(() => proxy.close());
  return {
    name: `elicitation round trip, ${backend.name}`,
    baseline: { name: 'one instance', fn: await elicitation(`http://127.0.0.1:${one}/mcp`) },
    subjects: [{ name: 'two instances, answer on the other', fn: await elicitation(proxy.url) }],
    goal: backend.goal,
  };
}

const suite: BenchSuite = {
  name: 'elicit',
  async groups() {
    const groups: BenchGroup[] = [];
    const file = join(dir, 'sessions.db');
    groups.push(
      await group({
        name: 'sqlite',
        open: () => ({
          store: new SqliteSessionStore({ filename: file }),
          bus: new SqliteSessionBus({ filename: file }),
        }),
        goal: '<= baseline + 50 ms',
      }),
    );
    let redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
    if (!redisUrl && which('redis-server')) {
      const server = await startRedis();
      servers.push(server);
      redisUrl = server.url;
    }
    if (redisUrl) {
      const url = redisUrl;
      groups.push(
        await group({
          name: 'redis',
          open: () => ({ store: new RedisSessionStore({ url }), bus: new RedisSessionBus({ url }) }),
          goal: '<= 2x',
        }),
      );
    } else process.stdout.write('!!! elicit suite: no Redis: rows skipped\n');
    let postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
    if (!postgresUrl && pgBinDir()) {
      const server = await startPostgres();
      servers.push(server);
      postgresUrl = server.url;
    }
    if (postgresUrl) {
      const url = postgresUrl;
      groups.push(
        await group({
          name: 'postgres',
          open: () => ({
            store: new PostgresSessionStore({ connectionString: url }),
            bus: new PostgresSessionBus({ connectionString: url }),
          }),
          goal: '<= 2x',
        }),
      );
    } else process.stdout.write('!!! elicit suite: no Postgres: rows skipped\n');
    return groups;
  },
  async teardown() {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const server of servers.splice(0)) await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;
