/**
 * The `tasks` suite's doomed worker: a process that opens the SQLite file named by
 * TASKS_WORKER_DB, creates a `hold` task (rerunnable) through its own Tasks instance with a lease
 * of TASKS_WORKER_LEASE_MS, prints `{"taskId": ...}` once the task runs, and keeps renewing the
 * lease until the suite SIGKILLs it. Not a suite; spawned by suites/tasks.ts from `bench/` with
 * `node --import tsx --conditions=@mcp-sessions/source probes/tasks-worker.ts`.
 */
import { SqliteSessionBus, SqliteSessionStore } from '@mcp-sessions/sqlite';
import { tasksInstance } from '../tasks-instance';

const filename = process.env.TASKS_WORKER_DB;
const leaseMs = Number(process.env.TASKS_WORKER_LEASE_MS);
if (!filename || !(leaseMs > 0)) throw new Error('set TASKS_WORKER_DB and TASKS_WORKER_LEASE_MS');

const store = new SqliteSessionStore({ filename, logger: false });
const bus = new SqliteSessionBus({ filename, logger: false });
let running!: () => void;
const started = new Promise<void>((resolve) => {
  running = resolve;
});
const instance = tasksInstance({
  store,
  bus,
  instanceId: `worker:${process.pid}`,
  leaseMs,
  onHold: () => running(),
});
const created = await instance.call('tools/call', { name: 'hold', arguments: {} });
if (created.result?.status !== 'working') throw new Error(`no task: ${JSON.stringify(created)}`);
await started;
process.stdout.write(`${JSON.stringify({ taskId: created.result.taskId })}\n`);
// The manager's timers are unref'd: this one keeps the process (and its lease renewals) alive.
setInterval(() => {}, 60_000);
