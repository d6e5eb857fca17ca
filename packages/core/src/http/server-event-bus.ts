/**
 * SDK v2's `ServerEventBus` (the source of `subscriptions/listen` change notifications) over our
 * live `SessionBus`, so a change published on any instance reaches listen streams on every
 * instance. The SDK's own bus is in-process only.
 *
 * One fixed channel for all events: the SDK's `subscribe()` takes no filter (its listen router
 * filters per stream), so every instance needs every event anyway, and one channel is one
 * backend subscription per instance instead of one per resource URI.
 */

import type { BusSubscription, SessionBus } from '../bus';
import { InvalidArgumentError, InvalidValueError } from '../errors';
import { isValidSessionId } from '../ids';
import { encodeJson, type JsonObject, type JsonValue } from '../json';
import { type LoggerLike, resolveLogger } from '../logger';
import type { Logger } from '../options';

/**
 * SDK v2's `ServerEvent`, structurally (no SDK import at load; `test/server-event-bus.test.ts`
 * checks it against the installed SDK's type): one change notification for listen streams.
 */
export type ServerEventLike = (
  | { kind: 'tools_list_changed' }
  | { kind: 'prompts_list_changed' }
  | { kind: 'resources_list_changed' }
  | { kind: 'resource_updated'; uri: string }
) & {
  /** Forwarded notification params (the SDK stamps its own subscription id and URI). */
  params?: { [key: string]: unknown };
};

/** The channel (a session-id-shaped name no generated session id can take) every instance shares. */
export const DEFAULT_SERVER_EVENT_CHANNEL = 'mcp-sessions:server-events';

export interface SharedServerEventBusOptions {
  /** The live bus of the store the instances share (`SqliteSessionBus`, `RedisSessionBus`...). Not closed by `close()`. */
  bus: SessionBus;
  /**
   * The bus channel: 1-256 visible ASCII characters. Servers sharing one backend but serving
   * different tools or resources take different channels. Default `DEFAULT_SERVER_EVENT_CHANNEL`.
   */
  channel?: string;
  /**
   * Told of what `publish` (which returns nothing, per the SDK) cannot throw: a failed backend
   * publish or subscription, a listener that threw, a malformed message received. Default: the
   * logger at `error`.
   */
  onError?: (error: Error) => void;
  /** Default: stderr (`resolveLogger`); `false` silences. */
  logger?: LoggerLike | false;
}

type ServerEventListener = (event: ServerEventLike) => void;

const KINDS = new Set([
  'tools_list_changed',
  'prompts_list_changed',
  'resources_list_changed',
  'resource_updated',
]);

/**
 * A `ServerEventBus` for SDK v2's `createMcpHandler({ bus })` whose events cross instances
 * through a `SessionBus`. Every event, this instance's included, is delivered through the
 * backend, asynchronously and never inside `publish` (so a listener that publishes is never
 * re-entered), to every instance whose subscription is live: call `start()` at boot so listen
 * streams opened later miss nothing. At most once, not durable, like the bus beneath.
 *
 * @example
 * ```ts
 * const events = new SharedServerEventBus({ bus: new RedisSessionBus({ url }) });
 * await events.start();
 * const handler = createMcpHandler(buildServer, { bus: events });
 * // In a tool, on any instance:
 * events.publish({ kind: 'resource_updated', uri: `notebook://${handle}` });
 * ```
 */
export class SharedServerEventBus {
  readonly channel: string;
  private readonly bus: SessionBus;
  private readonly listeners = new Set<ServerEventListener>();
  private readonly logger: Logger;
  private readonly onError: (error: Error) => void;
  private subscription: Promise<BusSubscription> | undefined;
  private closed = false;

  constructor(options: SharedServerEventBusOptions) {
    if (typeof options?.bus?.publish !== 'function' || typeof options.bus.subscribe !== 'function') {
      throw new InvalidArgumentError('bus', 'must be a SessionBus');
    }
    const channel = options.channel ?? DEFAULT_SERVER_EVENT_CHANNEL;
    if (!isValidSessionId(channel))
      throw new InvalidArgumentError('channel', 'must be 1-256 visible ASCII characters');
    this.bus = options.bus;
    this.channel = channel;
    this.logger = resolveLogger(options.logger);
    this.onError =
      options.onError ?? ((error) => this.logger.error('server event bus', { bus: this.bus.name, error }));
  }

  /** Listeners registered on this instance. */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /**
   * Opens the backend subscription (once; later calls share it). Resolves when events published
   * on any instance from then on reach this instance's listeners. Rejects as the bus does.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new InvalidArgumentError('serverEventBus', 'closed'));
    if (!this.subscription) {
      const subscription = this.bus.subscribe(this.channel, (message) => this.receive(message));
      this.subscription = subscription;
      // A failed subscription is not kept, so the next call tries again.
      subscription.catch(() => {
        if (this.subscription === subscription) this.subscription = undefined;
      });
    }
    return this.subscription.then(() => undefined);
  }

  /**
   * Publishes to listeners on every instance. Returns nothing (the SDK's contract): a malformed
   * event throws here; a backend failure goes to `onError`. `send` is the same, awaitable.
   */
  publish(event: ServerEventLike): void {
    const message = toMessage(event);
    this.bus.publish(this.channel, message).catch((error: unknown) => this.report(error));
  }

  /** `publish`, resolving once the backend has taken the event (rejecting when it has not). */
  async send(event: ServerEventLike): Promise<void> {
    await this.bus.publish(this.channel, toMessage(event));
  }

  /** Registers a listener (opening the backend subscription if needed); returns an idempotent unsubscribe. */
  subscribe(listener: ServerEventListener): () => void {
    if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'must be a function');
    if (this.closed) throw new InvalidArgumentError('serverEventBus', 'closed');
    const entry: ServerEventListener = (event) => listener(event);
    this.listeners.add(entry);
    this.start().catch((error: unknown) => this.report(error));
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Ends the backend subscription and drops every listener. The `SessionBus` stays open (it is the caller's). */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    const subscription = this.subscription;
    this.subscription = undefined;
    if (subscription) await (await subscription.catch(() => undefined))?.unsubscribe();
  }

  // --- Internal helpers ---

  private receive(message: JsonValue): void {
    const event = parseEvent(message);
    if (!event) {
      this.report(new InvalidValueError('server event', 'not a ServerEvent; dropped'));
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.report(error);
      }
    }
  }

  private report(error: unknown): void {
    this.onError(error instanceof Error ? error : new Error(String(error)));
  }
}

/** The event as bus JSON, checked: what does not parse back as a `ServerEvent` is refused here. */
function toMessage(event: ServerEventLike): JsonObject {
  if (parseEvent(event) === undefined) {
    throw new InvalidArgumentError(
      'event',
      'must be { kind: tools_list_changed | prompts_list_changed | resources_list_changed } or { kind: resource_updated, uri }, with optional params object',
    );
  }
  const message: JsonObject = { kind: event.kind };
  if (event.kind === 'resource_updated') message.uri = event.uri;
  if (event.params !== undefined) message.params = event.params as JsonObject;
  encodeJson(message);
  return message;
}

/** A received message as a `ServerEvent`, or undefined when it is not one. */
function parseEvent(message: unknown): ServerEventLike | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return undefined;
  const { kind, uri, params } = message as { kind?: unknown; uri?: unknown; params?: unknown };
  if (typeof kind !== 'string' || !KINDS.has(kind)) return undefined;
  if (kind === 'resource_updated' && typeof uri !== 'string') return undefined;
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    return undefined;
  }
  return message as ServerEventLike;
}
