/**
 * SDK v1's experimental `TaskMessageQueue` (protocol 2025-11-25): what a task sends the client on
 * the side (elicitation and sampling requests, notifications, queued replies) waits here until
 * the client's `tasks/result` takes it; durable, and readable by every instance sharing the store.
 *
 * Kept in the agent-state facet: each task's queue is one agent (`v1-task-queue:<taskId>`) of the
 * task's session, one entry per message, under a key that sorts in queue order. Why there:
 * - it is per session, as a task is; when the session expires or is closed its state goes with it;
 * - `deleteState` tells whether this call removed the entry, so of two servers taking the same
 *   message exactly one gets it (the event log has no per-event removal, and it is trimmed by
 *   count and age, which would drop queued messages unseen);
 * - entries expire (`messageTtlMs`), so a queue nobody drains is purged by the manager's sweep.
 *
 * Limits, each from a fit between the SDK's interface and durable storage:
 * - A queued request's answer (and a queued reply) is taken by promises in the memory of the
 *   server that queued it (SDK v1 resolves them by its own per-server request ids). So a queue
 *   hands those only to the server it belongs to: create one queue per server (in
 *   `createServer`). Another server that meets them removes them and throws `TaskQueueError`
 *   (`foreign`) rather than send a request whose answer would reach, or be taken for, a request of
 *   its own. Notifications go to whichever server asks.
 * - The bound is checked, then written: exact for the servers of one process sharing a queue
 *   object (its calls per task run one at a time); servers elsewhere enqueueing for the same task
 *   at the same instant may pass it by one each.
 * - Order: exact for the messages one queue object queued; between instances, by their clocks.
 * - A queue lives in a session: `enqueue` without a session id throws, and `dequeue` /
 *   `dequeueAll` without one find nothing. SDK 1.25 passes none when queueing requests and
 *   notifications (1.32 does: use 1.32+) and none to `dequeueAll`: what that would have cleared
 *   expires with `messageTtlMs`.
 * - SDK v1 calls `dequeueAll` without awaiting it (after `tasks/result` answers, and on
 *   `tasks/cancel`): a store failure there is an unhandled rejection, the one place the SDK does
 *   not catch this queue's errors.
 * - Costs: each `dequeue` lists the task's queue (at most the bound) in one read.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, StoreError, TaskQueueError } from '../errors';
import { isValidSessionId } from '../ids';
import type { JsonValue } from '../json';
import type { SessionManager } from '../manager';
import { assertKnownOptions, positiveInteger, positiveNumber } from '../options';
import type { AgentStateEntry } from '../store';
import { DEFAULT_TASK_TTL_MS } from '../tasks';
import type { V1DequeuedMessage, V1QueuedMessage } from './wire';

/** Messages one task's queue holds at most, unless the server's `maxTaskQueueSize` is lower. */
export const DEFAULT_MAX_QUEUED_MESSAGES = 100;
/** The agent of a task's queue in its session's state (`listAgentState` shows it under this). */
export const V1_TASK_QUEUE_AGENT_PREFIX = 'v1-task-queue:';

export interface DurableTaskMessageQueueOptions {
  /** The session manager whose store keeps the queues (the handler's). */
  manager: SessionManager;
  /** The most a task's queue holds; the SDK's `maxTaskQueueSize` applies too when lower. Default 100. */
  maxMessages?: number;
  /** How long a message waits undelivered before the sweep removes it. Default 1 hour. */
  messageTtlMs?: number;
}

/** SDK v1's `TaskMessageQueue`, durable: pass a new one to each server as `taskMessageQueue`. */
export class DurableTaskMessageQueue {
  /** Names this queue in the messages it queues: requests and replies come back only to it. */
  readonly origin = randomBytes(9).toString('base64url');
  private readonly manager: SessionManager;
  private readonly maxMessages: number;
  private readonly messageTtlMs: number;
  /** Per task queue, its latest call: each call waits for the one before it, so they run one at a time. */
  private readonly running = new Map<string, Promise<unknown>>();
  /** The last order key's number: strictly increasing here. */
  private last = 0;

  constructor(options: DurableTaskMessageQueueOptions) {
    assertKnownOptions(options, QUEUE_OPTIONS, 'DurableTaskMessageQueue');
    if (typeof (options.manager as Partial<SessionManager> | undefined)?.saveAgentState !== 'function') {
      throw new InvalidArgumentError('manager', 'must be a SessionManager');
    }
    this.manager = options.manager;
    this.maxMessages = positiveInteger('maxMessages', options.maxMessages, DEFAULT_MAX_QUEUED_MESSAGES);
    this.messageTtlMs = positiveNumber('messageTtlMs', options.messageTtlMs, DEFAULT_TASK_TTL_MS);
  }

  /** Appends; `TaskQueueError` (`full`) when the queue holds `maxSize` (or `maxMessages`) already. */
  async enqueue(
    taskId: string,
    message: V1QueuedMessage,
    sessionId?: string,
    maxSize?: number,
  ): Promise<void> {
    assertTaskId(taskId);
    if (sessionId === undefined) {
      throw new InvalidArgumentError(
        'sessionId',
        'a durable task queue is kept in its session: SDK v1 1.32+ passes the session id',
      );
    }
    if (maxSize !== undefined && !(Number.isSafeInteger(maxSize) && maxSize >= 0)) {
      throw new InvalidArgumentError('maxSize', 'must be a whole number, 0 or more');
    }
    const bound = Math.min(this.maxMessages, maxSize ?? Number.POSITIVE_INFINITY);
    const agent = agentOf(taskId);
    return this.serially(sessionId, taskId, async () => {
      const held = (await this.manager.listAgentState(sessionId, agent)).length;
      if (held >= bound) {
        throw new TaskQueueError(taskId, 'full', `it holds ${held} messages, the most it may (${bound})`);
      }
      const stored: StoredMessage = {
        type: message.type,
        timestamp: message.timestamp,
        message: message.message as unknown as JsonValue,
        origin: this.origin,
      };
      await this.manager.saveAgentState(agent, sessionId, this.nextKey(), stored, {
        ttlMs: this.messageTtlMs,
      });
    });
  }

