// The new user's client: the official MCP SDK over HTTP against the README's server.
//   node client.mjs <url> remember            -> prints the session id after `remember` answered
//   node client.mjs <url> resume <sessionId>  -> the same session carries on after a restart
//   node client.mjs <url> unknown             -> a made-up Mcp-Session-Id gets 404; other paths 404
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, step, sessionId] = process.argv.slice(2);

function fail(message) {
  console.error(`client: ${message}`);
  process.exit(1);
}

async function remember(transport) {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  // With a session id already set, connect() skips initialize: the SDK's reconnect path.
  await client.connect(transport);
  const result = await client.callTool({ name: 'remember', arguments: { key: 'colour', value: 'teal' } });
  const text = result.content?.[0]?.text;
  if (result.isError || text !== 'saved colour') fail(`remember answered ${JSON.stringify(result)}`);
}

if (step === 'remember') {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await remember(transport);
  if (!transport.sessionId) fail('no Mcp-Session-Id after initialize');
  console.log(transport.sessionId);
  await transport.close();
} else if (step === 'resume') {
  // A client that comes back with its session id after the server restarted.
  const transport = new StreamableHTTPClientTransport(new URL(url), { sessionId });
  await remember(transport);
  if (transport.sessionId !== sessionId) fail(`resumed as ${transport.sessionId}, not ${sessionId}`);
  await transport.close();
} else if (step === 'unknown') {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      'mcp-session-id': 'no-such-session-0000000000000000',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
  if (response.status !== 404) fail(`unknown session answered ${response.status}: ${await response.text()}`);
  const other = await fetch(new URL('/elsewhere', url));
  if (other.status !== 404) fail(`a path other than /mcp answered ${other.status}`);
} else {
  fail(`unknown step ${step}`);
}
