/**
 * Opening the store a spec names (`sqlite:<path>`, `memory:`, `redis://…`, `postgres://…`: parsed
 * by core's `parseStoreSpec`, re-exported here). Each adapter is imported only when its spec is
 * used, so only the one you use needs to be installed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  InvalidArgumentError,
  type LoggerLike,
  parseStoreSpec,
  type SessionBus,
  type SessionStore,
  type StoreSpec,
} from '@mcp-sessions/core';

export { parseStoreSpec, STORE_SPEC_FORMS, type StoreSpec } from '@mcp-sessions/core';

export interface OpenStoreOptions {
  /** Bound on connecting and on each command (Redis, Postgres), in ms. Default: the adapter's (5 s). */
  timeoutMs?: number;
  /** SQLite: refuse a file that does not exist instead of creating it. Default false. */
  mustExist?: boolean;
  /**
   * The prefix the servers gave their store: Redis key prefix (default `mcps:`), SQLite and
   * Postgres table prefix (default `mcp_sessions_`). Default: the adapter's.
   */
  prefix?: string;
  /** Postgres schema holding the tables. Default `public`. */
  schema?: string;
  /** The adapter's logger. Default `false`: a store opened here reports its failures as errors only. */
  logger?: LoggerLike | false;
}

/**
 * Opens the store `spec` names, importing its adapter package (`@mcp-sessions/sqlite`, `redis`,
 * `postgres`, `memory`) on demand. By default stores log nothing: their failures reach the caller
 * as errors.
 */
export async function openStore(
  spec: string | StoreSpec,
  options: OpenStoreOptions = {},
): Promise<SessionStore> {
  const parsed = typeof spec === 'string' ? parseStoreSpec(spec) : spec;
  const logger = options.logger ?? false;
  const timeouts = (connect: string, command: string) =>
    options.timeoutMs === undefined ? {} : { [connect]: options.timeoutMs, [command]: options.timeoutMs };
  switch (parsed.kind) {
    case 'memory': {
      const { MemorySessionStore } = await load('@mcp-sessions/memory', () => import('@mcp-sessions/memory'));
      return new MemorySessionStore();
    }
    case 'sqlite': {
      if (!existsSync(parsed.filename)) {
        if (options.mustExist) {
          throw new InvalidArgumentError('store', `no SQLite file at ${JSON.stringify(parsed.filename)}`);
        }
        mkdirSync(dirname(parsed.filename), { recursive: true });
      }
      const { SqliteSessionStore } = await load('@mcp-sessions/sqlite', () => import('@mcp-sessions/sqlite'));
      return new SqliteSessionStore({
        filename: parsed.filename,
        ...given('prefix', options.prefix),
        logger,
      });
    }
    case 'redis':
    case 'redis-cluster': {
      const { RedisSessionStore } = await load('@mcp-sessions/redis', () => import('@mcp-sessions/redis'));
      const target = parsed.kind === 'redis' ? { url: parsed.url } : { clusterUrls: parsed.urls };
      return new RedisSessionStore({
        ...target,
        ...given('prefix', options.prefix),
        ...timeouts('connectTimeoutMs', 'commandTimeoutMs'),
        logger,
      });
    }
    case 'postgres': {
      const { PostgresSessionStore } = await load(
        '@mcp-sessions/postgres',
        () => import('@mcp-sessions/postgres'),
      );
      return new PostgresSessionStore({
        connectionString: parsed.connectionString,
        ...given('tablePrefix', options.prefix),
        ...given('schema', options.schema),
        ...timeouts('connectTimeoutMs', 'queryTimeoutMs'),
        logger,
      });
    }
  }
}

/**
 * The live bus on the backend `spec` names, for servers sharing that store (`undefined` for
 * `memory:`, which is one process): SQLite polls the same file, Redis uses pub/sub (sharded on a
 * cluster), Postgres LISTEN/NOTIFY. `prefix` and `schema` must be the store's.
 */
export async function openBus(
  spec: string | StoreSpec,
  options: Pick<OpenStoreOptions, 'prefix' | 'schema' | 'logger'> = {},
): Promise<SessionBus | undefined> {
  const parsed = typeof spec === 'string' ? parseStoreSpec(spec) : spec;
  const logger = options.logger ?? false;
  switch (parsed.kind) {
    case 'memory':
      return undefined;
    case 'sqlite': {
      const { SqliteSessionBus } = await load('@mcp-sessions/sqlite', () => import('@mcp-sessions/sqlite'));
      return new SqliteSessionBus({ filename: parsed.filename, ...given('prefix', options.prefix), logger });
    }
    case 'redis':
    case 'redis-cluster': {
      const { RedisSessionBus } = await load('@mcp-sessions/redis', () => import('@mcp-sessions/redis'));
      const target = parsed.kind === 'redis' ? { url: parsed.url } : { clusterUrls: parsed.urls };
      return new RedisSessionBus({ ...target, ...given('prefix', options.prefix), logger });
    }
    case 'postgres': {
      const { PostgresSessionBus } = await load(
        '@mcp-sessions/postgres',
        () => import('@mcp-sessions/postgres'),
      );
      return new PostgresSessionBus({
        connectionString: parsed.connectionString,
        ...given('tablePrefix', options.prefix),
        ...given('schema', options.schema),
        logger,
      });
    }
  }
}

// --- Internal helpers ---

/** `{ [name]: value }`, or nothing for an option not given (the adapters refuse `undefined` values). */
function given<K extends string>(name: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: string };
}

async function load<T>(name: string, importer: () => Promise<T>): Promise<T> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new InvalidArgumentError('store', `needs the package ${name}: install it (npm i ${name})`);
    }
    throw error;
  }
}
