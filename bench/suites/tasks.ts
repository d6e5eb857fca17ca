/**
 * Durable MCP Tasks (issue #24, SEP-2663 on the 2026-07-28 wire): two in-process instances (two
 * `TaskManager`s, two extensions, two SDK v2 `createMcpHandler`s) on one SQLite file and its bus,
 * driven with raw web `Request`s (no sockets), as `bench/tasks-instance.ts` builds them:
 * 1. `tasks/get` of a working task on the instance that does not run it, against the one that
 *    does (goal <= 1.2x);
 * 2. a task-augmented `tools/call` of a tool that returns at once plus its first `tasks/get`,
 *    against a synchronous `tools/call` of the same tool by a client without the extension
 *    (goal <= 2x), with the create alone and two synchronous calls (two requests' fixed cost,
 *    no task) beside it; then the parts of a create, each timed alone against the same baseline;
 * 3. a worker process (`probes/tasks-worker.ts`) SIGKILLed while it runs a rerunnable task: the
 *    time until this process has taken the task over (attempts 2, worker = here) and runs it
 *    again, in leases (goal <= 2). Real processes and real timers, so a one-shot timing: printed
 *    as its own table, median and max of a few kills.
 * See bench/results/tasks.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TaskManager, type TaskRecord } from '@mcp-sessions/core';
import type { TaskContext } from '@mcp-sessions/core/http';
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import type { BenchGroup, BenchSuite } from '../harness';
import {
  type RpcAnswer,
  type TasksInstance,
  type TasksInstanceOptions,
  tasksInstance,
} from '../tasks-instance';

/** Runs per case in the timed groups (a call takes a few hundred microseconds). */
const ITERATIONS = 2_000;
/** Worker processes killed in section 3. */
const KILLS = Number(process.env.MCP_SESSIONS_BENCH_TASKS_KILLS ?? 7);
/** The lease in section 3, in the worker and here: short, so a kill is taken over in seconds. */
const KILL_LEASE_MS = 2_000;
const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('../probes/tasks-worker.ts', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-bench-tasks-'));
const closers: (() => Promise<unknown>)[] = [];
const out = (line = '') => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`  tasks: ${line}\n`);

/** A store and its bus on one file, closed at teardown after everything opened on them. */
function sqlite(name: string): { store: SqliteSessionStore; bus: SqliteSessionBus; file: string } {
  const file = join(dir, `${name}.db`);
  const store = new SqliteSessionStore({ filename: file, logger: false });
  const bus = new SqliteSessionBus({ filename: file, logger: false });
  closers.push(
    () => store.close(),
    () => bus.close(),
  );
  return { store, bus, file };
}

function instance(options: TasksInstanceOptions): TasksInstance {
  const made = tasksInstance(options);
  closers.push(() => made.close());
  return made;
}

const suite: BenchSuite = {
  name: 'tasks',
  async groups(): Promise<BenchGroup[]> {
    await takeovers();

    const { store, bus } = sqlite('tasks');
    const a = instance({ store, bus, instanceId: 'bench-a' });
    const b = instance({ store, bus, instanceId: 'bench-b' });

    // Section 1: a task that stays working on `a` (its lease renewed by a's timers).
    const held = (await a.call('tools/call', { name: 'hold', arguments: {} })).result?.taskId;
    if (!held || !a.ext.runner.running.has(held)) throw new Error('the held task is not running on a');
    const getHeld = (on: TasksInstance) => async () =>
      expectStatus(await on.call('tasks/get', { taskId: held }));

    // Section 2: `echo` answers at once; as a task, its worker runs in the background of the create.
    let n = 0;
    const echo = () => ({ name: 'echo', arguments: { text: `hello ${n++}` } });
    const sync = async () => {
      const answer = await a.call('tools/call', echo(), { declared: false });
      if (answer.result?.resultType !== 'complete' || !answer.result.content) throw new Error(bad(answer));
    };
    const created = async () => {
      const answer = await a.call('tools/call', echo());
      if (answer.result?.resultType !== 'task' || !answer.result.taskId) throw new Error(bad(answer));
      return answer.result.taskId;
    };

    return [
      {
        name: 'tasks/get of a working task (sqlite, two instances)',
        baseline: { name: 'on the instance running it', fn: getHeld(a) },
        goal: '<= 1.2',
        iterations: ITERATIONS,
        subjects: [{ name: 'on the other instance', fn: getHeld(b) }],
      },
      {
        name: 'a tool that returns at once (sqlite)',
        baseline: { name: 'sync tools/call, client without the extension', fn: sync },
        goal: 'create + get <= 2',
        iterations: ITERATIONS,
        subjects: [
          {
            name: 'two sync tools/calls (two requests, no task)',
            fn: async () => {
              await sync();
              await sync();
            },
          },
          { name: 'task: create only (task-augmented tools/call)', fn: created },
          {
            name: 'task: create + first tasks/get, same instance',
            fn: async () => expectStatus(await a.call('tasks/get', { taskId: await created() })),
          },
          {
            name: 'task: create + first tasks/get, other instance',
            fn: async () => expectStatus(await b.call('tasks/get', { taskId: await created() })),
          },
        ],
      },
      await createParts(store, bus, { sync, get: getHeld(a) }),
    ];
  },
  async teardown() {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  },
};

