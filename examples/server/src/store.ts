import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { redactUrl, type SessionBus, type SessionStore } from '@mcp-sessions/core';

export const DEFAULT_STORE = 'sqlite:./.data/sessions.db';

/** A store and the live bus on the same backend (none for `memory:`, which is one process). */
export interface Backend {
  store: SessionStore;
  bus: SessionBus | undefined;
}

/**
 * The store named by `spec` (see `openStore`) with its live bus: SQLite polls the same file,
 * Redis uses pub/sub (sharded on a cluster), Postgres LISTEN/NOTIFY.
 */
export async function openBackend(spec: string): Promise<Backend> {
  const store = await openStore(spec);
  if (spec.startsWith('sqlite:')) {
    const { SqliteSessionBus } = await import('@mcp-sessions/sqlite');
    return { store, bus: new SqliteSessionBus({ filename: sqliteFile(spec) }) };
  }
  if (isRedis(spec)) {
    const { RedisSessionBus } = await import('@mcp-sessions/redis');
    const cluster = clusterUrls(spec);
    return { store, bus: new RedisSessionBus(cluster ? { clusterUrls: cluster } : { url: spec }) };
  }
  if (isPostgres(spec)) {
    const { PostgresSessionBus } = await import('@mcp-sessions/postgres');
    return { store, bus: new PostgresSessionBus({ connectionString: spec }) };
  }
  return { store, bus: undefined };
}

/**
 * The store named by `MCP_SESSIONS_STORE`: `sqlite:<path>`, `memory:`, `redis://…`/`rediss://…`,
 * `redis+cluster://host:port,host:port` (a Redis Cluster, by some of its nodes),
 * `postgres://…`/`postgresql://…`. Each adapter is imported only when asked for, so a server
 * that uses SQLite does not need the Redis or Postgres packages installed.
 */
export async function openStore(spec: string): Promise<SessionStore> {
  if (spec === 'memory:' || spec === 'memory') {
    const { MemorySessionStore } = await load('@mcp-sessions/memory', () => import('@mcp-sessions/memory'));
    return new MemorySessionStore();
  }
  if (spec.startsWith('sqlite:')) {
    const filename = sqliteFile(spec);
    mkdirSync(dirname(filename), { recursive: true });
    const { SqliteSessionStore } = await load('@mcp-sessions/sqlite', () => import('@mcp-sessions/sqlite'));
    return new SqliteSessionStore({ filename });
  }
  if (isRedis(spec)) {
    const { RedisSessionStore } = await load('@mcp-sessions/redis', () => import('@mcp-sessions/redis'));
    const cluster = clusterUrls(spec);
    return new RedisSessionStore(cluster ? { clusterUrls: cluster } : { url: spec });
  }
  if (isPostgres(spec)) {
    const { PostgresSessionStore } = await load(
      '@mcp-sessions/postgres',
      () => import('@mcp-sessions/postgres'),
    );
    return new PostgresSessionStore({ connectionString: spec });
  }
  throw new Error(
    `MCP_SESSIONS_STORE=${JSON.stringify(redactUrl(spec))} is not understood: use sqlite:<path>, memory:, redis://…, redis+cluster://…, or postgres://…`,
  );
}

function sqliteFile(spec: string): string {
  return resolve(spec.slice('sqlite:'.length));
}

function isRedis(spec: string): boolean {
  return /^rediss?(\+cluster)?:\/\//.test(spec);
}

function isPostgres(spec: string): boolean {
  return spec.startsWith('postgres://') || spec.startsWith('postgresql://');
}

/** `redis+cluster://a:1,b:2` → `['redis://a:1', 'redis://b:2']` (user info applied to each). */
function clusterUrls(spec: string): string[] | undefined {
  const match = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)/.exec(spec);
  if (!match) return undefined;
  const [, scheme, auth, hosts] = match;
  return hosts!.split(',').map((host) => `${scheme}://${auth ? `${auth}@` : ''}${host}`);
}

async function load<T>(name: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`MCP_SESSIONS_STORE needs the package ${name}: install it (pnpm add ${name})`, {
        cause: error,
      });
    }
    throw error;
  }
}
