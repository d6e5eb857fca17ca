/**
 * `pnpm start`: an MCP server at http://127.0.0.1:$PORT/mcp for both protocol eras: 2025 clients
 * get sessions that survive restarts and move between instances; 2026-07-28 clients are served
 * statelessly (SDK v2's `createMcpHandler`), their state in notebooks reached by handle.
 * Env: PORT (3000), MCP_SESSIONS_STORE (sqlite:./.data/sessions.db),
 * MCP_SESSIONS_INSTANCE_ID (host:pid:random), MCP_SESSIONS_SHUTDOWN (`hand-off`, the default:
 * SIGTERM leaves sessions for the next instance to attach without counting a recovery;
 * `disconnect`: marks them disconnected, so the next instance recovers them, counted),
 * MCP_SESSIONS_STATE_KEY (the key every instance seals `requestState` with, 32+ bytes; unset: a
 * random secret kept in the store, created by the first instance, shared by every other),
 * MCP_SESSIONS_IDLE_RELEASE_MS (a session unused this long leaves this process's memory; 300000),
 * MCP_SESSIONS_IDLE_TIMEOUT_MS (a session unused this long expires everywhere; 86400000); both
 * take `Infinity`.
 * A bad setting or an unreachable store stops it at start with one line on stderr (exit 2, exit 1).
 */
import { createServer } from 'node:http';
import {
  InvalidArgumentError,
  redactUrl,
  SessionManager,
  StoreUnavailableError,
  sessionTag,
  TaskManager,
} from '@mcp-sessions/core';
import {
  createDualEraHandler,
  createEventStore,
  createNodeSessionHandler,
  createTasksExtension,
  SharedServerEventBus,
} from '@mcp-sessions/core/http';
import { MemorySessionBus } from '@mcp-sessions/memory';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { createAppServer, createStatelessServer } from './app';
import { registerCountdown } from './countdown';
import { quietWhileStarting, stderrLogger } from './logger';
import { forgetStateCodec, requestStateKey } from './mrtr';
import { notebooks } from './notebook';
import { DEFAULT_STORE, openBackend } from './store';

const port = Number(process.env.PORT ?? 3000);
const storeSpec = process.env.MCP_SESSIONS_STORE || DEFAULT_STORE;
const instanceId = process.env.MCP_SESSIONS_INSTANCE_ID || undefined;
const shutdownMode = process.env.MCP_SESSIONS_SHUTDOWN || 'hand-off';
if (shutdownMode !== 'hand-off' && shutdownMode !== 'disconnect') {
  process.stderr.write(
    `MCP_SESSIONS_SHUTDOWN must be hand-off or disconnect, not ${JSON.stringify(shutdownMode)}\n`,
  );
  process.exit(2);
}

const idleReleaseMs = durationSetting('MCP_SESSIONS_IDLE_RELEASE_MS');
const idleTimeoutMs = durationSetting('MCP_SESSIONS_IDLE_TIMEOUT_MS');
const taskLeaseMs = durationSetting('MCP_SESSIONS_TASK_LEASE_MS');

const storeLog = quietWhileStarting(stderrLogger('store'));
const { store, bus } = await openBackend(storeSpec, storeLog.logger).catch(failedToStart);
const manager = new SessionManager({ store, instanceId, idleTimeoutMs });
// One read now, so an unreachable store stops the start in one line instead of failing requests.
const states = await Promise.all([requestStateKey(manager), manager.getActiveSessions({ limit: 1 })])
  .then(([key]) => forgetStateCodec(key))
  .catch(failedToStart);
