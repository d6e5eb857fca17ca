/**
 * `forget`, a 2026-07-28 Multi Round-Trip Request, on two example processes sharing one SQLite
 * file: the retry completes on the instance that did not mint the `requestState` (the codec's key
 * is shared), and the same `requestState` replayed is refused on either instance (consume-once in
 * the shared store).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  Client,
  type InputRequiredResult,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { createRequestStateCodec } from '@modelcontextprotocol/server';
import { describe, expect, it, vi } from 'vitest';

import { EXAMPLE_DIR, freePort } from '../src/spawn';
import { cleanups, toolJson as json, server } from './fixtures/processes';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

async function client(url: string, options: { autoFulfill?: boolean } = {}): Promise<Client> {
  const c = new Client(
    { name: 'modern-agent', version: '1.0.0' },
    {
      versionNegotiation: { mode: { pin: '2026-07-28' } },
      capabilities: { elicitation: { form: {} } },
      inputRequired: { autoFulfill: options.autoFulfill ?? false },
    },
  );
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => c.close());
  return c;
}

/**
 * Two processes on one SQLite file, and a notebook holding `plan` for `modern-agent`. The second
 * names the file by a relative path (the servers run in the example's directory), the first by
 * its absolute path.
 */
async function twoInstances(): Promise<{
  a: Client;
  b: Client;
  handle: string;
  urls: [string, string];
  store: string;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-mrtr-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'sessions.db');
  const store = `sqlite:${file}`;
  const first = await server({ PORT: String(await freePort()), MCP_SESSIONS_STORE: store });
  const second = await server({
    PORT: String(await freePort()),
    MCP_SESSIONS_STORE: `sqlite:${relative(EXAMPLE_DIR, file)}`,
  });
  const a = await client(first.url);
  const b = await client(second.url);
  const { handle } = json(await a.callTool({ name: 'notebook_open', arguments: {} })) as { handle: string };
  await a.callTool({ name: 'remember', arguments: { key: 'plan', value: 'ship', handle } });
  return { a, b, handle, urls: [first.url, second.url], store };
}

const accept = { confirm: { action: 'accept', content: { confirm: true } } };

/** The manual retry's params: the call again, with the answer and the echoed state. */
function retryOf(args: { key: string; handle: string }, requestState: string | undefined) {
  return { name: 'forget', arguments: args, inputResponses: accept, requestState };
}

describe('forget: a multi round-trip request with a single-use requestState', () => {
  it('the retry completes on the other instance; the same requestState replayed is refused on both', async () => {
    const { a, b, handle } = await twoInstances();
    const args = { key: 'plan', handle };

    const asked = (await a.callTool(
      { name: 'forget', arguments: args },
      { allowInputRequired: true },
    )) as unknown as InputRequiredResult;
    expect(asked.resultType).toBe('input_required');
    expect(asked.inputRequests?.confirm).toMatchObject({ method: 'elicitation/create' });
    const requestState = asked.requestState;
    expect(typeof requestState).toBe('string');

    // Nothing is forgotten before the answer comes back.
    expect(json(await b.callTool({ name: 'recall', arguments: args })).value).toBe('ship');

    // The retry lands on the instance that did not mint the state.
    const retry = retryOf(args, requestState);
    const done = await b.callTool(retry);
    expect(done.isError).not.toBe(true);
    expect(json(done)).toEqual({ forgotten: true, key: 'plan' });
    expect(json(await a.callTool({ name: 'recall', arguments: args })).value).toBeNull();

    // Replayed, on the other instance and on the same one: refused, nothing done twice.
    await a.callTool({ name: 'remember', arguments: { key: 'plan', value: 'again', handle } });
    for (const replayer of [a, b]) {
      const replay = await replayer.callTool(retry);
      expect(replay.isError).toBe(true);
      expect(JSON.stringify(replay.content)).toMatch(/requestState: already used/);
    }
    expect(json(await b.callTool({ name: 'recall', arguments: args })).value).toBe('again');
  });

  it('a requestState for another call, or not minted by the example, is refused', async () => {
    const { a, b, handle } = await twoInstances();
    const asked = (await a.callTool(
      { name: 'forget', arguments: { key: 'plan', handle } },
      { allowInputRequired: true },
    )) as unknown as InputRequiredResult;

    const other = await b.callTool(retryOf({ key: 'other', handle }, asked.requestState));
    expect(other.isError).toBe(true);
    expect(JSON.stringify(other.content)).toMatch(/another forget call/);

    // Tampered: the codec's HMAC check refuses it before the tool runs.
    const [version, body, mac] = asked.requestState!.split('.');
    const payload = JSON.parse(Buffer.from(body!, 'base64url').toString()) as { p: { key: string } };
    payload.p.key = 'other';
    const forged = [version, Buffer.from(JSON.stringify(payload)).toString('base64url'), mac].join('.');
    await expect(b.callTool(retryOf({ key: 'other', handle }, forged))).rejects.toThrow(
      /Invalid or expired requestState/,
    );
    expect(json(await b.callTool({ name: 'recall', arguments: { key: 'plan', handle } })).value).toBe('ship');
  });

  it('the key is a secret kept in the store: one derived from the store spec forges nothing', async () => {
    const { a, handle, store } = await twoInstances();
    // How the example derived its key before: anyone who knows the spec could seal a state.
    const derived = createHash('sha256').update(`mcp-sessions example requestState key\0${store}`).digest();
    const forger = createRequestStateCodec({ key: derived, ttlSeconds: 600 });
    const forged = await forger.mint({ nonce: 'forged', handle, key: 'plan' });
    await expect(a.callTool(retryOf({ key: 'plan', handle }, forged))).rejects.toThrow(
      /Invalid or expired requestState/,
    );
    expect(json(await a.callTool({ name: 'recall', arguments: { key: 'plan', handle } })).value).toBe('ship');
  });

  it("the SDK v2 client's own driver answers the elicitation and retries in one callTool", async () => {
    const { handle, urls } = await twoInstances();
    const c = await client(urls[1], { autoFulfill: true });
    const asked: string[] = [];
    c.setRequestHandler('elicitation/create', async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { confirm: true } };
    });
    expect(json(await c.callTool({ name: 'forget', arguments: { key: 'plan', handle } }))).toEqual({
      forgotten: true,
      key: 'plan',
    });
    expect(asked).toEqual([`Forget "plan" from notebook ${handle}?`]);
  });
});
