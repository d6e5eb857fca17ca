/**
 * `pnpm start`: an MCP server at http://127.0.0.1:$PORT/mcp whose sessions survive restarts and
 * move between instances. Env: PORT (3000), MCP_SESSIONS_STORE (sqlite:./.data/sessions.db),
 * MCP_SESSIONS_INSTANCE_ID (host:pid:random).
 */
import { createServer } from 'node:http';
import { SessionManager } from '@mcp-sessions/core';
import { createEventStore, createNodeSessionHandler } from '@mcp-sessions/core/http';
import { createAppServer } from './app';
import { stderrLogger } from './logger';
import { DEFAULT_STORE, openStore } from './store';

const port = Number(process.env.PORT ?? 3000);
const storeSpec = process.env.MCP_SESSIONS_STORE || DEFAULT_STORE;
const instanceId = process.env.MCP_SESSIONS_INSTANCE_ID || undefined;

const store = await openStore(storeSpec);
const manager = new SessionManager({ store, instanceId });
const log = stderrLogger(manager.instanceId);
for (const event of ['initialized', 'disconnected', 'recovered', 'expired', 'closed'] as const) {
  manager.on(event, (record) =>
    log.info(`session ${event}`, { sessionId: record.id, recoveryAttempts: record.recoveryAttempts }),
  );
}
manager.on('lost', (sessionId) => log.warn('session lost (closed or expired elsewhere)', { sessionId }));
manager.on('error', (error) => log.error('background work failed', { error }));

const handler = createNodeSessionHandler({
  manager,
  createServer: (ctx) => createAppServer(manager, ctx),
  eventStore: createEventStore(manager),
  logger: log,
});

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
    store: storeSpec.replace(/\/\/[^@/]*@/, '//***@'),
  });
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  await handler.close(); // sessions marked disconnected: any instance may recover them
  await manager.dispose();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  await store.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
