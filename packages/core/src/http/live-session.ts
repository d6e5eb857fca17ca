/**
 * One session held in this process: its server, the SDK transport, the event store as the
 * transport sees it, and the link to the other instances serving the session. The handler keeps
 * these by id and decides when one is built, rebuilt or let go; what serving one takes (its
 * running streams, replay counts, store failures, unstored events, whether its close is a
 * disconnect) is here, and nothing outside reads or writes it.
 */
import type { SessionBus } from '../bus';
import { sessionTag } from '../ids';
import type { JsonObject } from '../json';
import type { Logger } from '../options';
import type { SessionRecord } from '../store';
import type { SessionEventStores } from './event-store';
import type { SessionContext } from './handler-options';
import { type RoutedKind, SessionLink } from './link';
import { ObservedEventStore } from './observed-event-store';
import { endAfterEvents, STANDALONE_STREAM_ID } from './sdk-assumptions';
import type {
  ConnectableServer,
  HandleOptions,
  HandlerTransport,
  PassThroughTransportOptions,
  TransportClass,
} from './wire';

/** What every session of one handler is built from, and how it tells the handler it ended. */
export interface LiveSessionParts {
  createServer(context: SessionContext): ConnectableServer | Promise<ConnectableServer>;
  transportClass(): Promise<TransportClass>;
  transportOptions: PassThroughTransportOptions | undefined;
  eventStores: SessionEventStores | undefined;
  bus: SessionBus | undefined;
  logger: Logger;
  onPublish: ((kind: RoutedKind) => void) | undefined;
  /**
   * Opens one use of a held session (`SessionManager.use`): the link keeps one per running request
   * and GET stream. Called detached (as are `onDeletedElsewhere` and `onPublish`): every session's
   * link shares these functions instead of a closure of its own.
   */
  use: (sessionId: string) => () => void;
  /** The transport closed; `disconnect` is false when the close was quiet (see `silence`). */
  onClosed(live: LiveSession, disconnect: boolean): void;
  /** A client deleted the session through another instance. */
  onDeletedElsewhere: (sessionId: string) => void;
}

export class LiveSession {
  readonly id: string;
  readonly principal: string | null;
  /** The server's transport: joins this process to the other instances serving the session. */
  private readonly link: SessionLink;
  private readonly transport: HandlerTransport;
  /** Undefined without an event store (no resumability). */
  private readonly events: ObservedEventStore | undefined;
  /** Set before a close that must not mark the session disconnected (DELETE, lost, failed build). */
  private quiet = false;

  /** A fresh server connected to a fresh transport for `record.id`. */
  static async connect(
    parts: LiveSessionParts,
    record: SessionRecord,
    principal: string | null,
    mode: SessionContext['mode'],
    onsessioninitialized?: () => Promise<void>,
  ): Promise<LiveSession> {
    const server = await parts.createServer({
      sessionId: record.id,
      principal,
      mode,
      record,
      clientName: clientName(record.initializeParams),
    });
    const Transport = await parts.transportClass();
    const live = new LiveSession(parts, record.id, principal, server, Transport, onsessioninitialized);
    try {
      await live.link.join();
    } catch (error) {
      await server.close().catch(() => undefined);
      throw error;
    }
    // The link has the public surface of an SDK `Transport`: what `connect` takes.
    await server.connect(live.link as never);
    return live;
  }

  private constructor(
    private readonly parts: LiveSessionParts,
    sessionId: string,
    principal: string | null,
    private readonly server: ConnectableServer,
    Transport: TransportClass,
    onsessioninitialized: (() => Promise<void>) | undefined,
  ) {
    this.id = sessionId;
    this.principal = principal;
    const events = parts.eventStores?.forSession(sessionId);
    this.events = events && new ObservedEventStore(events, sessionId, parts.logger);
    this.transport = new Transport({
      ...parts.transportOptions,
      sessionIdGenerator: () => sessionId,
      eventStore: this.events,
      onsessioninitialized,
    });
    this.link = new SessionLink({
      sessionId,
      transport: this.transport,
      bus: parts.bus,
      events,
      logger: parts.logger,
      standalone: this.events,
      onClosed: parts.onDeletedElsewhere,
      onPublish: parts.onPublish,
      use: parts.use,
    });
    this.transport.onclose = () => {
      void this.link.leave().catch((e: unknown) => this.logFailure('leave the bus', e));
      parts.onClosed(this, !this.quiet);
      this.link.onclose?.();
    };
  }

  /** The transport's answer to the `initialize` that created this session. */
  initialize(request: Request, handleOptions: HandleOptions): Promise<Response> {
    return this.transport.handleRequest(request, handleOptions);
  }

  /**
   * Brings the fresh transport (and the server behind it) to the initialized state, through HTTP
   * only. The replayed requests carry the client request's URL, Host and Origin, so the
   * transport's DNS-rebinding check passes exactly when it passes for the client's own request.
   */
  async replayInitialize(params: JsonObject, request: Request): Promise<void> {
    this.events?.mute(true);
    const headers: Record<string, string> = {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    };
    for (const name of ['host', 'origin']) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    // The message goes as `parsedBody`: nothing to serialise and parse again.
    const init = await this.transport.handleRequest(new Request(request.url, { method: 'POST', headers }), {
      parsedBody: { jsonrpc: '2.0', id: REPLAY_REQUEST_ID, method: 'initialize', params },
    });
    const initBody = await init.text();
    if (!init.ok) throw new ReplayRefusedError(init.status, initBody);
    // Only the server needs `notifications/initialized` (the transport is initialized by the request
    // above): handed to it as the transport would, without an HTTP round trip.
    this.link.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.events?.mute(false);
  }

