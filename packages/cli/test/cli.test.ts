/**
 * The `mcp-sessions` bin as an operator runs it: a child process over a real store (a SQLite
 * file, redis-server, a 3-node Redis Cluster, Postgres), holding sessions a SessionManager made
 * in the test. Each backend gets a fresh prefix, so the CLI sees exactly this test's sessions.
 * Time is never waited for: the sessions the sweep must take were made on a clock two hours back.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Clock,
  type JsonValue,
  SessionManager,
  type SessionRecord,
  type SessionStore,
  TaskManager,
} from '@mcp-sessions/core';
import { encodeJson, jsonByteLength } from '@mcp-sessions/core/adapter';
import { PostgresSessionStore } from '@mcp-sessions/postgres';
import { RedisSessionStore } from '@mcp-sessions/redis';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/services';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The bin from source, as `npx mcp-sessions` runs the built one. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(
    process.execPath,
    ['--conditions=@mcp-sessions/source', '--import', 'tsx', BIN, ...args],
    {
      cwd: CLI_DIR,
      env: { ...process.env, MCP_SESSIONS_STORE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function json(args: string[]): Promise<Record<string, unknown>> {
  const run = await cli([...args, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

interface Backend {
  name: string;
  /** Why it is skipped, or undefined when it runs. */
  skip: string | undefined;
  spec(): string;
  open(prefix: string): SessionStore;
  /** The CLI's flags for the same store. */
  flags(prefix: string): string[];
}

const redisUrl = process.env.MCP_SESSIONS_TEST_REDIS_URL;
const clusterUrls = process.env.MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS?.split(',');
const postgresUrl = process.env.MCP_SESSIONS_TEST_POSTGRES_URL;
const sqliteDir = mkdtempSync(join(tmpdir(), 'mcp-sessions-cli-'));
const sqliteFile = join(sqliteDir, 'sessions.db');
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));

const backends: Backend[] = [
  {
    name: 'sqlite',
    skip: undefined,
    spec: () => `sqlite:${sqliteFile}`,
    open: (prefix) => new SqliteSessionStore({ filename: sqliteFile, prefix: `${prefix}_`, logger: false }),
    flags: (prefix) => ['--prefix', `${prefix}_`],
  },
  {
    name: 'redis',
    skip: redisUrl ? undefined : 'MCP_SESSIONS_TEST_REDIS_URL is not set (no redis-server)',
    spec: () => redisUrl!,
    open: (prefix) => new RedisSessionStore({ url: redisUrl!, prefix: `${prefix}:`, logger: false }),
    flags: (prefix) => ['--prefix', `${prefix}:`],
  },
  {
    name: 'redis cluster',
    skip: clusterUrls ? undefined : 'MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS is not set (no redis-server)',
    spec: () => `redis+cluster://${clusterUrls!.map((u) => new URL(u).host).join(',')}`,
    open: (prefix) =>
      new RedisSessionStore({ clusterUrls: clusterUrls!, prefix: `${prefix}:`, logger: false }),
    flags: (prefix) => ['--prefix', `${prefix}:`],
  },
  {
    name: 'postgres',
    skip: postgresUrl ? undefined : 'MCP_SESSIONS_TEST_POSTGRES_URL is not set (no Postgres)',
    spec: () => postgresUrl!,
    open: (prefix) =>
      new PostgresSessionStore({ connectionString: postgresUrl!, schema: prefix, logger: false }),
    flags: (prefix) => ['--schema', prefix],
  },
];

for (const backend of backends) {
  if (backend.skip) console.warn(`!!! cli.test.ts: ${backend.name} skipped: ${backend.skip}`);
}

const HOUR = 3_600_000;

