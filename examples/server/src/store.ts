import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SessionStore } from '@mcp-sessions/core';

export const DEFAULT_STORE = 'sqlite:./.data/sessions.db';

/**
 * The store named by `MCP_SESSIONS_STORE`: `sqlite:<path>`, `memory:`, `redis://…`/`rediss://…`,
 * `postgres://…`/`postgresql://…`. Each adapter is imported only when asked for, so a server
 * that uses SQLite does not need the Redis or Postgres packages installed.
 */
export async function openStore(spec: string): Promise<SessionStore> {
  if (spec === 'memory:' || spec === 'memory') {
    const { MemorySessionStore } = await load('@mcp-sessions/memory', () => import('@mcp-sessions/memory'));
    return new MemorySessionStore();
  }
  if (spec.startsWith('sqlite:')) {
    const filename = resolve(spec.slice('sqlite:'.length));
    mkdirSync(dirname(filename), { recursive: true });
    const { SqliteSessionStore } = await load('@mcp-sessions/sqlite', () => import('@mcp-sessions/sqlite'));
    return new SqliteSessionStore({ filename });
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    const { RedisSessionStore } = await load('@mcp-sessions/redis', () => import('@mcp-sessions/redis'));
    return new RedisSessionStore({ url: spec });
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const { PostgresSessionStore } = await load(
      '@mcp-sessions/postgres',
      () => import('@mcp-sessions/postgres'),
    );
    return new PostgresSessionStore({ connectionString: spec });
  }
  throw new Error(
    `MCP_SESSIONS_STORE=${JSON.stringify(spec)} is not understood: use sqlite:<path>, memory:, redis://… or postgres://…`,
  );
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
