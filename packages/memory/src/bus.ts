import type { LoggerLike } from '@mcp-sessions/core';
import { InProcessSessionBus } from '@mcp-sessions/core/adapter';

export interface MemorySessionBusOptions {
  /** Told about listeners that throw (error). Default: stderr; `false` silences. */
  logger?: LoggerLike | false;
}

/**
 * The memory store's live bus: in-process (reach `'process'`), like the store. Subscribers of
 * this bus object get what is published on it, a microtask later.
 *
 * @example
 * ```ts
 * const bus = new MemorySessionBus();
 * await bus.subscribe(sessionId, (message) => handle(message));
 * await bus.publish(sessionId, { jsonrpc: '2.0', id: 7, result: {} });
 * ```
 */
export class MemorySessionBus extends InProcessSessionBus {
  constructor(options: MemorySessionBusOptions = {}) {
    super({ name: 'memory', logger: options.logger });
  }
}
