/**
 * Runs the workers of the tasks this instance holds, and carries what reaches a task from any
 * instance to its worker: an input answer (`tasks/update`) and a cancel (`tasks/cancel`) travel
 * on the live bus, on the task's id as channel, to the one instance whose worker holds the lease.
 *
 * The store stays the record: a worker writes every step through the `TaskManager` (lease holder
 * only), an update is acknowledged once the store shows it taken, and a cancel is written before
 * the worker hears of it, so a lost bus message delays a worker's stop (to its next write or
 * lease renewal) but never changes what a client reads.
 */
import type { BusSubscription, SessionBus } from '../bus';
import { InvalidArgumentError, TaskRefusedError } from '../errors';
import { sessionTag } from '../ids';
import { encodeJson, type JsonObject, type JsonValue } from '../json';
import type { Logger } from '../options';
import { isTerminalTask } from '../task-lifecycle';
import type { TaskRecord } from '../task-store';
import type { TaskManager } from '../tasks';
import { INTERNAL_ERROR, outcomeOfError, TASK_CHANGED, TaskProtocolError } from './task-wire';

/** What a task's worker is given besides its arguments. */
export interface TaskContext {
  readonly taskId: string;
  /** 1 for the first run; more when the task runs again after its worker was lost. */
  readonly attempt: number;
  /** Aborted when the task is cancelled, taken by another instance, or this instance stops. */
  readonly signal: AbortSignal;
  /** The input responses the creating request carried (answers gathered before the task). */
  readonly inputResponses: JsonObject | undefined;
  /**
   * Sets the task's `statusMessage` (what `tasks/get` shows while it works). Run without a task
   * (a client without the extension), it is sent as a log notification instead.
   */
  status(message: string): Promise<void>;
  /**
   * Asks the client (the task goes `input_required` with these `inputRequests`, each an
   * `elicitation/create`, `sampling/createMessage`... request) and resolves with the responses,
   * by the same keys, once every one is answered through `tasks/update`. A key is used once.
   * Run without a task, it throws -32021 (the client did not declare the extension).
   */
  input(requests: Record<string, JsonObject>): Promise<Record<string, JsonObject>>;
}

/** A task tool's work: returns its `CallToolResult`; a thrown JSON-RPC error (numeric `code`) fails the task. */
export type TaskHandler = (args: unknown, task: TaskContext) => Promise<JsonObject> | JsonObject;

/** A tool the runner can run (again), by name. */
export interface RunnableTool {
  readonly name: string;
  readonly handler: TaskHandler;
  /** The arguments as the handler takes them (the tool's input schema applied), or why not. */
  parse(args: unknown): Promise<{ ok: true; value: unknown } | { ok: false; message: string }>;
}

export interface TaskRunnerOptions {
  tasks: TaskManager;
  bus: SessionBus;
  /** Tools by name: a task taken over from a lost worker runs its tool again here. */
  tools: ReadonlyMap<string, RunnableTool>;
  logger: Logger;
  /** How long `update` waits for the worker to take an answer sent over the bus. */
  updateTimeoutMs: number;
}

/** A message on a task's bus channel: for its worker, or (`status`) for whoever follows the task. */
type WorkerMessage = { kind: 'input'; responses: JsonObject } | { kind: 'cancel' } | typeof TASK_CHANGED;

interface InputGroup {
  /** Wire key → the handler's key. */
  readonly keys: Map<string, string>;
  readonly answers: Record<string, JsonObject>;
  resolve(answers: Record<string, JsonObject>): void;
  reject(error: unknown): void;
}

interface Run {
  readonly task: TaskRecord;
  readonly controller: AbortController;
  /** Outstanding input requests by wire key, and who waits for each. */
  readonly requests: Map<string, { request: JsonObject; group: InputGroup }>;
  /** Every wire key asked in this run: a key is never reused. */
  readonly asked: Set<string>;
  /** Answers are taken one delivery at a time. */
  delivering: Promise<void>;
  subscription?: BusSubscription;
}

