/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`, every server
 * scenario) against `server.ts`, in three modes:
 * - one instance;
 * - two instances on one SQLite file behind a round-robin proxy (live bus between them);
 * - the same, with the proxy sending each of the client's answers to the instance that did not
 *   ask (so every sampling and elicitation answer must cross the bus);
 * - restart: one instance behind the proxy, restarted (SIGTERM, a new process) after every
 *   accepted `initialize`, so every session is served by a process that did not create it.
 *
 * The suite only checks that the client was asked for sampling or elicitation; this runner also
 * checks that each answer reached the tool that asked (the server's `conformance-answer` lines and
 * the answer echoed in the tool's result), and, with two instances, counts the answers that were
 * posted to the instance that did not ask.
 *
 * The suite needs Node >= 22: Node 22 and the suite are installed from the npm registry into a
 * cache outside the repo (`$XDG_CACHE_HOME/mcp-sessions-conformance`, reused when present).
 *
 * Usage (repo root): `node --import tsx test/official-conformance/run.ts [--mode one|two|cross|restart]...`
 * Env: MCP_SESSIONS_CONFORMANCE_CACHE overrides the cache directory.
 * Exit code: 0 when every mode passed every scenario and every answer arrived.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProxy } from './proxy';

const SUITE_VERSION = '0.1.16';
const NODE_MAJOR = 22;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));

/** What each scenario's client answers, and so what the tool's result must contain. */
const ANSWERS: Record<string, { tool: string; echoed: string }> = {
  'tools-call-sampling': { tool: 'test_sampling', echoed: 'This is a test response from the client' },
  'tools-call-elicitation': { tool: 'test_elicitation', echoed: 'testuser' },
  'elicitation-sep1034-defaults': { tool: 'test_elicitation_sep1034_defaults', echoed: 'Jane Smith' },
  'elicitation-sep1330-enums': { tool: 'test_elicitation_sep1330_enums', echoed: 'value1' },
};

const MODES = ['one', 'two', 'cross', 'restart'] as const;
type Mode = (typeof MODES)[number];
const MODE_NAMES: Record<Mode, string> = {
  one: 'one instance',
  two: 'two instances behind a round-robin proxy',
  cross: 'two instances, every answer posted to the instance that did not ask',
  restart: 'one instance restarted after every initialize',
};

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  errorMessage?: string;
  details?: { result?: { content?: { type: string; text?: string }[] } };
}

interface Instance {
  child: ChildProcess;
  port: number;
  name: string;
  exited: Promise<void>;
}

const work = mkdtempSync(join(tmpdir(), 'mcp-official-conformance-'));
/** Every server's stderr, for the answer lines and for diagnosis. */
const serverLines: string[] = [];

function requestedModes(): Mode[] {
  const modes: Mode[] = [];
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--mode') throw new Error(`unknown argument ${args[i]}: use --mode ${MODES.join('|')}`);
    const mode = MODES.find((m) => m === args[i + 1]);
    if (!mode) throw new Error(`unknown mode ${args[i + 1]}: use ${MODES.join('|')}`);
    modes.push(mode);
    i++;
  }
  return modes.length > 0 ? modes : [...MODES];
}

/** Node 22 and the suite in the cache (installed on first use): the command that runs the suite. */
function suiteCommand(): { node: string; cli: string } {
  const cache =
    process.env.MCP_SESSIONS_CONFORMANCE_CACHE ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mcp-sessions-conformance');
  const nodePackage = `node-${process.platform}-${process.arch}`;
  const cli = join(cache, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
  const currentMajor = Number(process.versions.node.split('.')[0]);
  const node =
    currentMajor >= NODE_MAJOR ? process.execPath : join(cache, 'node_modules', nodePackage, 'bin', 'node');
  const installed = (name: string) => {
    const manifest = join(cache, 'node_modules', name, 'package.json');
    return existsSync(manifest)
      ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
      : '';
  };
  const wanted = [`@modelcontextprotocol/conformance@${SUITE_VERSION}`];
  if (node !== process.execPath) wanted.push(`${nodePackage}@${NODE_MAJOR}`);
  const ready =
    installed('@modelcontextprotocol/conformance') === SUITE_VERSION &&
    (node === process.execPath || installed(nodePackage).startsWith(`${NODE_MAJOR}.`));
  if (!ready) {
    mkdirSync(cache, { recursive: true });
    if (!existsSync(join(cache, 'package.json')))
      writeFileSync(join(cache, 'package.json'), '{"private":true}\n');
    console.log(`installing ${wanted.join(' ')} into ${cache}`);
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...wanted], {
      cwd: cache,
      stdio: 'inherit',
    });
  }
  return { node, cli };
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts `server.ts` and resolves once it listens. */
function startInstance(name: string, port: number, env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@mcp-sessions/source', SERVER], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), MCP_CONFORMANCE_INSTANCE: name },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return new Promise((done, fail) => {
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        serverLines.push(line);
        if (line.includes('listening url=')) done({ child, port, name, exited });
      }
    });
    child.once('exit', (code, signal) =>
      fail(new Error(`server ${name} exited before listening (code ${code}, signal ${signal})`)),
    );
  });
}

async function stopInstance(instance: Instance): Promise<void> {
  instance.child.kill('SIGTERM');
  await instance.exited;
}

/** Runs every scenario against `url`; the per-scenario checks from the suite's output directory. */
function runSuite(
  url: string,
  mode: Mode,
): Promise<{ code: number; checks: Map<string, Check[]>; log: string }> {
  const { node, cli } = suiteCommand();
  const out = join(work, `results-${mode}`);
  return new Promise((done) => {
    const child = spawn(node, [cli, 'server', '--url', url, '--suite', 'all', '-o', out], {
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (c: Buffer) => {
      log += c.toString('utf8');
    });
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString('utf8');
    });
    child.once('exit', (code) => {
      const checks = new Map<string, Check[]>();
      for (const dir of existsSync(out) ? readdirSync(out) : []) {
        const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
        checks.set(scenario, JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as Check[]);
      }
      done({ code: code ?? 1, checks, log });
    });
  });
}

/** One mode: its servers, the suite, and the answer checks. True when all passed. */
async function runMode(mode: Mode): Promise<boolean> {
  const store = `sqlite:${join(work, `${mode}.db`)}`;
  const instances: Instance[] = [];
  let restarts = 0;
  /** The restart in progress, if any: awaited before the mode's servers are stopped. */
  let restarting: Promise<void> = Promise.resolve();
  const linesBefore = serverLines.length;
  const env: Record<string, string> = { MCP_SESSIONS_STORE: store };
  const proxy =
    mode === 'one'
      ? undefined
      : await startProxy({
          answersElsewhere: mode === 'cross',
          afterInitialize:
            mode === 'restart'
              ? () => {
                  restarting = (async () => {
                    const old = instances.pop()!;
                    await stopInstance(old);
                    instances.push(await startInstance(`R${++restarts}`, old.port, env));
                  })();
                  return restarting;
                }
              : undefined,
        });
  if (proxy) env.MCP_CONFORMANCE_HOSTS = proxy.host;
  const failures: string[] = [];
  try {
    const names = mode === 'two' || mode === 'cross' ? ['A', 'B'] : ['A'];
    for (const name of names) instances.push(await startInstance(name, await freePort(), env));
    proxy?.setBackends(instances.map((i) => i.port));
    const url = proxy?.url ?? `http://127.0.0.1:${instances[0]!.port}/mcp`;
    const { code, checks, log } = await runSuite(url, mode);
    await restarting;
    const expected = Number(/Running all suite \((\d+) scenarios\)/.exec(log)?.[1] ?? Number.NaN);

    let passed = 0;
    const warned: string[] = [];
    for (const [scenario, list] of [...checks].sort(([a], [b]) => a.localeCompare(b))) {
      const failed = list.filter((c) => c.status === 'FAILURE');
      if (failed.length === 0) passed++;
      else failures.push(`${scenario}: ${failed.map((c) => `${c.id}: ${c.errorMessage ?? ''}`).join('; ')}`);
      if (list.some((c) => c.status === 'WARNING')) warned.push(scenario);
    }
    if (checks.size !== expected)
      failures.push(`the suite announced ${expected} scenarios, ${checks.size} reported`);
    if (code !== 0 && failures.length === 0) failures.push(`the suite exited with code ${code}`);

    // The suite saw the client asked; the server must have got each answer.
    const answerLines = serverLines.slice(linesBefore).filter((l) => l.includes('conformance-answer '));
    for (const [scenario, { tool, echoed }] of Object.entries(ANSWERS)) {
      const received = answerLines.filter((l) => l.includes(` tool=${tool} `));
      if (received.length !== 1 || !received[0]!.includes(echoed)) {
        failures.push(
          `${scenario}: expected one answer carrying ${JSON.stringify(echoed)} at ${tool}, got ${JSON.stringify(received)}`,
        );
      }
      // Where the suite keeps the tool's result, the answer must be in it too.
      const result = checks.get(scenario)?.find((c) => c.details?.result)?.details?.result;
      const text = result?.content?.map((c) => c.text ?? '').join(' ');
      if (text !== undefined && !text.includes(echoed)) {
        failures.push(
          `${scenario}: the tool's result does not carry the client's answer (${JSON.stringify(text)})`,
        );
      }
    }
    let crossed = '';
    if (mode === 'two' || mode === 'cross') {
      // Scenarios run one after another: the n-th answer POST belongs to the n-th asking tool.
      const askedOn = answerLines.map((l) => /instance=(\w+)/.exec(l)?.[1]);
      const postedTo = proxy!.answersRoutedTo().map((port) => instances.find((i) => i.port === port)?.name);
      const count = askedOn.filter((name, n) => postedTo[n] !== undefined && postedTo[n] !== name).length;
      crossed = `, ${count} posted to the other instance`;
      if (mode === 'cross' && count !== Object.keys(ANSWERS).length) {
        failures.push(`only ${count} answers were posted to the instance that did not ask`);
      }
    }
    // Sessions served by a process that did not initialize them (attached or recovered).
    const rebuilt = serverLines.slice(linesBefore).filter((l) => l.includes('session rebuilt'));
    const recovered = rebuilt.filter((l) => l.includes('mode="recovered"')).length;
    if (mode === 'restart' && rebuilt.length < restarts - 1) {
      failures.push(`${restarts} restarts but only ${rebuilt.length} sessions rebuilt after one`);
    }
    console.log(
      `official conformance (${MODE_NAMES[mode]}): ${passed} passed, ${checks.size - passed} failed`,
    );
    console.log(
      `  answers received by the asking tool: ${answerLines.length}/${Object.keys(ANSWERS).length}${crossed}`,
    );
    if (mode !== 'one') {
      console.log(
        `  sessions rebuilt by another process: ${rebuilt.length} (${recovered} recovered, the rest attached)`,
      );
    }
    if (mode === 'restart') console.log(`  server restarts: ${restarts}`);
    if (warned.length > 0) console.log(`  scenarios with warnings (not failures): ${warned.join(', ')}`);
    if (failures.length > 0) {
      for (const f of failures) console.log(`  FAILED ${f}`);
      console.log(`--- suite output (${mode}) ---\n${log}\n--- server stderr ---`);
      console.log(serverLines.slice(linesBefore).join('\n'));
    }
  } finally {
    for (const instance of instances) await stopInstance(instance);
    await proxy?.close();
  }
  return failures.length === 0;
}

let ok = true;
try {
  for (const mode of requestedModes()) ok = (await runMode(mode)) && ok;
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
