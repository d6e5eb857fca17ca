/**
 * `pnpm tasks-client` (with `pnpm start` running): the official Tasks client calls `countdown` as a
 * durable task with `confirm: true`, says yes when the server asks, and prints what it sees.
 * MCP_URL names the server (http://127.0.0.1:3000/mcp). The README shows this file as it is.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  createApplicationInputHandler,
  createTaskSessionFromClient,
  type RawClientDispatch,
  resultFromTaskOutcome,
} from '@modelcontextprotocol/ext-tasks/client';

const url = process.env.MCP_URL ?? 'http://127.0.0.1:3000/mcp';
const protocolVersion = '2026-07-28';
const clientInfo = { name: 'tasks-client', version: '1.0.0' };

// SDK v2's codec refuses `resultType: "task"`, so ext-tasks sends tools/call and tasks/* (already
// framed) through this raw path: one POST each, with the 2026-07-28 headers.
let lastId = 0;
const rawDispatch: RawClientDispatch = async (request, options) => {
  const { method, params } = request as { method: string; params?: { name?: string; taskId?: string } };
  const headers = new Headers(options?.context?.headers);
  headers.set('content-type', 'application/json');
  headers.set('accept', 'application/json, text/event-stream');
  headers.set('mcp-protocol-version', protocolVersion);
  headers.set('mcp-method', method);
  const name = params?.taskId ?? params?.name;
  if (name !== undefined) headers.set('mcp-name', name);
  const id = ++lastId;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    signal: options?.signal,
  });
  const body = await response.text();
  // A JSON body, or an SSE stream with the answer on a `data:` line.
  const texts = body.startsWith('{') ? [body] : body.split('\n').filter((l) => l.startsWith('data:'));
  const answer = texts.map((t) => JSON.parse(t.replace(/^data:/, ''))).find((m) => m.id === id);
  if (!answer) throw new Error(`${method}: no answer in ${body}`);
  return answer.error ? { kind: 'error', error: answer.error } : { kind: 'result', result: answer.result };
};

const client = new Client(clientInfo, { versionNegotiation: { mode: { pin: protocolVersion } } });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const session = createTaskSessionFromClient(client, {
  endpointId: url,
  rawDispatch,
  // ext-tasks adds the tasks extension to the capabilities of every request it frames.
  v2RequestFraming: { protocolVersion, clientInfo, clientCapabilities: {} },
  onInputRequest: createApplicationInputHandler({
    elicitation: async ({ params }) => {
      console.log(`server asks: ${params.message} -> yes`);
      return { action: 'accept', content: { proceed: true } };
    },
    sampling: async () => {
      throw new Error('this client does no sampling');
    },
    roots: async () => ({ roots: [] }),
  }),
});

try {
  const execution = await session.callTool('countdown', { from: 3, intervalMs: 500, confirm: true });
  console.log(execution.kind === 'task' ? `task ${execution.handle.taskId}` : 'answered at once');
  const { outcome } = await execution.settle({
    onEvent: (event) => {
      if (event.type === 'task')
        console.log(`  ${event.task.status} ${event.task.statusMessage ?? ''}`.trimEnd());
    },
  });
  const result = resultFromTaskOutcome(outcome);
  console.log(`${outcome.status}: ${JSON.stringify(result.content)}`);
} finally {
  await session.close();
  await client.close();
}