  /**
   * Removes and returns the first message, or undefined when none is left. Requests and replies
   * another server queued are removed and reported with `TaskQueueError` (`foreign`) before any
   * message after them is given.
   */
  async dequeue(taskId: string, sessionId?: string): Promise<V1DequeuedMessage | undefined> {
    if (sessionId === undefined) return undefined;
    assertTaskId(taskId);
    const agent = agentOf(taskId);
    return this.serially(sessionId, taskId, async () => {
      let foreign = 0;
      for (const entry of await this.manager.listAgentState(sessionId, agent)) {
        const queued = parseEntry(taskId, entry);
        if (this.takes(queued)) {
          if (foreign > 0) break;
          // False: another server took it a moment ago; the next one is ours to try.
          if (await this.manager.deleteAgentState(agent, sessionId, entry.key)) return given(queued);
        } else if (await this.manager.deleteAgentState(agent, sessionId, entry.key)) {
          foreign++;
        }
      }
      if (foreign > 0) {
        throw new TaskQueueError(
          taskId,
          'foreign',
          `removed ${foreign} request(s) or replies queued by another server, which alone can take their answers`,
        );
      }
      return undefined;
    });
  }

  /**
   * Removes every message (a task that ended or was cancelled) and returns those this queue's
   * server may act on: another server's requests and replies are removed but not returned, since
   * the SDK would settle a request of this server that has the same id.
   */
  async dequeueAll(taskId: string, sessionId?: string): Promise<V1DequeuedMessage[]> {
    if (sessionId === undefined) return [];
    assertTaskId(taskId);
    const agent = agentOf(taskId);
    return this.serially(sessionId, taskId, async () => {
      const taken: V1DequeuedMessage[] = [];
      for (const entry of await this.manager.listAgentState(sessionId, agent)) {
        const queued = parseEntry(taskId, entry);
        if ((await this.manager.deleteAgentState(agent, sessionId, entry.key)) && this.takes(queued)) {
          taken.push(given(queued));
        }
      }
      return taken;
    });
  }

  // --- Internal helpers ---

  /** Whether this queue's server may be given the message: any notification, and its own requests and replies. */
  private takes(queued: StoredMessage): boolean {
    return queued.type === 'notification' || queued.origin === this.origin;
  }

  /** A key after every key this queue made: the time in microseconds (ordering only), then the origin. */
  private nextKey(): string {
    this.last = Math.max(this.last + 1, Date.now() * 1000);
    return `${this.last.toString().padStart(KEY_DIGITS, '0')}.${this.origin}`;
  }

  /** Runs `work` after the calls on the same queue that came before it, whatever they ended with. */
  private serially<T>(sessionId: string, taskId: string, work: () => Promise<T>): Promise<T> {
    const key = `${sessionId} ${taskId}`; // ids are visible ASCII: no space in either
    const before = this.running.get(key);
    const run = before ? before.then(work, work) : work();
    this.running.set(key, run);
    const forget = () => {
      if (this.running.get(key) === run) this.running.delete(key);
    };
    run.then(forget, forget);
    return run;
  }
}

// --- Internal helpers ---

const QUEUE_OPTIONS = Object.keys({
  manager: true,
  maxMessages: true,
  messageTtlMs: true,
} satisfies Record<keyof DurableTaskMessageQueueOptions, true>);

/** Digits of an order key's number: microseconds since 1970 fit until the year 5138. */
const KEY_DIGITS = 17;

const MESSAGE_TYPES: ReadonlySet<unknown> = new Set(['request', 'notification', 'response', 'error']);

/** A queued message as stored: the SDK's fields and the queue that queued it (a type: JSON's index fits it). */
type StoredMessage = {
  type: V1QueuedMessage['type'];
  timestamp: number;
  message: JsonValue;
  origin: string;
};

function agentOf(taskId: string): string {
  return `${V1_TASK_QUEUE_AGENT_PREFIX}${taskId}`;
}

/** Task ids are session-id-like (`TaskManager` makes them so); anything else is the caller's mistake. */
function assertTaskId(taskId: string): void {
  if (!isValidSessionId(taskId)) {
    throw new InvalidArgumentError('taskId', 'must be 1-256 visible ASCII characters');
  }
}

/** What the store gave back, checked: an entry of another shape under a queue's agent is corrupt. */
function parseEntry(taskId: string, entry: AgentStateEntry): StoredMessage {
  const value = entry.value;
  if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    MESSAGE_TYPES.has(value.type) &&
    typeof value.timestamp === 'number' &&
    typeof value.message === 'object' &&
    value.message !== null &&
    typeof value.origin === 'string'
  ) {
    return value as unknown as StoredMessage;
  }
  throw new StoreError(
    `task ${JSON.stringify(taskId)} message queue: entry ${entry.key} is not a queued message`,
  );
}

function given(queued: StoredMessage): V1DequeuedMessage {
  return { type: queued.type, timestamp: queued.timestamp, message: queued.message as never };
}
