/**
 * What lets one session be served by several instances at once: a `Transport` between a session's
 * server and its SDK transport in this process, joined to the other instances serving the same
 * session by the live bus.
 *
 * - Requests the server sends to the client get ids that name this link (`<tag>.<n>`), so a
 *   client's answer posted to any instance is routed to the one that asked (`answer`). So do their
 *   progress tokens: the client's `notifications/progress` for them follows the same way
 *   (`progress`). For a request that asked for progress, its progress and its answer go over the
 *   bus even when posted to the instance that asked, so they arrive in the order the client sent
 *   them, whichever instances they were posted to.
 * - `notifications/cancelled` for a request running elsewhere is routed there (`cancel`).
 * - A message for the standalone (GET) stream is stored in the session's event log and announced
 *   (`standalone`); the instance holding the GET stream writes what the log holds after the last
 *   event it wrote, in log order and under the stored ids, so messages sent from any instance
 *   arrive once and in order, and a stream that moves on resumes with no gap and no duplicate.
 *   Without an event store the announced message itself is written (order across instances is
 *   then the bus's).
 *
 * Public SDK API only: the server connects to this link as to any `Transport`, and the link
 * drives the SDK transport through `send`, `start`, `close` and its callbacks.
 */
import { randomBytes } from 'node:crypto';
import type { BusSubscription, SessionBus } from '../bus';
import type { JsonValue } from '../json';
import type { Logger } from '../options';
import type { SessionEventStore } from './event-store';
import { STANDALONE_STREAM_ID } from './sdk-assumptions';
import { SmallMap } from './small-map';
import type { LinkedTransport, RequestId, WireMessage, WireSendOptions } from './wire';

/** Declared in `wire.ts`; importable from here as before. */
export type { WireMessage } from './wire';

/** Shared with the session's event store, as the transport sees it. */
export interface StandaloneEvents {
  /** Set while writing a stored message: the event store answers with this id instead of appending. */
  relaying?: string | undefined;
}

export interface SessionLinkOptions {
  sessionId: string;
  transport: LinkedTransport;
  bus: SessionBus | undefined;
  /** The session's durable event log, read directly (not through the transport). */
  events: SessionEventStore | undefined;
  logger: Logger;
  /** The session's event store as the transport sees it (undefined without one). */
  standalone: StandaloneEvents | undefined;
  /** A client deleted the session through another instance. */
  onClosed?: ((sessionId: string) => void) | undefined;
  /** Told of each message published on the bus (metrics). */
  onPublish?: ((kind: RoutedKind) => void) | undefined;
  /**
   * Opens one use of the session, closed by calling what it returns: each client request is a use
   * until the server answers it (its POST's stream ends then), each open GET stream until it ends.
   */
  use?: ((sessionId: string) => () => void) | undefined;
}

type Envelope =
  | { k: 'answer'; m: WireMessage }
  | { k: 'progress'; m: WireMessage }
  | { k: 'cancel'; m: WireMessage }
  | { k: 'standalone'; m: WireMessage; e?: string; from: string }
  | { k: 'closed' };

/** What a link publishes for another instance (a `closed` notice comes from the handler). */
export type RoutedKind = 'answer' | 'progress' | 'cancel' | 'standalone';