describe.each(backends)('mcp-sessions tasks on $name', (backend) => {
  it.skipIf(backend.skip !== undefined)('lists, shows and cancels the tasks a TaskManager made', async () => {
    const prefix = `clt${randomBytes(4).toString('hex')}`;
    const store = backend.open(prefix);
    const tasks = new TaskManager({ store, timers: false, logger: false, instanceId: 'web-1' });
    let running: string;
    let done: string;
    try {
      running = (
        await tasks.create({ method: 'tools/call', params: { name: 'countdown' } }, { principal: 'alice' })
      ).id;
      done = (await tasks.create({ method: 'tools/call', params: { name: 'echo' } })).id;
      await tasks.report(done, {
        type: 'complete',
        workerId: 'web-1',
        result: { content: [{ type: 'text', text: 'hi' }] },
      });
    } finally {
      await tasks.dispose();
      await store.close();
    }
    const flags = ['--store', backend.spec(), ...backend.flags(prefix)];
    const listed = await cli(['tasks', 'list', '--full', ...flags]);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+PRINCIPAL\s+TOOL\s+WORKER\s+UPDATED\s+RUNS\s+EXPIRES$/);
    expect(rows.find((r) => r.startsWith(running))).toMatch(/ working\s+alice\s+countdown\s+web-1 /);
    expect(rows.find((r) => r.startsWith(done))).toMatch(/ completed\s+-\s+echo\s+- /);
    expect(await json(['tasks', 'show', done, ...flags])).toMatchObject({
      status: 'completed',
      result: { content: [{ type: 'text', text: 'hi' }] },
    });
    expect(await json(['tasks', 'cancel', running, ...flags])).toEqual({
      id: running,
      previousStatus: 'working',
      status: 'cancelled',
    });
    expect((await cli(['tasks', 'cancel', done, ...flags])).stdout).toContain(
      'had already ended (completed)',
    );
    const missing = await cli(['tasks', 'show', 'no-such-task', ...flags]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no task "no-such-task"');
    expect((await cli(['tasks', 'frobnicate', ...flags])).stderr).toContain(
      'tasks takes one of list, show, cancel',
    );
  });
});