/** The abort reason of a worker that ended by itself (one error, not a DOMException per task). */
const FINISHED = new Error('the task finished');

/** Reports of a finished task are retried this many times while the store is down. */
const REPORT_ATTEMPTS = 5;

export class TaskRunner {
  private readonly runs = new Map<string, Run>();
  private closed = false;

  constructor(private readonly options: TaskRunnerOptions) {
    options.tasks.on('lost', (taskId) => this.stop(taskId, 'the task is no longer this instance’s to run'));
    options.tasks.on('takenOver', (task) => {
      this.announce(task.id);
      if (task.status === 'working') void this.restart(task);
    });
  }

  /** Ids of the tasks whose workers run here. */
  get running(): ReadonlySet<string> {
    return new Set(this.runs.keys());
  }

  /**
   * Starts the worker of a task this instance holds. Resolves once the task's bus channel is
   * live (so an update or cancel sent as soon as the client has the id reaches it); the tool
   * itself runs after that, on a later turn, so the answer creating the task goes out first.
   * `reread`: the task was claimed rather than just created, so a cancel may have been written
   * before the channel was live: it is read once more before the tool runs.
   */
  async start(task: TaskRecord, tool: RunnableTool, args: unknown, reread = false): Promise<void> {
    if (this.closed) return;
    const run: Run = {
      task,
      controller: new AbortController(),
      requests: new Map(),
      asked: new Set(),
      delivering: Promise.resolve(),
    };
    this.runs.set(task.id, run);
    try {
      run.subscription = await this.options.bus.subscribe(task.id, (message) => this.onMessage(run, message));
    } catch (error) {
      // No channel, no way to reach its worker: the task fails rather than wait for input forever.
      this.runs.delete(task.id);
      await this.write(task.id, {
        type: 'fail',
        workerId: this.options.tasks.instanceId,
        error: { code: INTERNAL_ERROR, message: 'The task could not start: its live bus is unavailable' },
      }).catch((failure: unknown) =>
        this.options.logger.error('task not failed after its bus failed; its lease will lapse', {
          task: sessionTag(task.id),
          error: failure,
        }),
      );
      throw error;
    }
    setImmediate(() => void this.work(run, tool, args, reread));
  }

  /**
   * A client's answers, on any instance: passed to the worker (here, or over the bus), then
   * confirmed from the store. Answers to keys that are not outstanding are ignored, as the spec
   * says a server should.
   */
  async update(task: TaskRecord, responses: JsonObject): Promise<void> {
    const outstanding = Object.keys(responses).filter((key) => task.inputRequests?.[key] !== undefined);
    if (outstanding.length === 0) return;
    const answers = Object.fromEntries(outstanding.map((key) => [key, responses[key]!]));
    const local = this.runs.get(task.id);
    if (local) return this.deliver(local, answers);
    await this.options.bus.publish(task.id, { kind: 'input', responses: answers } satisfies WorkerMessage);
    await this.taken(task.id, outstanding);
  }

  /** A cancel already written to the store: stops the worker, here or over the bus, and tells listeners. */
  async cancelled(taskId: string): Promise<void> {
    this.stop(taskId, 'the task was cancelled');
    try {
      await this.options.bus.publish(taskId, { kind: 'cancel' } satisfies WorkerMessage);
    } catch (error) {
      // Written already: the worker learns it at its next write or lease renewal instead.
      this.options.logger.warn('task cancel not sent to its worker; it stops at its next lease renewal', {
        task: sessionTag(taskId),
        error,
      });
    }
  }