  /**
   * A POST or GET for this session. A store failure inside the transport (the event store:
   * priming, replay) is thrown, for the handler to answer as it answers any store failure (503
   * with Retry-After) instead of the SDK's 400 "Parse error" that carries the driver's message.
   */
  serve(request: Request, method: string, body: unknown, handleOptions: HandleOptions): Promise<Response> {
    if (method === 'POST') return this.post(request, body, handleOptions);
    const lastEventId = request.headers.get('last-event-id');
    if (lastEventId === null || this.events === undefined) {
      return this.link.openStandalone(() => this.answer(request, handleOptions));
    }
    return this.resumeStream(this.events, request, lastEventId, handleOptions);
  }

  /** Marks the coming close as no disconnect: the session is handed off, not ended. */
  silence(): void {
    this.quiet = true;
  }

  /** Closes server and transport in the background, as no disconnect (closed, lost, released, refused). */
  drop(): void {
    this.quiet = true;
    void this.server.close().catch((e: unknown) => this.logFailure('server close', e));
    void this.link.leave().catch((e: unknown) => this.logFailure('leave the bus', e));
  }

  /** A rebuild that failed: closed as no disconnect, its own failure to close not worth a word. */
  async discard(): Promise<void> {
    this.quiet = true;
    await this.server.close().catch(() => undefined);
  }

  /** Closes server and transport and leaves the bus (`handler.close()`). */
  async close(): Promise<void> {
    await this.server.close().catch((e: unknown) => this.logFailure('server close', e));
    await this.link.leave().catch((e: unknown) => this.logFailure('leave the bus', e));
  }

  // --- Internal helpers ---

  private async post(request: Request, body: unknown, handleOptions: HandleOptions): Promise<Response> {
    // Answers and cancellations for other instances go over the bus; the rest is served here.
    const local = await this.link.route(body);
    if (local === undefined) return new Response(null, { status: 202 });
    return this.answer(request, { ...handleOptions, parsedBody: local });
  }

  /** The transport's answer to a request, or the store failure it met inside (see `serve`). */
  private async answer(request: Request, handleOptions: HandleOptions): Promise<Response> {
    const failures = this.events?.storeFailures ?? 0;
    const response = await this.transport.handleRequest(request, handleOptions);
    if (response.ok || this.events === undefined || this.events.storeFailures === failures) return response;
    await response.body?.cancel();
    throw this.events.lastStoreFailure;
  }

  /**
   * A GET with Last-Event-ID. When the stream's request runs in this process the transport keeps
   * the stream open and goes on live. When it runs elsewhere (another instance, behind a
   * balancer) nothing more will ever be written here: the replayed events are sent and the
   * stream ends, so the client reconnects with its newer id and polls until its request's
   * response has been replayed, on whichever instance it lands.
   */
  private async resumeStream(
    events: ObservedEventStore,
    request: Request,
    lastEventId: string,
    handleOptions: HandleOptions,
  ): Promise<Response> {
    const streamId = await events.getStreamIdForEventId(lastEventId);
    // Its messages the log refused are written first, so the replay has them (or, store still down: 503).
    if (streamId !== undefined) await events.flushUnstored(streamId);
    const replay = async () => {
      try {
        const response = await this.answer(request, handleOptions);
        const replayed = events.takeReplayed(lastEventId);
        return { response, events: replayed?.count ?? 0, lastId: replayed?.lastId };
      } catch (error) {
        // Forgotten all the same: a failed replay leaves no count behind.
        events.takeReplayed(lastEventId);
        throw error;
      }
    };
    if (streamId === STANDALONE_STREAM_ID) {
      let lastId: string | undefined;
      return this.link.openStandalone(
        async () => {
          const replayed = await replay();
          lastId = replayed.lastId;
          return replayed.response;
        },
        lastEventId,
        () => lastId,
      );
    }
    const { response, events: count } = await replay();
    if (!response.ok || !response.body) return response;
    if (streamId === undefined || events.runsHere(streamId)) return response;
    return endAfterEvents(response, count);
  }

  private logFailure(what: string, error: unknown): void {
    this.parts.logger.warn(`${what} failed`, { session: sessionTag(this.id), error });
  }
}

/** The transport refused the replayed `initialize`: its answer is passed on to the client. */
class ReplayRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`replayed initialize refused (${status}): ${body.slice(0, 200)}`);
  }
}

/** The id of the replayed `initialize` request; its response is discarded. */
const REPLAY_REQUEST_ID = 'mcp-sessions:replayed-initialize';

function clientName(params: JsonObject | null): string | undefined {
  const info = params?.clientInfo;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return undefined;
  return typeof info.name === 'string' && info.name.length > 0 ? info.name : undefined;
}