describe.each(backends)('mcp-sessions on $name', (backend) => {
  it.skipIf(backend.skip !== undefined)(
    'lists, shows, stats, sweeps and closes sessions a manager made',
    async () => {
      const prefix = `cli${randomBytes(4).toString('hex')}`;
      const store = backend.open(prefix);
      const now = Date.now();
      const past: Clock = { now: () => now - 2 * HOUR };
      const live = new SessionManager({
        store,
        timers: false,
        logger: false,
        instanceId: 'node-a',
        clock: { now: () => now },
      });
      const old = new SessionManager({
        store,
        timers: false,
        logger: false,
        clock: past,
        gracePeriodMs: 60_000,
      });
      const id = `${prefix}-active-0123456789`;
      const plan = { step: 2, notes: 'héllo' };
      const planBytes = jsonByteLength(encodeJson(plan)); // 27: é is two bytes in UTF-8
      const messages: JsonValue[] = [
        { jsonrpc: '2.0', method: 'a' },
        { jsonrpc: '2.0', id: 1, result: {} },
        { n: 'ü' },
      ];
      const gone = `${prefix}-disconnected`;
      const ended = `${prefix}-closed`;
      try {
        await live.initialize(id, {
          principal: 'alice',
          initializeParams: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'probe-client', version: '1.0.0' },
          },
        });
        await live.saveAgentState('planner', id, 'plan', plan, { ttlMs: HOUR });
        await live.saveAgentState('coder', id, 'file', 'src/index.ts');
        for (const message of messages) {
          await store.appendEvent({ sessionId: id, streamId: 'stream-1', message, createdAt: now });
        }
        await old.initialize(gone);
        await old.markDisconnected(gone); // its grace ended 1 h 59 min ago
        await old.initialize(ended);
        await old.close(ended); // a tombstone older than the default hour
      } finally {
        await live.dispose();
        await old.dispose();
        await store.close();
      }
      const flags = ['--store', backend.spec(), ...backend.flags(prefix)];

      // list: the live sessions, newest first; ids shortened unless --full.
      const listed = await cli(['list', ...flags]);
      expect(listed.code).toBe(0);
      const [header, first, second] = listed.stdout.split('\n');
      expect(header).toMatch(
        /^ID\s+KIND\s+STATUS\s+PRINCIPAL\s+CLIENT\s+OWNER\s+HEARTBEAT\s+IDLE\s+RECOVERIES$/,
      );
      expect(first).toMatch(
        new RegExp(
          `^${id.slice(0, 12)}…\\s+session\\s+active\\s+alice\\s+probe-client\\s+node-a\\s+\\d+ s ago\\s+held\\s+0$`,
        ),
      );
      expect(second).toMatch(/ disconnected .* 2 h ago\s+2 h\s+0$/);
      expect(listed.stdout).not.toContain(id);
      expect((await cli(['list', '--full', ...flags])).stdout).toContain(id);
      const page = await json(['list', '--limit', '1', ...flags]);
      expect(page).toMatchObject({
        more: true,
        sessions: [{ id, status: 'active', clientName: 'probe-client' }],
      });
      const closed = await json(['list', '--status', 'closed,expired', ...flags]);
      expect((closed.sessions as SessionRecord[]).map((s) => s.id)).toEqual([ended]);

      // show: the record, the agent-state keys with sizes, the event log's length and bytes.
      const shown = await json(['show', id, ...flags]);
      expect(shown.record).toMatchObject({ id, status: 'active', principal: 'alice', ownerId: 'node-a' });
      expect(shown.agentState).toEqual([
        expect.objectContaining({ agentId: 'coder', key: 'file', bytes: 14, expiresAt: null }),
        expect.objectContaining({ agentId: 'planner', key: 'plan', bytes: planBytes, expiresAt: now + HOUR }),
      ]);
      const eventBytes = messages.reduce<number>((sum, m) => sum + jsonByteLength(encodeJson(m)), 0);
      expect(shown.events).toEqual({ count: 3, bytes: eventBytes });
      const text = await cli(['show', id, ...flags]);
      expect(text.stdout).toContain('probe-client');
      expect(text.stdout).toMatch(new RegExp(`planner\\s+plan\\s+${planBytes} B`));

      // stats: every status counted, what is due, the sizes of live sessions.
      const stats = await json(['stats', ...flags]);
      expect(stats).toMatchObject({
        sessions: { active: 1, disconnected: 1, expired: 0, closed: 1, total: 3 },
        kinds: { session: 3, handle: 0, once: 0, secret: 0 },
        released: 0,
        expiredBy: { idle: 0, grace: 0 },
        dueBacklog: 2,
        oldestHeartbeatAt: now - 2 * HOUR,
        agentState: { entries: 2, bytes: planBytes + 14 },
        events: { count: 3, bytes: eventBytes },
      });
      expect((await json(['stats', '--records-only', ...flags])).events).toBeNull();

      // sweep: the disconnected session past grace expires; the old tombstone goes.
      expect(await json(['sweep', ...flags])).toEqual({ expired: 1, deleted: 1, stateEntriesPurged: 0 });
      expect(await json(['sweep', ...flags])).toEqual({ expired: 0, deleted: 0, stateEntriesPurged: 0 });
      expect((await json(['stats', '--records-only', ...flags])).expiredBy).toEqual({ idle: 0, grace: 1 });

      // close: through the lifecycle, its state and events deleted.
      expect(await json(['close', id, ...flags])).toEqual({
        id,
        previousStatus: 'active',
        status: 'closed',
        changed: true,
      });
      const after = await json(['show', id, ...flags]);
      expect(after).toMatchObject({
        record: { status: 'closed' },
        agentState: [],
        events: { count: 0, bytes: 0 },
      });
      expect((await cli(['close', id, ...flags])).stdout).toBe(`${id} was already closed\n`);

      const missing = await cli(['show', `${prefix}-nope`, ...flags]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^mcp-sessions: no session "cli\w+-nope" in .+\n$/);
      // Ids are base64url: one may begin with '-' (one in 64 does), and is an id, not an option.
      const dashed = await cli(['show', '-0dashed-id', ...flags]);
      expect(dashed.stderr).toMatch(/^mcp-sessions: no session "-0dashed-id" in .+\n$/);
      expect(dashed.code).toBe(1);
    },
  );
});