export default suite;

// --- Section 2's profile: what a create does besides a request, each part alone ---

/**
 * What a create + first get adds to one synchronous call: the second request, and the store and
 * bus calls, on the same file and table: the create's insert; the worker's channel (subscribed
 * for the run); the worker's read of the task before it runs; its end (read + compare-and-set).
 * A manager of its own, timers off, so the tasks it makes and ends never reach the instances'
 * renewals. Timed alone and warm they read faster than inside a create, where
 * `probes/tasks-create-loop.ts` (OPS=1) times them.
 */
async function createParts(
  store: SqliteSessionStore,
  bus: SqliteSessionBus,
  requests: { sync: () => Promise<void>; get: () => Promise<void> },
): Promise<BenchGroup> {
  const parts = new TaskManager({ store, instanceId: 'bench-parts', timers: false, logger: false });
  closers.push(() => parts.dispose());
  const request = { method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } };
  const result = { content: [{ type: 'text', text: 'hello' }] };
  const working: string[] = [];
  for (let i = 0; i <= ITERATIONS; i++) working.push((await parts.create(request)).id);
  const last = working.at(-1)!;
  return {
    name: 'the parts of a task-augmented tools/call, each alone (sqlite)',
    baseline: { name: 'sync tools/call, client without the extension', fn: requests.sync },
    iterations: ITERATIONS,
    subjects: [
      { name: 'tasks/get of a working task (the second request)', fn: requests.get },
      { name: 'TaskManager.create (id + insertTask)', fn: () => parts.create(request) },
      {
        name: 'bus subscribe + unsubscribe (the worker channel)',
        fn: async () => (await bus.subscribe(last, () => {})).unsubscribe(),
      },
      { name: 'store.getTask', fn: () => store.getTask(last) },
      {
        name: "worker's end: TaskManager.report complete (get + CAS)",
        fn: () => {
          const taskId = working.pop();
          if (taskId === undefined) throw new Error('no working task left');
          return parts.report(taskId, { type: 'complete', workerId: parts.instanceId, result });
        },
      },
    ],
  };
}

// --- Section 3: a SIGKILLed worker's task taken over by this process ---

interface Takeover {
  /** The dead worker's lease left when it was killed. */
  leaseLeftMs: number;
  /** Kill → this instance's compare-and-set of the takeover (attempts 2, worker = here). */
  takenOverMs: number;
  /** Kill → the tool running again here (`hold` started with attempt 2). */
  runningMs: number;
}

