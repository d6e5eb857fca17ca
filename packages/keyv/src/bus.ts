import type { LoggerLike } from '@mcp-sessions/core';
import { InProcessSessionBus } from '@mcp-sessions/core/adapter';

export interface KeyvSessionBusOptions {
  /** Told about listeners that throw (error). Default: stderr; `false` silences. */
  logger?: LoggerLike | false;
}

/**
 * The Keyv store's live bus: IN-PROCESS ONLY (reach `'process'`), whatever backend the Keyv
 * instance uses. Keyv has no way to send a message between processes, so with several
 * instances behind a load balancer, client answers and standalone-stream messages only reach
 * the instance they land on. Use the Redis, Postgres or SQLite adapter for several instances.
 */
export class KeyvSessionBus extends InProcessSessionBus {
  constructor(options: KeyvSessionBusOptions = {}) {
    super({ name: 'keyv', logger: options.logger });
  }
}
