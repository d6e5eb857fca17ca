/**
 * Task status notifications (`notifications/tasks`) on `subscriptions/listen`, for any instance:
 * a client lists `notifications.taskIds`; each instance hears a task's changes on its bus channel
 * (its worker announces every write there, a cancel too), reads the task from the store and sends
 * it, as `tasks/get` would answer, on the listen stream.
 *
 * SDK v2's listen router knows no task filter, so the request reaches it without `taskIds` (it
 * still checks the headers and the envelope, and serves the other filters); its stream is passed
 * through with the task notifications merged in, the acknowledgement naming the tasks accepted.
 * The stream closes, with the router's closing result, once the router is done and every
 * accepted task has ended (or when the client goes).
 */
import type { BusSubscription, SessionBus } from '../bus';
import { isValidSessionId } from '../ids';
import type { JsonObject } from '../json';
import type { Logger } from '../options';
import { isTerminalTask } from '../task-lifecycle';
import type { TaskRecord } from '../task-store';
import type { TaskManager } from '../tasks';
import { readOnce } from './body';
import type { HandleOptions } from './handler';
import {
  declaresTasks,
  detailedTask,
  MISSING_REQUIRED_CLIENT_CAPABILITY,
  missingTasksCapability,
} from './task-wire';

/** A stateless (2026-07-28) handler, as `createMcpHandler` returns it. */
export interface ModernHandler {
  fetch(request: Request, options?: HandleOptions): Promise<Response>;
  close?(): Promise<void>;
}

export interface TaskListenContext {
  tasks: TaskManager;
  bus: SessionBus;
  logger: Logger;
  /** The principal a request acts for, from what the HTTP layer knows (its auth info). */
  principal(ctx: unknown): string | null;
}

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const KEEP_ALIVE_MS = 15_000;

/** `handler` with task status notifications on its `subscriptions/listen` streams. */
export function withTaskNotifications(handler: ModernHandler, context: TaskListenContext): ModernHandler {
  return {
    close: handler.close?.bind(handler),
    async fetch(request, options = {}) {
      const read = await readOnce(request, options);
      if (read instanceof Response) return read;
      const listen = taskListen(read.parsedBody);
      if (!listen) {
        const parsed = read.parsedBody === undefined ? options : { ...options, parsedBody: read.parsedBody };
        return handler.fetch(read.request, parsed);
      }
      request = read.request;
      if (!declaresTasks(listen.capabilities)) {
        const error = missingTasksCapability('subscriptions/listen for task notifications');
        return Response.json(
          {
            jsonrpc: '2.0',
            id: listen.id,
            error: { code: MISSING_REQUIRED_CLIENT_CAPABILITY, message: error.message, data: error.data },
          },
          { status: 400 },
        );
      }
      const response = await handler.fetch(new Request(request, { body: JSON.stringify(listen.forwarded) }), {
        ...options,
        parsedBody: listen.forwarded,
      });
      if (response.status !== 200 || !response.headers.get('content-type')?.includes('text/event-stream')) {
        return response; // refused (headers, envelope, limits): as the router answered
      }
      const principal = context.principal({ http: { authInfo: options.authInfo } });
      const accepted = await readTasks(context.tasks, listen.taskIds, principal);
      return new Response(mergedStream(response.body!, listen.id, accepted, context), {
        status: 200,
        headers: response.headers,
      });
    },
  };
}

// --- Internal helpers ---

interface ListenRequest {
  id: string | number;
  taskIds: string[];
  capabilities: unknown;
  /** The request as the router gets it: without `taskIds`. */
  forwarded: JsonObject;
}

/** A `subscriptions/listen` request naming task ids, or undefined. */
function taskListen(body: unknown): ListenRequest | undefined {
  const message = body as
    | {
        method?: unknown;
        id?: unknown;
        params?: { notifications?: { taskIds?: unknown }; _meta?: JsonObject };
      }
    | undefined;
  if (message?.method !== 'subscriptions/listen' || !Array.isArray(message.params?.notifications?.taskIds)) {
    return undefined;
  }
  if (typeof message.id !== 'string' && typeof message.id !== 'number') return undefined;
  const { taskIds, ...others } = message.params.notifications as { taskIds: unknown[] } & JsonObject;
  return {
    id: message.id,
    taskIds: [...new Set(taskIds.filter((id): id is string => typeof id === 'string'))],
    capabilities: message.params._meta?.[CLIENT_CAPABILITIES],
    forwarded: { ...(message as JsonObject), params: { ...message.params, notifications: others } },
  };
}