async function takeovers(): Promise<void> {
  const { store, bus, file } = sqlite('takeover');
  let onHold: (task: TaskContext) => void = () => {};
  const here = instance({
    store,
    bus,
    instanceId: 'bench-survivor',
    leaseMs: KILL_LEASE_MS,
    onHold: (task) => onHold(task),
  });
  const runs: Takeover[] = [];
  for (let i = 0; i < KILLS; i++) {
    const run = await killAndTakeOver(here, store, file, (listener) => {
      onHold = listener;
    });
    runs.push(run);
    progress(
      `kill ${i + 1}/${KILLS}: lease left ${ms(run.leaseLeftMs)}, taken over ${ms(run.takenOverMs)}, running ${ms(run.runningMs)}`,
    );
  }
  await here.close();

  const lease = (x: number) => `${(x / KILL_LEASE_MS).toFixed(2)} (${ms(x)})`;
  const columns: [string, (r: Takeover) => number][] = [
    ['lease left at the kill', (r) => r.leaseLeftMs],
    ['found by a sweep after the lapse', (r) => r.takenOverMs - r.leaseLeftMs],
    ['**taken over** (attempts 2, worker = survivor)', (r) => r.takenOverMs],
    ['tool running again', (r) => r.runningMs],
  ];
  out(
    `\n### tasks: SIGKILL of the worker's process to the takeover (lease ${KILL_LEASE_MS} ms, ${KILLS} kills)`,
  );
  out('Times from the SIGKILL, in leases (ms). The worker renewed every third of a lease, so its lease');
  out('lapses 2/3-1 lease after the kill; the survivor sweeps every half lease: by design 0.67-1.5 leases.');
  out(`| kill | ${columns.map(([name]) => name).join(' | ')} |`);
  out(`|---|${columns.map(() => '---|').join('')}`);
  for (const [i, r] of runs.entries())
    out(`| ${i + 1} | ${columns.map(([, pick]) => lease(pick(r))).join(' | ')} |`);
  for (const [name, stat] of [
    ['median', median],
    ['max', (xs: number[]) => Math.max(...xs)],
  ] as const) {
    out(`| **${name}** | ${columns.map(([, pick]) => lease(stat(runs.map(pick)))).join(' | ')} |`);
  }
  out('goal: taken over <= 2 leases after the kill\n');
}

/** One worker process: started, its task running, SIGKILLed at a random point of its renewals. */
async function killAndTakeOver(
  here: TasksInstance,
  store: SqliteSessionStore,
  file: string,
  watchHold: (listener: (task: TaskContext) => void) => void,
): Promise<Takeover> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@mcp-sessions/source', WORKER], {
    cwd: BENCH_DIR,
    env: { ...process.env, TASKS_WORKER_DB: file, TASKS_WORKER_LEASE_MS: String(KILL_LEASE_MS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  closers.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { taskId } = JSON.parse(line) as { taskId: string };
  // Anywhere in the worker's renewal cycle (every third of a lease) and in this sweep's (every half).
  await sleep(KILL_LEASE_MS / 2 + Math.random() * KILL_LEASE_MS);

  const takenOver = new Promise<number>((resolve) => {
    const listener = (task: TaskRecord) => {
      if (task.id !== taskId) return;
      here.manager.off('takenOver', listener);
      resolve(performance.now());
    };
    here.manager.on('takenOver', listener);
  });
  const running = new Promise<number>((resolve) => {
    watchHold((task) => {
      if (task.taskId === taskId && task.attempt === 2) resolve(performance.now());
    });
  });
  const killedAt = performance.now();
  const killedWall = Date.now();
  child.kill('SIGKILL');
  await exited;
  const dead = await store.getTask(taskId);
  if (!dead || dead.workerId === here.manager.instanceId) throw new Error(`not the worker's task: ${taskId}`);

  const [takenOverAt, runningAt] = await within(Promise.all([takenOver, running]), 5 * KILL_LEASE_MS);
  const now = await store.getTask(taskId);
  if (now?.attempts !== 2 || now.workerId !== here.manager.instanceId || now.status !== 'working') {
    throw new Error(`task ${taskId} not taken over: ${JSON.stringify(now)}`);
  }
  // Stopped here, so the next kill starts from an idle survivor.
  await here.manager.cancel(taskId);
  await here.ext.runner.cancelled(taskId);
  return {
    leaseLeftMs: (dead.leaseUntil ?? killedWall) - killedWall,
    takenOverMs: takenOverAt - killedAt,
    runningMs: runningAt - killedAt,
  };
}

// --- Internal helpers ---

function expectStatus(answer: RpcAnswer): void {
  const status = answer.result?.status;
  if (status !== 'working' && status !== 'completed') throw new Error(bad(answer));
}

function bad(answer: RpcAnswer): string {
  return `unexpected answer: ${JSON.stringify(answer)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no takeover within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function ms(x: number): string {
  return `${Math.round(x)} ms`;
}