export class SessionLink {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: WireMessage, extra?: unknown) => void) | undefined;
  readonly sessionId: string;
  /** Names this link in the ids of the requests its server sends. */
  readonly tag = randomBytes(TAG_BYTES).toString('base64url');
  private readonly transport: LinkedTransport;
  private readonly bus: SessionBus | undefined;
  private readonly events: SessionEventStore | undefined;
  private readonly logger: Logger;
  private readonly standalone: StandaloneEvents | undefined;
  private readonly onPublish: ((kind: RoutedKind) => void) | undefined;
  private readonly onClosed: ((sessionId: string) => void) | undefined;
  private readonly use: (sessionId: string) => () => void;
  /** Client requests running in this process, until the server answers them: each closes its use then. */
  private readonly running = new SmallMap<RequestId, () => void>();
  /**
   * This link's requests to the client that asked for progress (tagged ids), until answered or
   * cancelled. Made at the first one: only with a bus, and most sessions never ask.
   */
  private withProgress: Set<RequestId> | undefined;
  /** Open GET streams of this session in this process. */
  private getStreams = 0;
  /** The last stored standalone event written to the GET stream here; undefined before the first. */
  private written: string | undefined;
  /** Standalone writes and GET stream openings, one at a time and in order. */
  private queue: Promise<unknown> = SETTLED;
  private subscription: BusSubscription | undefined;
  private closed = false;

  constructor(options: SessionLinkOptions) {
    this.sessionId = options.sessionId;
    this.transport = options.transport;
    this.bus = options.bus;
    this.events = options.events;
    this.logger = options.logger;
    this.standalone = options.standalone;
    this.onPublish = options.onPublish;
    this.onClosed = options.onClosed;
    this.use = options.use ?? noUse;
    this.transport.onmessage = ((message: WireMessage, extra?: unknown) => {
      if (isRequest(message)) this.running.set(message.id, this.use(this.sessionId));
      else if (message.method === 'notifications/cancelled') this.finish(cancelledId(message)!);
      this.onmessage?.(inbound(message, this.tag), extra);
    }) as never;
    this.transport.onerror = (error) => this.onerror?.(error);
  }

  /** Joins the bus for this session: resolves once messages routed here will arrive. */
  async join(): Promise<void> {
    if (!this.bus) return;
    this.subscription = await this.bus.subscribe(this.sessionId, (message) =>
      this.received(message as unknown as Envelope),
    );
  }

  async leave(): Promise<void> {
    this.closed = true;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.unsubscribe();
  }

  // --- Transport, as the server sees it ---

  start(): Promise<void> {
    return this.transport.start();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  setProtocolVersion(version: string): void {
    this.transport.setProtocolVersion?.(version);
  }

  setSupportedProtocolVersions(versions: string[]): void {
    this.transport.setSupportedProtocolVersions?.(versions);
  }

  setScopeChallengeResolver(resolver: never): void {
    this.transport.setScopeChallengeResolver?.(resolver);
  }

  async send(message: WireMessage, options?: WireSendOptions): Promise<void> {
    const out = outbound(message, this.tag);
    if (isResponse(out)) this.finish(out.id);
    // Only with a bus: without one, every answer is delivered here, as it comes.
    else if (this.bus && isRequest(out) && progressToken(out) !== undefined) {
      this.withProgress ??= new Set();
      this.withProgress.add(out.id);
    } else if (out.method === 'notifications/cancelled') this.withProgress?.delete(cancelledId(out)!);
    if (options?.relatedRequestId !== undefined || isResponse(out) || !this.bus) {
      return this.transport.send(out as never, options);
    }
    // The standalone stream, wherever the client holds it: stored, announced, written by the holder.
    if (!this.events) {
      if (this.getStreams > 0) return this.transport.send(out as never, options);
      return this.announce({ k: 'standalone', m: out, from: this.tag });
    }
    const eventId = await this.events.storeEvent(STANDALONE_STREAM_ID, out as never);
    await this.announce({ k: 'standalone', m: out, e: eventId, from: this.tag });
    if (this.getStreams > 0) await this.serialized(() => this.catchUp(out, eventId));
  }

  // --- The handler's side ---

  /** Hands a message to the server as if the transport had received it. */
  deliver(message: WireMessage): void {
    this.onmessage?.(message);
  }

  /**
   * A client's POST body: what must run elsewhere (answers to other instances' requests and
   * progress on them, cancellations of requests running elsewhere) is published; the rest is
   * returned for this process's transport, or undefined when nothing is left.
   */
  async route(body: unknown): Promise<unknown> {
    if (!this.bus) return body;
    const messages = Array.isArray(body) ? body : [body];
    const local: unknown[] = [];
    for (const message of messages) {
      const envelope = this.envelopeFor(message);
      if (!envelope) {
        local.push(message);
        continue;
      }
      await this.announce(envelope);
      // If the instance that asked is gone, nobody takes it: the answer is dropped, nothing waits.
      this.logger.debug('routed to another instance over the bus', { kind: envelope.k });
    }
    if (local.length === 0) return undefined;
    return Array.isArray(body) ? local : local[0];
  }

  /**
   * Serves a GET that opens (`resumedFrom` undefined) or resumes the standalone stream, in line
   * with standalone writes: what was stored meanwhile is written after the replay, in log order.
   * `replayed` gives the last event id the transport's replay wrote, if any.
   */
  openStandalone(
    serve: () => Promise<Response>,
    resumedFrom?: string,
    replayed?: () => string | undefined,
  ): Promise<Response> {
    return this.serialized(async () => {
      const response = await serve();
      if (!response.ok || !response.body) return response;
      this.getStreams++;
      const done = this.use(this.sessionId);
      if (resumedFrom !== undefined) {
        this.written = replayed?.() ?? resumedFrom;
        await this.catchUp();
      }
      return onEnd(response, () => {
        done();
        if (--this.getStreams === 0) this.written = undefined;
      });
    });
  }

  // --- Internal helpers ---

  /** A running request ended (answered or cancelled): false when it was not running here. */
  private finish(id: RequestId): boolean {
    const done = this.running.get(id);
    if (done === undefined) return false;
    this.running.delete(id);
    done();
    return true;
  }

  private envelopeFor(message: unknown): (Envelope & { k: RoutedKind }) | undefined {
    if (!isWire(message)) return undefined;
    // Progress on a request and its answer all go over the bus, wherever posted: one order for them.
    // An id or token no link issued is no other instance's: it stays here, where the SDK treats
    // it as on a single instance (an answer to nothing, reported to the server's onerror).
    if (isResponse(message)) {
      if (!isLinkId(message.id)) return undefined;
      const here = ownedBy(message.id, this.tag) && !this.withProgress?.has(message.id);
      return here ? undefined : { k: 'answer', m: message };
    }
    if (message.method === 'notifications/progress' && isLinkId(progressToken(message))) {
      return { k: 'progress', m: message };
    }
    if (message.method === 'notifications/cancelled') {
      const id = cancelledId(message);
      if (id !== undefined && !this.running.has(id)) return { k: 'cancel', m: message };
    }
    return undefined;
  }

  private received(envelope: Envelope): void {
    if (this.closed) return;
    switch (envelope.k) {
      case 'answer':
        if (isResponse(envelope.m) && ownedBy(envelope.m.id, this.tag)) {
          const answer = inbound(envelope.m, this.tag);
          // The SDK handles a notification a microtask late but drops the request's progress
          // handler as soon as the answer arrives: progress handed over just before it (a bus
          // delivers in batches) must be handled first.
          if (this.withProgress?.delete(envelope.m.id)) {
            setImmediate(() => {
              if (!this.closed) this.onmessage?.(answer);
            });
          } else this.onmessage?.(answer);
        }
        return;
      case 'progress': {
        const token = progressToken(envelope.m);
        if (token !== undefined && ownedBy(token, this.tag)) this.onmessage?.(inbound(envelope.m, this.tag));
        return;
      }
      case 'cancel': {
        const id = cancelledId(envelope.m);
        // The server answers a cancelled request with nothing: forget it here.
        if (id !== undefined && this.finish(id)) this.onmessage?.(envelope.m);
        return;
      }
      case 'closed':
        this.onClosed?.(this.sessionId);
        return;
      case 'standalone':
        // Not held here: in the event log, replayed by the next GET. Sent here: written already.
        if (this.getStreams === 0 || envelope.from === this.tag) return;
        void this.serialized(() => this.catchUp(envelope.m, envelope.e)).catch((error: unknown) =>
          this.logger.warn('standalone message not written to the GET stream', { error }),
        );
    }
  }

  /**
   * Writes to the GET stream open here what the log holds after the last event written; on a
   * freshly opened stream (nothing written yet) that is the announced message itself.
   */
  private async catchUp(announced?: WireMessage, eventId?: string): Promise<void> {
    if (this.getStreams === 0) return;
    if (this.events === undefined || eventId === undefined) {
      if (announced) await this.write(announced, eventId);
      return;
    }
    if (this.written === undefined) {
      if (announced) await this.write(announced, eventId);
      return;
    }
    await this.events.replayEventsAfter(this.written, {
      send: (id, message) => this.write(message as unknown as WireMessage, id),
    });
  }

  private async write(message: WireMessage, eventId: string | undefined): Promise<void> {
    if (this.standalone) this.standalone.relaying = eventId ?? '';
    try {
      await this.transport.send(message as never);
    } finally {
      if (this.standalone) this.standalone.relaying = undefined;
    }
    if (eventId !== undefined) this.written = eventId;
  }

  private async announce(envelope: Envelope & { k: RoutedKind }): Promise<void> {
    await this.bus!.publish(this.sessionId, envelope as unknown as JsonValue);
    this.onPublish?.(envelope.k);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** A link's tag: 6 random bytes, 8 base64url characters. */
const TAG_BYTES = 6;

/** The shape of every id and progress token a link issues: its tag, a dot, the SDK's number. */
const LINK_ID = /^[A-Za-z0-9_-]{8}\.\d{1,16}$/;

function isLinkId(id: RequestId | undefined): boolean {
  return typeof id === 'string' && LINK_ID.test(id);
}

/** A server-to-client request's id, and its progress token if any, made to name this link: `<tag>.<id>`. */
function outbound(message: WireMessage, tag: string): WireMessage {
  if (isRequest(message)) {
    const id = `${tag}.${message.id}`;
    const token = progressToken(message);
    if (token === undefined) return { ...message, id };
    const _meta = { ...metaOf(message.params), progressToken: `${tag}.${token}` };
    return { ...message, id, params: { ...message.params, _meta } };
  }
  if (message.method === 'notifications/cancelled' && message.params?.requestId !== undefined) {
    // The server cancels one of its own requests: under the id the client knows it by.
    return { ...message, params: { ...message.params, requestId: `${tag}.${message.params.requestId}` } };
  }
  return message;
}

/** A client's answer or progress on this link's request, under the id or token the server gave it. */
function inbound(message: WireMessage, tag: string): WireMessage {
  if (isResponse(message)) {
    return ownedBy(message.id, tag) ? { ...message, id: untagged(message.id as string, tag) } : message;
  }
  const token = message.method === 'notifications/progress' ? progressToken(message) : undefined;
  if (token === undefined || !ownedBy(token, tag)) return message;
  return { ...message, params: { ...message.params, progressToken: untagged(token as string, tag) } };
}

/** `<tag>.<id>` back to the id the server gave: a number when it was one (the SDKs number theirs). */
function untagged(id: string, tag: string): RequestId {
  const original = id.slice(tag.length + 1);
  return /^\d+$/.test(original) ? Number(original) : original;
}

/**
 * A request's `_meta.progressToken`, or a `notifications/progress`'s `progressToken`. The link
 * tags it as it tags the request's id.
 */
function progressToken(message: WireMessage): RequestId | undefined {
  const params = message.params;
  const token =
    message.method === 'notifications/progress' ? params?.progressToken : metaOf(params)?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

function metaOf(params: WireMessage['params']): { [key: string]: unknown } | undefined {
  const meta = params?._meta;
  return typeof meta === 'object' && meta !== null ? (meta as { [key: string]: unknown }) : undefined;
}

/** The request a `notifications/cancelled` names. */
function cancelledId(message: WireMessage): RequestId | undefined {
  const id = message.params?.requestId;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

function ownedBy(id: RequestId, tag: string): boolean {
  return typeof id === 'string' && id.startsWith(`${tag}.`);
}

function isWire(message: unknown): message is WireMessage {
  return typeof message === 'object' && message !== null && !Array.isArray(message);
}

function isRequest(message: WireMessage): message is WireMessage & { id: RequestId; method: string } {
  return message.method !== undefined && message.id !== undefined;
}

function isResponse(message: WireMessage): message is WireMessage & { id: RequestId } {
  return (
    message.method === undefined && message.id !== undefined && ('result' in message || 'error' in message)
  );
}

function noop(): void {}

function noUse(): () => void {
  return noop;
}

/** The standalone queue's start: one settled promise for every link. */
const SETTLED: Promise<unknown> = Promise.resolve();

/** The same response, calling `done` once when its body ends, errors or is cancelled. */
function onEnd(response: Response, done: () => void): Response {
  let called = false;
  const once = () => {
    if (!called) {
      called = true;
      done();
    }
  };
  const reader = response.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: finished } = await reader.read();
        if (finished) {
          once();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        once();
        controller.error(error);
      }
    },
    cancel(reason) {
      once();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