  /**
   * A planned stop: stops every worker here and gives their leases up, so other instances take
   * the tasks over at once (run again, or failed, as each tool declared).
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const taskId of [...this.runs.keys()]) this.stop(taskId, 'this instance is stopping');
    await this.options.tasks.handOff();
  }

  // --- Internal helpers ---

  private async work(run: Run, tool: RunnableTool, args: unknown, reread: boolean): Promise<void> {
    const { task, controller } = run;
    const { tasks, logger } = this.options;
    try {
      if (reread) {
        const current = await tasks.store.getTask(task.id);
        if (!current || isTerminalTask(current.status) || current.workerId !== tasks.instanceId) return;
      }
      let end: { kind: 'completed'; result: JsonObject } | { kind: 'failed'; error: JsonObject };
      try {
        end = { kind: 'completed', result: completedResult(await tool.handler(args, this.context(run))) };
      } catch (error) {
        if (controller.signal.aborted) return;
        end = outcomeOfError(error);
      }
      if (controller.signal.aborted) return;
      await this.report(run, end);
    } catch (error) {
      if (!controller.signal.aborted)
        logger.error('task worker failed', { task: sessionTag(task.id), error });
    } finally {
      if (this.runs.get(task.id) === run) this.runs.delete(task.id);
      controller.abort(FINISHED);
      for (const { group } of run.requests.values()) group.reject(controller.signal.reason);
      await run.subscription
        ?.unsubscribe()
        .catch((error: unknown) =>
          logger.warn('task channel not unsubscribed', { task: sessionTag(task.id), error }),
        );
    }
  }

  /** Writes the task's end; retried while the store is down, given up once the lease is gone. */
  private async report(
    run: Run,
    end: { kind: 'completed'; result: JsonObject } | { kind: 'failed'; error: JsonObject },
  ): Promise<void> {
    const { tasks } = this.options;
    const workerId = tasks.instanceId;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(
          run.task.id,
          end.kind === 'completed'
            ? { type: 'complete', workerId, result: end.result }
            : { type: 'fail', workerId, error: end.error, statusMessage: String(end.error.message) },
        );
        return;
      } catch (error) {
        if (
          error instanceof TaskRefusedError ||
          attempt === REPORT_ATTEMPTS ||
          run.controller.signal.aborted
        ) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private context(run: Run): TaskContext {
    const { tasks } = this.options;
    const params = run.task.request.params as JsonObject | undefined;
    return {
      taskId: run.task.id,
      attempt: run.task.attempts,
      signal: run.controller.signal,
      inputResponses: (params?.inputResponses as JsonObject | undefined) ?? undefined,
      status: async (message) => {
        run.controller.signal.throwIfAborted();
        await this.write(run.task.id, {
          type: 'progress',
          workerId: tasks.instanceId,
          statusMessage: message,
        });
      },
      input: (requests) => this.ask(run, requests),
    };
  }

  private async ask(run: Run, requests: Record<string, JsonObject>): Promise<Record<string, JsonObject>> {
    run.controller.signal.throwIfAborted();
    const keys = new Map<string, string>();
    for (const key of Object.keys(requests)) {
      // Keys are unique over the task's life: a run after a lost worker asks under new ones.
      const wire = run.task.attempts > 1 ? `${key}.${run.task.attempts}` : key;
      if (run.asked.has(wire)) throw new InvalidArgumentError('input', `key "${key}" was already asked`);
      keys.set(wire, key);
    }
    if (keys.size === 0) return {};
    const answered = new Promise<Record<string, JsonObject>>((resolve, reject) => {
      const group: InputGroup = { keys, answers: {}, resolve, reject };
      for (const [wire, key] of keys) {
        run.asked.add(wire);
        run.requests.set(wire, { request: requests[key]!, group });
      }
    });
    const { tasks } = this.options;
    await this.write(run.task.id, {
      type: 'need_input',
      workerId: tasks.instanceId,
      inputRequests: Object.fromEntries([...run.requests].map(([wire, { request }]) => [wire, request])),
    });
    return answered;
  }

  /** Answers reaching this worker: written (the keys leave `inputRequests`), then handed to who asked. */
  private deliver(run: Run, responses: JsonObject): Promise<void> {
    const next = run.delivering.then(async () => {
      const answered = Object.keys(responses).filter((key) => run.requests.has(key));
      if (answered.length === 0) return;
      const { tasks } = this.options;
      await this.write(run.task.id, { type: 'input_received', workerId: tasks.instanceId, answered });
      for (const wire of answered) {
        const { group } = run.requests.get(wire)!;
        run.requests.delete(wire);
        group.answers[group.keys.get(wire)!] = responses[wire] as JsonObject;
        if (Object.keys(group.answers).length === group.keys.size) group.resolve(group.answers);
      }
    });
    run.delivering = next.catch(() => {}); // the chain goes on; `next`'s caller gets the error
    return next;
  }

  private onMessage(run: Run, message: JsonValue): void {
    const m = message as WorkerMessage;
    if (m?.kind === 'cancel') this.stop(run.task.id, 'the task was cancelled');
    else if (m?.kind === 'input' && typeof m.responses === 'object' && m.responses !== null) {
      this.deliver(run, m.responses).catch((error: unknown) =>
        this.options.logger.warn('task input not taken', { task: sessionTag(run.task.id), error }),
      );
    }
  }

  /** Waits until the store shows `keys` taken (or the task ended); the worker writes that. */
  private async taken(taskId: string, keys: readonly string[]): Promise<void> {
    const deadline = Date.now() + this.options.updateTimeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const task = await this.options.tasks.store.getTask(taskId);
      if (
        !task ||
        isTerminalTask(task.status) ||
        keys.every((key) => task.inputRequests?.[key] === undefined)
      ) {
        return;
      }
      if (Date.now() >= deadline) {
        throw new TaskProtocolError(
          INTERNAL_ERROR,
          `The task's worker did not take the input within ${this.options.updateTimeoutMs} ms; send it again`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** A worker's write, then its announcement on the task's channel (status notifications listen there). */
  private async write(taskId: string, event: Parameters<TaskManager['report']>[1]): Promise<void> {
    await this.options.tasks.report(taskId, event);
    this.announce(taskId);
  }

  private announce(taskId: string): void {
    this.options.bus.publish(taskId, TASK_CHANGED).catch((error: unknown) =>
      this.options.logger.warn('task change not announced (status notifications miss it)', {
        task: sessionTag(taskId),
        error,
      }),
    );
  }

  private stop(taskId: string, reason: string): void {
    const run = this.runs.get(taskId);
    if (!run || run.controller.signal.aborted) return;
    this.options.logger.info('task worker stopped', { task: sessionTag(taskId), reason });
    run.controller.abort(new Error(reason));
  }

  /** A task this instance took over from a lost worker, to run again from the start. */
  private async restart(task: TaskRecord): Promise<void> {
    const { tasks, tools, logger } = this.options;
    const params = task.request.params as JsonObject | undefined;
    const name = typeof params?.name === 'string' ? params.name : '';
    const tool = tools.get(name);
    const args = tool ? await tool.parse(params?.arguments ?? {}) : undefined;
    if (tool && args?.ok) {
      await this.start(task, tool, args.value, true).catch((error: unknown) =>
        logger.error('task taken over but not started', { task: sessionTag(task.id), error }),
      );
      return;
    }
    const message = tool
      ? `arguments refused: ${(args as { message: string }).message}`
      : `no tool "${name}" here`;
    logger.error('task taken over but not runnable', { task: sessionTag(task.id), reason: message });
    await this.write(task.id, {
      type: 'fail',
      workerId: tasks.instanceId,
      error: { code: INTERNAL_ERROR, message: `The task could not run again: ${message}` },
    }).catch((error: unknown) => logger.error('task not failed', { task: sessionTag(task.id), error }));
  }
}

/** A handler's result as stored: a JSON object, without the `resultType` the wire adds. */
function completedResult(result: unknown): JsonObject {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    throw new TaskProtocolError(INTERNAL_ERROR, 'The task handler returned no result object');
  }
  const { resultType, ...rest } = result as JsonObject;
  if (resultType !== undefined && resultType !== 'complete') {
    throw new TaskProtocolError(INTERNAL_ERROR, `A task cannot end with resultType "${String(resultType)}"`);
  }
  encodeJson(rest);
  return rest;
}
