/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`) against
 * `server.ts`, which serves both protocol eras on one URL through `createDualEraHandler`. Three
 * suite runs per mode (`SUITES`): 0.1.16's every server scenario (2025 era), and the newest
 * release with 2026-07-28 scenarios run at each revision's wire, `--requirements 2025-11-25`
 * (sessions) and `--requirements 2026-07-28` (stateless). Four modes:
 * - one instance;
 * - two instances on one SQLite file behind a round-robin proxy (live bus between them);
 * - the same, with the proxy sending each of the client's answers to the instance that did not
 *   ask (so every sampling and elicitation answer must cross the bus);
 * - restart: one instance behind the proxy, restarted (SIGTERM, a new process) after every
 *   accepted `initialize`, so every session is served by a process that did not create it, and
 *   before every 2026-07-28 retry that echoes a `requestState`, so the state is read by a process
 *   that did not mint it.
 *
 * The suite only checks that the client was asked for sampling or elicitation; this runner also
 * checks that each answer reached the tool that asked (the server's `conformance-answer` lines and
 * the answer echoed in the tool's result), and, with two instances, counts the answers that were
 * posted to the instance that did not ask.
 *
 * A requirement run scores only what the revision requires; what it runs without scoring
 * (extensions, pending scenarios) is printed with its result and never fails the run, except the
 * Tasks extension's `tasks-*` scenarios: this project serves the extension, so each must pass.
 *
 * The suite needs Node >= 22: Node 22 and both suite versions are installed from the npm registry
 * into a cache outside the repo (`$XDG_CACHE_HOME/mcp-sessions-conformance`, reused when present).
 *
 * Usage (repo root): `node --import tsx test/official-conformance/run.ts [--mode one|two|cross|restart]...`
 * Env: MCP_SESSIONS_CONFORMANCE_CACHE overrides the cache directory.
 * Exit code: 0 when every mode passed every scored scenario and every answer arrived.
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

/** The latest release: 2025-era scenarios only. */
const SUITE_VERSION = '0.1.16';
/** The newest release with 2026-07-28 server scenarios, installed under an npm alias beside 0.1.16. */
const NEXT_VERSION = '0.2.0-alpha.12';
const NEXT_ALIAS = 'conformance-next';

interface Suite {
  label: string;
  /** The installed package directory under the cache's node_modules. */
  dir: string;
  era: '2025' | '2026-07-28';
  args: string[];
}
const SUITES: Suite[] = [
  {
    label: `${SUITE_VERSION} all`,
    dir: '@modelcontextprotocol/conformance',
    era: '2025',
    args: ['--suite', 'all'],
  },
  {
    label: `${NEXT_VERSION} --requirements 2025-11-25`,
    dir: NEXT_ALIAS,
    era: '2025',
    args: ['--requirements', '2025-11-25'],
  },
  {
    label: `${NEXT_VERSION} --requirements 2026-07-28`,
    dir: NEXT_ALIAS,
    era: '2026-07-28',
    args: ['--requirements', '2026-07-28'],
  },
];
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
  restart: 'one instance restarted after every initialize and before every requestState retry',
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

/** Node 22 and both suites in the cache (installed on first use): how to run a suite's CLI. */
function suiteCommand(): { node: string; cli: (suite: Suite) => string } {
  const cache =
    process.env.MCP_SESSIONS_CONFORMANCE_CACHE ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mcp-sessions-conformance');
  const nodePackage = `node-${process.platform}-${process.arch}`;
  const cli = (suite: Suite) => join(cache, 'node_modules', suite.dir, 'dist', 'index.js');
  const currentMajor = Number(process.versions.node.split('.')[0]);
  const node =
    currentMajor >= NODE_MAJOR ? process.execPath : join(cache, 'node_modules', nodePackage, 'bin', 'node');
  const installed = (name: string) => {
    const manifest = join(cache, 'node_modules', name, 'package.json');
    return existsSync(manifest)
      ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
      : '';
  };
  const wanted = [
    `@modelcontextprotocol/conformance@${SUITE_VERSION}`,
    `${NEXT_ALIAS}@npm:@modelcontextprotocol/conformance@${NEXT_VERSION}`,
  ];
  if (node !== process.execPath) wanted.push(`${nodePackage}@${NODE_MAJOR}`);
  const ready =
    installed('@modelcontextprotocol/conformance') === SUITE_VERSION &&
    installed(NEXT_ALIAS) === NEXT_VERSION &&
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

/** Runs one suite against `url`; the per-scenario checks from the suite's output directory. */
function runSuite(
  url: string,
  suite: Suite,
  out: string,
): Promise<{ code: number; checks: Map<string, Check[]>; log: string }> {
  const { node, cli } = suiteCommand();
  return new Promise((done) => {
    const child = spawn(node, [cli(suite), 'server', '--url', url, ...suite.args, '-o', out], {
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

/**
 * What a requirement run ran without scoring, from its report (`  ✗ tasks-lifecycle (extension)`):
 * scenario → reason.
 */
function notScored(log: string): Map<string, string> {
  const section = log.slice(log.indexOf('Not scored for'));
  const found = new Map<string, string>();
  if (section.length === log.length && !log.includes('Not scored for')) return found;
  for (const [, scenario, reason] of section.matchAll(/^\s+[✓✗] (\S+) \(([a-z-]+)\)$/gmu)) {
    found.set(scenario!, reason!);
  }
  return found;
}

/** One mode: its servers, then every suite against them, with the answer checks. True when all passed. */
async function runMode(mode: Mode): Promise<boolean> {
  const store = `sqlite:${join(work, `${mode}.db`)}`;
  const instances: Instance[] = [];
  let restarts = 0;
  /** The restart in progress, if any: awaited before a suite's figures are read. */
  let restarting: Promise<void> = Promise.resolve();
  const env: Record<string, string> = { MCP_SESSIONS_STORE: store };
  const restart = () => {
    restarting = (async () => {
      const old = instances.pop()!;
      await stopInstance(old);
      instances.push(await startInstance(`R${++restarts}`, old.port, env));
    })();
    return restarting;
  };
  const proxy =
    mode === 'one'
      ? undefined
      : await startProxy({
          answersElsewhere: mode === 'cross',
          afterInitialize: mode === 'restart' ? restart : undefined,
          beforeStateRetry: mode === 'restart' ? restart : undefined,
        });
  if (proxy) env.MCP_CONFORMANCE_HOSTS = proxy.host;

  /** One suite against the mode's servers. True when it passed. */
  async function runOne(suite: Suite, index: number, url: string): Promise<boolean> {
    const failures: string[] = [];
    const linesBefore = serverLines.length;
    const answersBefore = proxy?.answersRoutedTo().length ?? 0;
    const restartsBefore = restarts;
    const started = Date.now();
    const { code, checks, log } = await runSuite(url, suite, join(work, `results-${mode}-${index}`));
    await restarting;
    const seconds = Math.round((Date.now() - started) / 1000);
    const lines = serverLines.slice(linesBefore);
    const suiteRestarts = restarts - restartsBefore;
    const expected = Number(/Running .*?\((\d+) scenarios\)/.exec(log)?.[1] ?? Number.NaN);
    const unscored = notScored(log);

    let passed = 0;
    const warned: string[] = [];
    const unscoredFailing: string[] = [];
    for (const [scenario, list] of [...checks].sort(([a], [b]) => a.localeCompare(b))) {
      const failed = list.filter((c) => c.status === 'FAILURE');
      // The suite runs the Tasks extension's scenarios unscored; this runner scores them.
      const reason = scenario.startsWith('tasks-') ? undefined : unscored.get(scenario);
      if (reason !== undefined) {
        if (failed.length > 0) unscoredFailing.push(`${scenario} (${reason})`);
      } else if (failed.length === 0) passed++;
      else failures.push(`${scenario}: ${failed.map((c) => `${c.id}: ${c.errorMessage ?? ''}`).join('; ')}`);
      if (list.some((c) => c.status === 'WARNING')) warned.push(scenario);
    }
    if (checks.size !== expected)
      failures.push(`the suite announced ${expected} scenarios, ${checks.size} reported`);
    if (code !== 0 && failures.length === 0) failures.push(`the suite exited with code ${code}`);

    const figures: string[] = [];
    if (suite.era === '2025') {
      // The suite saw the client asked; the server must have got each answer.
      const answerLines = lines.filter((l) => l.includes('conformance-answer '));
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
        const postedTo = proxy!
          .answersRoutedTo()
          .slice(answersBefore)
          .map((port) => instances.find((i) => i.port === port)?.name);
        const count = askedOn.filter((name, n) => postedTo[n] !== undefined && postedTo[n] !== name).length;
        crossed = `, ${count} posted to the other instance`;
        if (mode === 'cross' && count !== Object.keys(ANSWERS).length) {
          failures.push(`only ${count} answers were posted to the instance that did not ask`);
        }
      }
      figures.push(
        `answers received by the asking tool: ${answerLines.length}/${Object.keys(ANSWERS).length}${crossed}`,
      );
      // Sessions served by a process that did not initialize them (attached or recovered).
      const rebuilt = lines.filter((l) => l.includes('session rebuilt'));
      const recovered = rebuilt.filter((l) => l.includes('mode="recovered"')).length;
      if (mode === 'restart' && rebuilt.length < suiteRestarts - 1) {
        failures.push(`${suiteRestarts} restarts but only ${rebuilt.length} sessions rebuilt after one`);
      }
      if (mode !== 'one') {
        figures.push(
          `sessions rebuilt by another process: ${rebuilt.length} (${recovered} recovered, the rest attached)`,
        );
      }
    } else if (mode !== 'one') {
      // Multi round-trip retries whose requestState another process minted: the shared key at work.
      const crossed = lines.filter((l) => l.includes('conformance-state-crossed')).length;
      if (crossed === 0) failures.push('no requestState retry was served by a process that did not mint it');
      figures.push(`requestState retries served by a process that did not mint the state: ${crossed}`);
    }
    if (mode === 'restart') figures.push(`server restarts: ${suiteRestarts}`);

    const scored = checks.size - [...unscored.keys()].filter((s) => !s.startsWith('tasks-')).length;
    console.log(
      `official conformance (${MODE_NAMES[mode]}) [${suite.label}, ${suite.era} era]: ${passed} passed, ${scored - passed} failed (${seconds} s)`,
    );
    for (const figure of figures) console.log(`  ${figure}`);
    const tasks = [...checks.keys()].filter((scenario) => scenario.startsWith('tasks-'));
    if (tasks.length > 0) {
      console.log(`  the Tasks extension's scenarios (unscored by the suite, scored here): ${tasks.length}`);
    }
    const informational = unscored.size - tasks.filter((scenario) => unscored.has(scenario)).length;
    if (informational > 0) {
      console.log(
        `  run but not scored by the suite: ${informational}, ${unscoredFailing.length} failing${unscoredFailing.length > 0 ? `: ${unscoredFailing.join(', ')}` : ''}`,
      );
    }
    if (warned.length > 0) console.log(`  scenarios with warnings (not failures): ${warned.join(', ')}`);
    if (failures.length > 0) {
      for (const f of failures) console.log(`  FAILED ${f}`);
      console.log(`--- suite output (${mode}, ${suite.label}) ---\n${log}\n--- server stderr ---`);
      console.log(lines.join('\n'));
    }
    return failures.length === 0;
  }

  let ok = true;
  try {
    const names = mode === 'two' || mode === 'cross' ? ['A', 'B'] : ['A'];
    for (const name of names) instances.push(await startInstance(name, await freePort(), env));
    proxy?.setBackends(instances.map((i) => i.port));
    const url = proxy?.url ?? `http://127.0.0.1:${instances[0]!.port}/mcp`;
    for (const [index, suite] of SUITES.entries()) ok = (await runOne(suite, index, url)) && ok;
  } finally {
    await restarting;
    for (const instance of instances) await stopInstance(instance);
    await proxy?.close();
  }
  return ok;
}

let ok = true;
try {
  for (const mode of requestedModes()) ok = (await runMode(mode)) && ok;
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
