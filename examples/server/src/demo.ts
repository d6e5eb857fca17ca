/**
 * `pnpm demo`: the point of mcp-sessions in ten seconds. Starts the server, connects the official
 * SDK client, remembers a value, kills the server with SIGKILL, starts a new one on the same
 * SQLite file, and recalls the value with the same client on the same session.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort, type ServerProcess, startServer } from './spawn';

const port = String(process.env.PORT ?? (await freePort()));
const env = { PORT: port, MCP_SESSIONS_STORE: process.env.MCP_SESSIONS_STORE ?? 'sqlite:./.data/demo.db' };
const step = (n: number, text: string) => process.stdout.write(`\n${n}. ${text}\n`);
const show = (line: string) => process.stdout.write(`   server | ${line.replace(/^\S+ /, '')}\n`);
const text = (result: unknown) => (result as { content: { text: string }[] }).content[0]!.text;

step(1, `start the server (${env.MCP_SESSIONS_STORE}, port ${port})`);
let server: ServerProcess = await startServer(env, show);

step(2, 'connect the official MCP SDK client');
const transport = new StreamableHTTPClientTransport(new URL(server.url));
const client = new Client({ name: 'demo-agent', version: '1.0.0' });
await client.connect(transport);
const sessionId = transport.sessionId;
process.stdout.write(`   session id: ${sessionId}\n`);

step(3, 'remember favourite_color = teal');
process.stdout.write(
  `   -> ${text(await client.callTool({ name: 'remember', arguments: { key: 'favourite_color', value: 'teal' } }))}\n`,
);

step(4, 'kill the server with SIGKILL (no shutdown, no goodbye)');
server.child.kill('SIGKILL');
await server.exited;
process.stdout.write('   server is gone\n');

step(5, 'start a brand-new server process on the same store');
server = await startServer(env, show);

step(6, 'recall favourite_color with the SAME client object');
process.stdout.write(
  `   -> ${text(await client.callTool({ name: 'recall', arguments: { key: 'favourite_color' } }))}\n`,
);
process.stdout.write(`   -> ${text(await client.callTool({ name: 'session_info', arguments: {} }))}\n`);
process.stdout.write(`   same session id: ${transport.sessionId === sessionId}\n`);

step(7, 'end the session (HTTP DELETE) and stop the server');
await transport.terminateSession();
await client.close();
server.child.kill('SIGTERM');
await server.exited;
process.stdout.write('\ndone: the session, and what the agent remembered, outlived the process.\n');