describe('mcp-sessions errors and help', () => {
  it('prints help with examples, for the tool and for each command', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: mcp-sessions <command> [options]');
    for (const command of ['list', 'show <id>', 'close <id>', 'sweep', 'stats'])
      expect(help.stdout).toContain(command);
    expect(help.stdout).toContain('Examples:');
    const list = await cli(['list', '--help']);
    expect(list.stdout).toContain('--status <list>');
    expect((await cli(['help', 'stats'])).stdout).toContain('pages through every record');
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage:');
  });

  it('refuses a bad spec, a missing store, memory: and bad flags with one line and exit 2, password redacted', async () => {
    const bad = await cli(['list', '--store', 'mysql://root:hunter2@db/app']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(
      'mcp-sessions: invalid store: "mysql://root:***@db/app" is not a store spec: use sqlite:<path>, memory:, redis://…, rediss://…, redis+cluster://h:p,h:p, postgres://… (mcp-sessions --help)\n',
    );
    const schemeless = await cli(['list', '--store', 'u:S3cretPW@127.0.0.1:4191']);
    expect(schemeless).toMatchObject({ code: 2, stdout: '' });
    expect(schemeless.stderr).toContain('"u:***@127.0.0.1:4191" is not a store spec');
    expect(schemeless.stderr).not.toContain('S3cretPW');
    const none = await cli(['stats']);
    expect(none).toMatchObject({ code: 2, stdout: '' });
    expect(none.stderr).toMatch(/^mcp-sessions: no store: pass --store <spec> or set MCP_SESSIONS_STORE/);
    expect((await cli(['list'], { MCP_SESSIONS_STORE: 'memory:' })).stderr).toContain(
      'memory of one process',
    );
    const flag = await cli(['sweep', '--limit', '3', '--store', `sqlite:${sqliteFile}`]);
    expect(flag).toMatchObject({
      code: 2,
      stderr: 'mcp-sessions: sweep takes no --limit (mcp-sessions --help)\n',
    });
    const status = await cli(['list', '--status', 'alive', '--store', `sqlite:${sqliteFile}`]);
    expect(status.stderr).toContain('--status "alive" is not one of active, disconnected, expired, closed');
    const file = await cli(['list', '--store', `sqlite:${join(sqliteDir, 'absent.db')}`]);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/^mcp-sessions: invalid store: no SQLite file at ".*absent\.db"/);
  });

  it.skipIf(!redisUrl)('reports an unreachable Redis in one line, exit 1, password redacted', async () => {
    const port = await freePort(); // nothing listens there
    const run = await cli(['list', '--timeout', '500'], {
      MCP_SESSIONS_STORE: `redis://:hunter2@127.0.0.1:${port}`,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      new RegExp(`^mcp-sessions: store redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} unreachable: [^\\n]+\\n$`),
    );
    expect(run.stderr).not.toContain('hunter2');
  });

  it.skipIf(!postgresUrl)(
    'reports an unreachable Postgres in one line, exit 1, password redacted',
    async () => {
      const port = await freePort();
      const spec = `postgres://app:hunter2@127.0.0.1:${port}/app`;
      const run = await cli(['stats', '--store', spec, '--json']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        new RegExp(
          `^mcp-sessions: store postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/app unreachable: [^\\n]+\\n$`,
        ),
      );
      expect(run.stderr).not.toContain('hunter2');
    },
  );
});
