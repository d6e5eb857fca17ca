import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type LoggerLike, parseStoreSpec, type SessionBus, type SessionStore } from '@mcp-sessions/core';

export const DEFAULT_STORE = 'sqlite:./.data/sessions.db';

/** A store and the live bus on the same backend (none for `memory:`, which is one process). */
export interface Backend {
  store: SessionStore;
  bus: SessionBus | undefined;
}

/**
 * The store named by `MCP_SESSIONS_STORE` (`sqlite:<path>`, `memory:`, `redis://…`, `rediss://…`,
 * `redis+cluster://host:port,host:port`, `postgres://…`, parsed by core's `parseStoreSpec`) with
 * its live bus: SQLite polls the same file, Redis uses pub/sub (sharded on a cluster), Postgres
 * LISTEN/NOTIFY. Each adapter package is imported only when its spec is used. A bad spec is an
 * `InvalidArgumentError` whose message has the password redacted.
 */
export async function openBackend(spec: string, logger: LoggerLike | false = false): Promise<Backend> {
  const parsed = parseStoreSpec(spec);
  switch (parsed.kind) {
    case 'memory': {
      const { MemorySessionStore } = await import('@mcp-sessions/memory');
      return { store: new MemorySessionStore(), bus: undefined };
    }
    case 'sqlite': {
      const { SqliteSessionBus, SqliteSessionStore } = await import('@mcp-sessions/sqlite');
      mkdirSync(dirname(parsed.filename), { recursive: true });
      return {
        store: new SqliteSessionStore({ filename: parsed.filename, logger }),
        bus: new SqliteSessionBus({ filename: parsed.filename, logger }),
      };
    }
    case 'redis':
    case 'redis-cluster': {
      const { RedisSessionBus, RedisSessionStore } = await import('@mcp-sessions/redis');
      const target = parsed.kind === 'redis' ? { url: parsed.url } : { clusterUrls: parsed.urls };
      return {
        store: new RedisSessionStore({ ...target, logger }),
        bus: new RedisSessionBus({ ...target, logger }),
      };
    }
    case 'postgres': {
      const { PostgresSessionBus, PostgresSessionStore } = await import('@mcp-sessions/postgres');
      const target = { connectionString: parsed.connectionString };
      return {
        store: new PostgresSessionStore({ ...target, logger }),
        bus: new PostgresSessionBus({ ...target, logger }),
      };
    }
  }
}