const log = stderrLogger(manager.instanceId);
for (const event of ['initialized', 'disconnected', 'recovered', 'expired', 'closed'] as const) {
  manager.on(event, (record) =>
    log.info(`session ${event}`, {
      session: sessionTag(record.id),
      recoveryAttempts: record.recoveryAttempts,
    }),
  );
}
manager.on('lost', (sessionId) =>
  log.warn('session lost (closed or expired elsewhere)', { session: sessionTag(sessionId) }),
);
manager.on('released', (sessionId) =>
  log.info('session released (idle; handed off, rebuilt by its next request)', {
    session: sessionTag(sessionId),
  }),
);
manager.on('error', (error) => log.error('background work failed', { error }));

// Changes (a notebook written) reach `subscriptions/listen` clients on every instance.
const liveBus = bus ?? new MemorySessionBus();
const events = new SharedServerEventBus({ bus: liveBus });
await events.start().catch(failedToStart);
storeLog.started();
const notes = notebooks(manager, events);

// Durable tasks (2026-07-28, the Tasks extension): `countdown` runs as one for clients that opt in.
const taskManager = new TaskManager({
  store,
  instanceId: manager.instanceId,
  leaseMs: taskLeaseMs,
  logger: log,
});
taskManager.on('error', (error) => log.error('task background work failed', { error }));
const tasks = createTasksExtension({ tasks: taskManager, bus: liveBus, logger: log });
registerCountdown(tasks);

const handler = createNodeSessionHandler(
  createDualEraHandler({
    // 2025 era: sessions in the store, on SDK v1's transport and McpServer.
    sessions: {
      manager,
      createServer: (ctx) => createAppServer(manager, ctx, notes),
      eventStore: createEventStore(manager),
      bus, // elicitation, sampling, cancellations and standalone messages cross instances
      idleReleaseMs,
      logger: log,
    },
    // 2026-07-28 era: stateless, one SDK v2 server per request; 2025 traffic never reaches it.
    // Task status notifications (`notifications/tasks`) ride its `subscriptions/listen` streams.
    stateless: tasks.withStatusNotifications(
      createMcpHandler(() => createStatelessServer(manager, notes, states, tasks), {
        legacy: 'reject',
        bus: events,
        onerror: (error) => log.warn('2026-07-28 request failed', { error }),
      }),
    ),
  }),
);

const http = createServer((req, res) => {
  if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the MCP endpoint is /mcp\n');
    return;
  }
  void handler(req, res);
});
http.listen(port, '127.0.0.1', () => {
  log.info('listening', {
    url: `http://127.0.0.1:${port}/mcp`,
    store: redactUrl(storeSpec),
  });
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  // Stop accepting, hand the sessions off (the next instance attaches them uncounted), end the rest.
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  await handler.close({ disconnect: shutdownMode === 'disconnect' });
  await tasks.close(); // running tasks move to the other instances now
  await taskManager.dispose();
  await manager.dispose();
  http.closeAllConnections();
  await closed;
  await events.close();
  await bus?.close();
  await store.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

/**
 * One line, the spec redacted, no stack (a driver may quote its connection string), then exit:
 * 2 for a bad setting, 1 for a store that cannot be reached or used.
 */
function failedToStart(error: unknown): never {
  const message = (error instanceof Error ? error.message : String(error))
    .split(storeSpec)
    .join(redactUrl(storeSpec));
  const line =
    error instanceof InvalidArgumentError
      ? message
      : error instanceof StoreUnavailableError
        ? `store ${redactUrl(storeSpec)} unreachable: ${message}`
        : `store ${redactUrl(storeSpec)}: ${message}`;
  process.stderr.write(`mcp-sessions example: ${line.replace(/\s*[\r\n]+\s*/g, ' ')}\n`);
  process.exit(error instanceof InvalidArgumentError ? 2 : 1);
}

/** A positive number of milliseconds or `Infinity` from the environment; unset: the library's default. */
function durationSetting(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = text === 'Infinity' ? Number.POSITIVE_INFINITY : Number(text);
  if (value > 0) return value;
  process.stderr.write(
    `mcp-sessions example: ${name} must be a positive number of milliseconds or Infinity, not ${JSON.stringify(text)}\n`,
  );
  process.exit(2);
}