/** The caller's tasks among `ids` (an unknown, expired or another's task is left out of the ack). */
async function readTasks(tasks: TaskManager, ids: readonly string[], principal: string | null) {
  const found: TaskRecord[] = [];
  for (const id of ids) {
    if (!isValidSessionId(id)) continue;
    const task = await tasks.store.getTask(id);
    if (task && task.principal === principal) found.push(task);
  }
  return found;
}

/**
 * The router's stream with the task notifications merged in: its acknowledgement gains
 * `taskIds`, each accepted task is sent once at once and again on every change, and its closing
 * result waits for every accepted task to end.
 */
function mergedStream(
  source: ReadableStream<Uint8Array>,
  subscriptionId: string | number,
  accepted: TaskRecord[],
  { tasks, bus, logger }: TaskListenContext,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const reader = source.getReader();
  const sent = new Map(accepted.map((task) => [task.id, 0]));
  const subscriptions: BusSubscription[] = [];
  let held: string | undefined; // the router's closing result, while tasks are still open
  let closed = false;
  let keepAlive: NodeJS.Timeout | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const write = (frame: string) => {
    if (!closed) controller.enqueue(encoder.encode(frame));
  };
  const notify = (method: string, params: JsonObject) =>
    write(
      `event: message\ndata: ${JSON.stringify({
        jsonrpc: '2.0',
        method,
        params: {
          ...params,
          _meta: { ...(params._meta as JsonObject | undefined), [SUBSCRIPTION_ID]: subscriptionId },
        },
      })}\n\n`,
    );
  /** Ends the stream (with the held closing result), or just lets go when the client went. */
  const finish = (clientWent = false) => {
    if (closed) return;
    if (held !== undefined && !clientWent) write(held);
    closed = true;
    clearInterval(keepAlive);
    for (const subscription of subscriptions) {
      subscription
        .unsubscribe()
        .catch((error: unknown) => logger.warn('task channel not unsubscribed', { error }));
    }
    void reader.cancel().catch(() => {}); // the router's stream, already ending: nothing to report
    if (!clientWent) controller.close();
  };
  const open = () => [...sent.keys()].length > 0;
  const maybeFinish = () => {
    if (held !== undefined && !open()) finish();
  };

  /** Sends the task if it changed since it was last sent; stops following it once it ended. */
  const send = async (task: TaskRecord | undefined, id: string) => {
    if (!task) {
      sent.delete(id);
      return maybeFinish();
    }
    if ((sent.get(id) ?? Number.POSITIVE_INFINITY) >= task.version) return;
    sent.set(id, task.version);
    notify('notifications/tasks', detailedTask(task));
    if (isTerminalTask(task.status)) {
      sent.delete(id);
      maybeFinish();
    }
  };

  /** One router event: the acknowledgement gains the task ids; the closing result waits for the tasks. */
  const pass = (frame: string) => {
    const data = /^data: (.*)$/m.exec(frame)?.[1];
    const message = data === undefined ? undefined : (JSON.parse(data) as JsonObject);
    if (message?.method === 'notifications/subscriptions/acknowledged') {
      const params = message.params as { notifications?: JsonObject };
      params.notifications = { ...params.notifications, taskIds: accepted.map((task) => task.id) };
      write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
      for (const task of accepted) void send(task, task.id);
      return;
    }
    if (message && 'result' in message && message.id === subscriptionId && open()) {
      held = `${frame}\n\n`;
      keepAlive = setInterval(() => write(': keepalive\n\n'), KEEP_ALIVE_MS);
      return;
    }
    write(`${frame}\n\n`);
  };

  return new ReadableStream<Uint8Array>({
    async start(c) {
      controller = c;
      for (const task of accepted) {
        const follow = () =>
          tasks.store
            .getTask(task.id)
            .then((current) => send(current, task.id))
            .catch((error: unknown) => logger.warn('task notification not sent', { error }));
        subscriptions.push(await bus.subscribe(task.id, follow));
      }
      void (async () => {
        let buffered = '';
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
          if (done) break;
          buffered += decoder.decode(value, { stream: true });
          for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
            pass(buffered.slice(0, end));
            buffered = buffered.slice(end + 2);
          }
        }
        if (held === undefined)
          finish(); // the router ended its stream without a result
        else maybeFinish();
      })();
    },
    cancel() {
      finish(true);
    },
  });
}
