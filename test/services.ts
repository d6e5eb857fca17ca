/**
 * Real servers for the test suites: redis-server, a 3-node Redis Cluster and Postgres, each
 * started as a plain process on loopback in a private temp directory (no Docker here).
 * Used by the global setup and by fault tests that need a server of their own to stop.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PG_BIN_DIRS = [
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

export interface Service {
  url: string;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function pgBinDir(): string | undefined {
  return PG_BIN_DIRS.find((d) => existsSync(join(d, 'initdb')));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function redisPing(port: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'ping']);
  return stdout.includes('PONG');
}

/** One redis-server on loopback. `appendonly` turns on AOF with fsync always (durability tests). */
export async function startRedis(opts: { appendonly?: boolean; cluster?: boolean; port?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-redis-'));
  const port = opts.port ?? (await freePort());
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--daemonize',
    'yes',
    '--pidfile',
    join(dir, 'redis.pid'),
    '--logfile',
    join(dir, 'redis.log'),
  ];
  if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
  const start = async () => {
    await run('redis-server', args);
    await waitFor(() => redisPing(port), `redis-server on port ${port}`);
  };
  const stop = async () => {
    const pidFile = join(dir, 'redis.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    await waitFor(async () => !isAlive(pid), `redis-server ${pid} to stop`);
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, dir, port, start, stop } satisfies Service & { port: number };
}

export async function startRedisCluster(nodes = 3) {
  const servers = await Promise.all(Array.from({ length: nodes }, () => startRedis({ cluster: true })));
  await run('redis-cli', [
    '--cluster',
    'create',
    ...servers.map((s) => `127.0.0.1:${s.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  await waitFor(async () => {
    const { stdout } = await run('redis-cli', ['-p', String(servers[0]!.port), 'cluster', 'info']);
    return stdout.includes('cluster_state:ok');
  }, 'redis cluster state ok');
  return {
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A throwaway Postgres cluster (initdb + pg_ctl) on loopback, trust auth, fsync off unless asked. */
export async function startPostgres(opts: { fsync?: boolean } = {}) {
  const bin = pgBinDir();
  if (!bin) throw new Error('Postgres server binaries not found (apt-get install postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-pg-'));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dir, Number(idOf('-u')), Number(idOf('-g')));
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
  await pg('initdb', ['-D', join(dir, 'pg'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=${opts.fsync ? 'on' : 'off'} -c max_connections=300`;
  const start = async () => {
    await pg('pg_ctl', ['-D', join(dir, 'pg'), '-l', join(dir, 'pg.log'), '-w', '-o', options, 'start']);
  };
  const stop = async () => {
    await pg('pg_ctl', ['-D', join(dir, 'pg'), '-m', 'fast', '-w', 'stop']);
  };
  await start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    dir,
    port,
    start,
    stop,
  } satisfies Service & {
    port: number;
  };
}

function idOf(flag: '-u' | '-g'): string {
  return spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim();
}
