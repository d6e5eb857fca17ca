import { openBus, openStore, parseStoreSpec } from '@mcp-sessions/cli';
import type { LoggerLike, SessionBus, SessionStore } from '@mcp-sessions/core';

export const DEFAULT_STORE = 'sqlite:./.data/sessions.db';

/** A store and the live bus on the same backend (none for `memory:`, which is one process). */
export interface Backend {
  store: SessionStore;
  bus: SessionBus | undefined;
}

/**
 * The store named by `MCP_SESSIONS_STORE` (`sqlite:<path>`, `memory:`, `redis://…`, `rediss://…`,
 * `redis+cluster://host:port,host:port`, `postgres://…`: the spec forms of the `mcp-sessions`
 * CLI, which parses them) with its live bus: SQLite polls the same file, Redis uses pub/sub
 * (sharded on a cluster), Postgres LISTEN/NOTIFY. Each adapter package is imported only when its
 * spec is used. A bad spec is an `InvalidArgumentError` whose message has the password redacted.
 */
export async function openBackend(spec: string, logger?: LoggerLike | false): Promise<Backend> {
  const parsed = parseStoreSpec(spec);
  const store = await openStore(parsed, { logger });
  return { store, bus: await openBus(parsed, { logger }) };
}
