/**
 * Where a task-augmented `tools/call` spends its time (results/tasks.md, "Where a create's time
 * goes"): CALLS calls of the `tasks` suite's `echo` on one instance over a SQLite file, as tasks
 * (MODE=task, the default) or as synchronous calls by a client without the extension
 * (MODE=sync), for a CPU profile of each. Not a suite; from `bench/`:
 * `MODE=task node --cpu-prof --cpu-prof-dir=/tmp/prof/task --import tsx
 * --conditions=@mcp-sessions/source probes/tasks-create-loop.ts` (the largest .cpuprofile is the
 * main thread's; the other is tsx's loader thread). Prints the mean time per call. OPS=1 (no
 * profiler needed) also times, in place, each store and bus call the creates make (insertTask,
 * getTask, compareAndSetTask, subscribe) and each whole call: median, mean, p99, max.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import { tasksInstance } from '../tasks-instance';

const MODE = process.env.MODE ?? 'task';
const CALLS = Number(process.env.CALLS ?? 8_000);
const OPS = process.env.OPS === '1';
if (MODE !== 'task' && MODE !== 'sync') throw new Error('MODE is task or sync');

const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-probe-tasks-'));
const file = join(dir, 'tasks.db');
const store = new SqliteSessionStore({ filename: file, logger: false });
const bus = new SqliteSessionBus({ filename: file, logger: false });
const instance = tasksInstance({ store, bus, instanceId: 'probe' });
// As in the suite: one task held working, so the bus keeps one subscription (and its poller).
await instance.call('tools/call', { name: 'hold', arguments: {} });

const times = new Map<string, number[]>();
if (OPS) {
  timeCalls(store, ['insertTask', 'getTask', 'compareAndSetTask']);
  timeCalls(bus, ['subscribe']);
}
const started = performance.now();
for (let i = 0; i < CALLS; i++) {
  const params = { name: 'echo', arguments: { text: `hello ${i}` } };
  const callStarted = performance.now();
  const answer = await instance.call('tools/call', params, { declared: MODE === 'task' });
  record(`${MODE} tools/call`, performance.now() - callStarted);
  if (answer.result?.resultType !== (MODE === 'task' ? 'task' : 'complete')) {
    throw new Error(`unexpected answer: ${JSON.stringify(answer)}`);
  }
}
const perCall = (performance.now() - started) / CALLS;
process.stdout.write(`${MODE}: ${CALLS} calls, ${(perCall * 1000).toFixed(1)} µs per call (mean)\n`);
if (OPS) {
  for (const [name, xs] of times) {
    const sorted = [...xs].sort((x, y) => x - y);
    const at = (q: number) => `${(sorted[Math.floor(q * (sorted.length - 1))]! * 1000).toFixed(1)} µs`;
    const mean = (1000 * xs.reduce((x, y) => x + y, 0)) / xs.length;
    process.stdout.write(
      `${name}: ${xs.length} calls, median ${at(0.5)}, mean ${mean.toFixed(1)} µs, p99 ${at(0.99)}, max ${at(1)}\n`,
    );
  }
}
await instance.close();
await bus.close();
await store.close();
rmSync(dir, { recursive: true, force: true });

// --- Internal helpers ---

function record(name: string, ms: number): void {
  const xs = times.get(name) ?? [];
  if (xs.length === 0) times.set(name, xs);
  xs.push(ms);
}

/** Wraps each named method of `target` to record how long its call takes (SQLite works in the call). */
function timeCalls(target: object, methods: string[]): void {
  const methodsOf = target as Record<string, (...args: unknown[]) => unknown>;
  for (const method of methods) {
    const original = methodsOf[method]!.bind(target);
    methodsOf[method] = (...args: unknown[]) => {
      const callStarted = performance.now();
      try {
        return original(...args);
      } finally {
        record(method, performance.now() - callStarted);
      }
    };
  }
}
