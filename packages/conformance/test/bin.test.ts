/** The bin, run as an adapter author would: a child process with node:test, against a fixture module. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

function runBin(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@mcp-sessions/source', bin, ...args],
      {
        cwd: packageDir,
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('mcp-sessions-conformance <module>', () => {
  it('passes against a module exporting a memory store factory (path relative to cwd)', async () => {
    const { code, output } = await runBin(['test/fixtures/memory-store.ts']);
    expect(output).toMatch(/^# fail 0$/m);
    expect(output).toMatch(/^# pass [1-9]\d+$/m);
    expect(output).toContain('mcp-sessions conformance: memory-via-bin');
    expect(output).toContain(
      'skipped "durability: records, state and events survive close and reopen" — no reopenStore',
    );
    expect(code).toBe(0);
  }, 60_000);

  it('fails, naming the broken promise, against a store whose insert overwrites', async () => {
    const { code, output } = await runBin(['./test/fixtures/broken-store.ts']);
    expect(output).toMatch(/not ok \d+ - records: insert rejects a duplicate id/);
    expect(output).toMatch(/^# fail [1-9]/m);
    expect(code).not.toBe(0);
  }, 60_000);

  it('prints usage and exits 2 without a module, and fails on a module without createStore', async () => {
    const usage = await runBin([]);
    expect(usage.code).toBe(2);
    expect(usage.output).toContain('usage: mcp-sessions-conformance <module>');
    const wrong = await runBin(['test/recorder.ts']);
    expect(wrong.code).toBe(2);
    expect(wrong.output).toContain('does not export a createStore() function');
  }, 60_000);
});
