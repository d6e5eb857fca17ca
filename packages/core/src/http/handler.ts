import type { SessionBus } from '../bus';
import {
  InvalidArgumentError,
  InvalidValueError,
  McpSessionsError,
  RecoveryRefusedError,
  SessionNotFoundError,
  SessionNotLiveError,
  StoreUnavailableError,
} from '../errors';
import { generateSessionId, isValidSessionId, sessionTag } from '../ids';
import type { JsonObject } from '../json';
import { type LoggerLike, resolveLogger } from '../logger';
import type { SessionManager } from '../manager';
import {
  assertKnownOptions,
  DEFAULT_IDLE_RELEASE_MS,
  type Logger,
  MAX_TIMER_DELAY_MS,
  positiveInteger,
  positiveOrInfinite,
} from '../options';
import type { SessionRecord } from '../store';
import { readCapped } from './body';
import type { SessionEventStores } from './event-store';
import { type RoutedKind, SessionLink, type StandaloneEvents } from './link';
import {
  dnsRebindingRefusal,
  endAfterEvents,
  isPrimingEvent,
  loadDefaultTransportClass,
  refusedMessages,
  STANDALONE_STREAM_ID,
  UNSTORED_EVENT_ID,
} from './sdk-assumptions';
import { UnstoredEvents } from './unstored-events';
import type {
  AuthInfo,
  ConnectableServer,
  HandlerTransport,
  PassThroughTransportOptions,
  TransportClass,
  TransportEventStore,
} from './wire';

export type {
  AuthInfo,
  ConnectableServer,
  HandlerTransport,
  HandlerTransportOptions,
  PassThroughTransportOptions,
  TransportClass,
  TransportEventStore,
} from './wire';

/** Largest body read to recognise an `initialize` request that carries no session id. */
export const DEFAULT_MAX_INITIALIZE_BODY_BYTES = 1024 * 1024;
/** Largest body of a POST to an existing session (the SDK's own default). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The id of the replayed `initialize` request; its response is discarded. */
const REPLAY_REQUEST_ID = 'mcp-sessions:replayed-initialize';

/** Given to `createServer` for every session this process starts serving. */
export interface SessionContext {
  sessionId: string;
  principal: string | null;
  /** `initialized`: a new session; `attached`: served elsewhere too; `recovered`: brought back from disconnected. */
  mode: 'initialized' | 'attached' | 'recovered';
  record: SessionRecord;
  /** The client's `clientInfo.name` from the stored initialize params: the default agent id. */
  clientName: string | undefined;
}

export interface SessionHandlerOptions {
  manager: SessionManager;
  /** A fresh server for one session; called on initialize and whenever a session is rebuilt here. */
  createServer(context: SessionContext): ConnectableServer | Promise<ConnectableServer>;
  /**
   * The authenticated subject of a request (from a bearer token, a cookie...), or null. A session
   * is bound to the principal that initialized it; any other principal gets 404.
   */
  principal?(
    request: Request,
    authInfo: AuthInfo | undefined,
  ): string | null | undefined | Promise<string | null | undefined>;
  /** Durable resumability (`createEventStore(manager)`). Without it, streams cannot be resumed. */
  eventStore?: SessionEventStores;
  /**
   * The live bus between the instances serving a session (`new SqliteSessionBus(...)`,
   * `RedisSessionBus`, `PostgresSessionBus`, on the same backend as the store). With it, a
   * client's answer to elicitation, sampling, roots or ping reaches the instance that asked, a
   * cancellation reaches the instance running the request, and standalone-stream messages reach
   * the instance holding the client's GET stream, wherever each request lands. Without it, those
   * work only when the client's requests reach the instance that holds the session.
   */
  bus?: SessionBus;
  /**
   * How a session held here learns that it was closed or expired elsewhere:
   * `request` (default) reads the record once per request (one `get`), so a DELETE on any
   * instance is seen by the very next request everywhere; `heartbeat` trusts the manager's
   * heartbeat tick (it reports sessions no longer active as `lost`), saving that read at the cost
   * of up to one heartbeat interval during which another instance may still serve a closed session.
   */
  revalidate?: 'request' | 'heartbeat';
  /** New session ids. Default `generateSessionId()` (192 random bits). */
  sessionIdGenerator?: () => string;
  transportOptions?: PassThroughTransportOptions;
  /**
   * The transport class: `WebStandardStreamableHTTPServerTransport` of the SDK line your servers
   * come from. Default: v1's (`@modelcontextprotocol/sdk`) when installed, else v2's
   * (`@modelcontextprotocol/server`), loaded on the first request. With both lines installed and
   * v2 servers, pass v2's class.
   */
  transportClass?: TransportClass;
  /** Largest `initialize` body (a request without a session id). Default 1 MiB. */
  maxInitializeBodyBytes?: number;
  /** Largest body of any other POST; read as a capped stream, never buffered past it. Default 4 MiB. */
  maxBodyBytes?: number;
  /**
   * A session held here with no request in flight, no open stream (a GET, a POST's SSE response)
   * and no request for this long is released from this process: its server and transport closed
   * locally (the client is told nothing), no more heartbeats, its record handed off without
   * counting a recovery. Its next request, on any instance, rebuilds it. Checked every quarter of
   * it. Default 5 minutes; `Infinity` holds every session until its transport closes.
   */
  idleReleaseMs?: number;
  /** Default: warnings and errors on stderr; `false` silences it. Pino-style loggers fit too. */
  logger?: LoggerLike | false;
  /** Hooks for metrics and traces: `createTelemetry().handlerObserver` (`@mcp-sessions/core/telemetry`). */
  observer?: SessionHandlerObserver;
}

/**
 * What the handler reports to metrics and traces, beyond the manager's events. Every hook is
 * optional and must not throw; without an observer the handler does no extra work.
 */
export interface SessionHandlerObserver {
  /**
   * Runs around each rebuild of a session in this process (resume, a fresh server, the
   * initialize replay) and must settle as `work()` does: for a span around it.
   */
  rebuild?<T>(sessionId: string, work: () => Promise<T>): Promise<T>;
  /** A session rebuilt here, attached (no recovery counted) or recovered. Called inside `rebuild`. */
  rebuilt?(sessionId: string, mode: 'attached' | 'recovered'): void;
  /** The handler answered 404 (no such session for this caller) or 503 (store unavailable, shutting down). */
  refused?(status: 404 | 503): void;
  /** A message published on the bus for another instance serving the session. */
  routed?(kind: RoutedKind): void;
}

export interface HandleOptions {
  /** A body already parsed by a framework (Express `express.json()`). */
  parsedBody?: unknown;
  authInfo?: AuthInfo;
}

/**
 * A web-standard MCP endpoint (`Request` → `Response`) whose sessions live in the manager's store.
 * Mount it on every HTTP method of the MCP path.
 */
export interface SessionHandler {
  (request: Request, options?: HandleOptions): Promise<Response>;
  /** Ids of the sessions with a server and transport in this process. */
  liveSessionIds(): string[];
  /**
   * Graceful shutdown (SIGTERM, a deploy): closes every server and transport of this process and
   * hands their sessions off (`manager.handOff`): the instance a client reaches next attaches
   * without counting a recovery, so rolling restarts never use up a session's attempts.
   * With `{ disconnect: true }` the sessions are marked disconnected instead (recovery counted).
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** Mark the sessions disconnected (counted recovery) instead of handing them off. Default false. */
  disconnect?: boolean;
}

interface LiveSession {
  readonly id: string;
  readonly principal: string | null;
  readonly server: ConnectableServer;
  readonly transport: HandlerTransport;
  /** Set before a close that must not mark the session disconnected (DELETE, lost, failed build). */
  quiet: boolean;
  /** Request streams whose request runs in this process and has not been answered yet. */
  readonly running: Set<string>;
  /** Events replayed per Last-Event-ID (how many, the last seq), read back once the replay returned. */
  readonly replayed: Map<string, Replayed>;
  /** Store failures inside the transport (which answers them with a 400 that leaks the message). */
  readonly storeFailures: { count: number; last?: unknown };
  /** The server's transport: joins this process to the other instances serving the session. */
  readonly link: SessionLink;
  /** Request-stream messages the event log refused, sent unstored and written when it is back. */
  readonly unstored: UnstoredEvents | undefined;
}

/**
 * Creates the request handler.
 *
 * Rules:
 * - POST `initialize` without a session id: a new session through `manager.initialize`, storing
 *   the initialize params and the principal.
 * - A session id not live in this process: `manager.resume` (attach without counting when the
 *   session is active and fresh on another instance; otherwise `recover`, counted and limited),
 *   then a fresh server and transport for that id, initialized by replaying the stored
 *   `initialize` request (its response discarded) and `notifications/initialized`. Concurrent
 *   first requests for one session in this process share one rebuild.
 * - Unknown, expired, closed, unrecoverable or another principal's session: 404. Missing id on
 *   anything but `initialize`: 400. Malformed id (not 1-256 visible ASCII): 400, no store query.
 * - DELETE: `manager.close`, from then on 404 on every instance (see `revalidate`).
 * - Transport closed (server closed, `handler.close()`): `manager.markDisconnected`.
 *
 * @example
 * ```ts
 * const handler = createSessionHandler({ manager, createServer: () => buildServer() });
 * app.all('/mcp', (c) => handler(c.req.raw)); // Hono
 * ```
 */
export function createSessionHandler(options: SessionHandlerOptions): SessionHandler {
  const impl = new HandlerImpl(options);
  const handler = (request: Request, handleOptions?: HandleOptions) => impl.handle(request, handleOptions);
  return Object.assign(handler, {
    liveSessionIds: () => [...impl.live.keys()],
    close: (closeOptions?: CloseOptions) => impl.close(closeOptions),
  });
}

// --- Internal helpers ---

class HandlerImpl {
  readonly live = new Map<string, LiveSession>();
  /** Rebuilds in flight, by principal and session id: concurrent first requests share one. */
  private readonly building = new Map<string, Promise<LiveSession>>();
  private readonly manager: SessionManager;
  private readonly logger: Logger;
  /** The transport class, or its loading when none was given (on the first request that needs it). */
  private Transport: TransportClass | Promise<TransportClass> | undefined;
  private readonly maxInitializeBody: number;
  private readonly maxBody: number;
  private readonly onLost = (sessionId: string) => this.drop(sessionId, 'lost elsewhere');
  private readonly onReleased = (sessionId: string) => this.drop(sessionId, 'idle');
  private readonly idleReleaseMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Checks Host and Origin as the SDK's transport does, before any session is resumed for a request. */
  private guard: HandlerTransport | undefined;
  private readonly disconnecting = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: SessionHandlerOptions) {
    assertKnownOptions(options, HANDLER_OPTIONS, 'createSessionHandler');
    if (typeof (options.manager as Partial<SessionManager> | undefined)?.resume !== 'function') {
      throw new InvalidArgumentError('manager', 'must be a SessionManager');
    }
    if (typeof options.createServer !== 'function') {
      throw new InvalidArgumentError('createServer', 'must be a function returning a fresh McpServer');
    }
    this.manager = options.manager;
    this.logger = resolveLogger(options.logger);
    if (!options.bus && this.manager.store.capabilities.crossProcess) {
      this.logger.warn(
        'the session store is shared across processes but the handler has no bus: elicitation, sampling, cancellations and standalone messages reach the client only on the instance that holds its session',
        { store: this.manager.store.name },
      );
    }
    this.Transport = options.transportClass;
    this.maxInitializeBody = positiveInteger(
      'maxInitializeBodyBytes',
      options.maxInitializeBodyBytes,
      DEFAULT_MAX_INITIALIZE_BODY_BYTES,
    );
    this.maxBody = positiveInteger('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
    this.idleReleaseMs = positiveOrInfinite('idleReleaseMs', options.idleReleaseMs, DEFAULT_IDLE_RELEASE_MS);
    this.manager.on('lost', this.onLost);
    this.manager.on('released', this.onReleased);
    if (Number.isFinite(this.idleReleaseMs)) {
      const every = Math.min(Math.max(this.idleReleaseMs / 4, 1), MAX_TIMER_DELAY_MS);
      this.idleTimer = setInterval(() => this.releaseIdle(), every);
      this.idleTimer.unref();
    }
  }

  /** Lets go of the sessions idle for `idleReleaseMs` (the manager hands them off, `onReleased` drops them). */
  private releaseIdle(): void {
    this.manager.releaseIdle(this.idleReleaseMs).catch((error: unknown) => {
      // Written again at the next heartbeat tick; meanwhile the session is just not held here.
      this.logger.warn('idle release failed', { error });
    });
  }

  /** The transport class, the installed SDK's loaded once when none was given. */
  private async transportClass(): Promise<TransportClass> {
    this.Transport ??= loadDefaultTransportClass();
    try {
      this.Transport = await this.Transport;
      return this.Transport;
    } catch (error) {
      this.Transport = undefined;
      throw error;
    }
  }

  async handle(request: Request, handleOptions: HandleOptions = {}): Promise<Response> {
    if (!this.options.observer?.refused) return this.answer(request, handleOptions);
    const response = await this.answer(request, handleOptions);
    if (response.status === 404 || response.status === 503) this.options.observer.refused(response.status);
    return response;
  }

  private async answer(request: Request, handleOptions: HandleOptions): Promise<Response> {
    if (this.closed) return jsonRpcError(503, -32000, 'Server shutting down');
    try {
      return await this.route(request, handleOptions);
    } catch (error) {
      return this.errorResponse(error);
    }
  }

  async close(options: CloseOptions = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    this.manager.off('lost', this.onLost);
    this.manager.off('released', this.onReleased);
    await Promise.allSettled([...this.building.values()]);
    const lives = [...this.live.values()];
    if (options.disconnect !== true) {
      for (const live of lives) live.quiet = true;
      await Promise.all(
        lives.map((live) =>
          this.manager.handOff(live.id).catch((error: unknown) => {
            // Closed or expired elsewhere meanwhile: nothing to hand off.
            if (!isGone(error)) this.logFailure('hand off', live.id, error);
          }),
        ),
      );
    }
    await Promise.all(lives.map((live) => this.closeLive(live)));
    await Promise.all(this.disconnecting);
  }

  private async route(request: Request, handleOptions: HandleOptions): Promise<Response> {
    const method = request.method;
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      return jsonRpcError(405, -32000, 'Method not allowed.', { Allow: 'GET, POST, DELETE' });
    }
    if (this.options.transportOptions?.enableDnsRebindingProtection) {
      this.guard ??= new (await this.transportClass())({
        ...this.options.transportOptions,
        sessionIdGenerator: () => 'guard',
      });
      const refused = await dnsRebindingRefusal(this.guard, request);
      if (refused) return refused;
    }
    const header = request.headers.get('mcp-session-id');
    const principal = (await this.options.principal?.(request, handleOptions.authInfo)) ?? null;

    if (header === null) {
      if (method !== 'POST') return missingSessionId();
      const body = await parsedBody(request, handleOptions, this.maxInitializeBody);
      if (body instanceof Response) return body;
      if (!isInitializeMessage(body)) return missingSessionId();
      return this.initialize(request, principal, body, handleOptions);
    }
    // Checked before anything touches the store: a 10 KB header costs a regex, nothing more.
    if (!isValidSessionId(header)) return jsonRpcError(400, -32000, 'Bad Request: malformed Mcp-Session-Id');

    if (method === 'DELETE') return this.delete(header, principal);

    let body: unknown;
    if (method === 'POST') {
      body = await parsedBody(request, handleOptions, this.maxBody);
      if (body instanceof Response) return body;
      // As the transport would, before a message is routed to another instance.
      const refused = refusedMessages(body);
      if (refused) return refused;
    }
    // In use from here until its response body ends, so no idle release takes it mid-request.
    const early = this.manager.use(header);
    let done: () => void = early;
    try {
      const live = await this.liveSession(header, principal, request);
      if (live instanceof Response) return live;
      // A session rebuilt (or rebuilt again) just now is held anew: this use is the one that counts.
      done = this.manager.use(header);
      early();
      const response = await this.serveLive(live, request, method, body, handleOptions);
      const ending = untilBodyEnds(response, done);
      done = noop;
      return ending;
    } finally {
      done();
      early();
    }
  }

  private async serveLive(
    live: LiveSession,
    request: Request,
    method: string,
    body: unknown,
    handleOptions: HandleOptions,
  ): Promise<Response> {
    if (method === 'POST') {
      // Answers and cancellations for other instances go over the bus; the rest is served here.
      const local = await live.link.route(body);
      if (local === undefined) return new Response(null, { status: 202 });
      return this.serve(live, request, { ...handleOptions, parsedBody: local });
    }
    const lastEventId = request.headers.get('last-event-id');
    if (lastEventId === null || !this.options.eventStore) {
      return live.link.openStandalone(() => this.serve(live, request, handleOptions));
    }
    return this.resumeStream(live, request, lastEventId, handleOptions);
  }

  /**
   * The transport's answer to a request, except that a store failure inside the transport (the
   * event store: priming, replay) is answered as this handler answers any store failure (503 with
   * Retry-After) instead of the SDK's 400 "Parse error" that carries the driver's message.
   */
  private async serve(live: LiveSession, request: Request, handleOptions: HandleOptions): Promise<Response> {
    const failures = live.storeFailures.count;
    const response = await live.transport.handleRequest(request, handleOptions);
    if (response.ok || live.storeFailures.count === failures) return response;
    await response.body?.cancel();
    return this.errorResponse(live.storeFailures.last);
  }

  /**
   * A GET with Last-Event-ID. When the stream's request runs in this process the transport keeps
   * the stream open and goes on live. When it runs elsewhere (another instance, behind a
   * balancer) nothing more will ever be written here: the replayed events are sent and the
   * stream ends, so the client reconnects with its newer id and polls until its request's
   * response has been replayed, on whichever instance it lands.
   */
  private async resumeStream(
    live: LiveSession,
    request: Request,
    lastEventId: string,
    handleOptions: HandleOptions,
  ): Promise<Response> {
    const streamId = await this.options.eventStore!.forSession(live.id).getStreamIdForEventId(lastEventId);
    // Its messages the log refused are written first, so the replay has them (or, store still down: 503).
    if (streamId !== undefined && live.unstored?.holds(streamId)) await live.unstored.flush();
    const replay = async () => {
      const response = await this.serve(live, request, handleOptions);
      const replayed = live.replayed.get(lastEventId);
      live.replayed.delete(lastEventId);
      return { response, events: replayed?.count ?? 0, lastId: replayed?.lastId };
    };
    if (streamId === STANDALONE_STREAM_ID) {
      let lastId: string | undefined;
      return live.link.openStandalone(
        async () => {
          const replayed = await replay();
          lastId = replayed.lastId;
          return replayed.response;
        },
        lastEventId,
        () => lastId,
      );
    }
    const { response, events } = await replay();
    if (!response.ok || !response.body) return response;
    if (streamId === undefined || live.running.has(streamId)) return response;
    return endAfterEvents(response, events);
  }

  /**
   * A new session. The record is written when the transport has accepted the request (headers,
   * JSON-RPC shape, DNS-rebinding checks), so a refused `initialize` leaves nothing behind.
   */
  private async initialize(
    request: Request,
    principal: string | null,
    body: InitializeMessage,
    handleOptions: HandleOptions,
  ): Promise<Response> {
    const sessionId = this.options.sessionIdGenerator?.() ?? generateSessionId();
    const prepared = this.manager.prepareSession(sessionId, { principal, initializeParams: body.params });
    let stored: Promise<void> | undefined;
    const live = await this.connect(
      prepared,
      principal,
      'initialized',
      () => false,
      () => {
        stored = this.manager.initialize(prepared).then(() => undefined);
        return stored;
      },
    );
    this.live.set(sessionId, live);
    let response: Response;
    try {
      response = await live.transport.handleRequest(request, { ...handleOptions, parsedBody: body });
    } catch (error) {
      this.drop(sessionId, 'initialize failed');
      throw error;
    }
    if (response.ok) return response;
    this.drop(sessionId, 'initialize refused');
    // The transport accepted it but writing the record failed: answer that failure, not the SDK's 400.
    const failure = await stored?.then(
      () => undefined,
      (error: unknown) => error,
    );
    if (failure !== undefined) {
      await response.body?.cancel();
      return this.errorResponse(failure);
    }
    if (stored !== undefined) {
      await this.manager.close(sessionId).catch((e: unknown) => this.logFailure('close', sessionId, e));
    }
    return response;
  }

  /** The session's server and transport in this process, rebuilt if needed; a 404 when it cannot be served. */
  private async liveSession(
    sessionId: string,
    principal: string | null,
    request: Request,
  ): Promise<LiveSession | Response> {
    const live = this.live.get(sessionId);
    if (live) {
      if (live.principal !== principal) return sessionNotFound();
      if (this.options.revalidate === 'heartbeat') return live;
      const record = await this.manager.getSession(sessionId);
      if (record?.status === 'active') return live;
      // Closed or expired elsewhere (404 below), or disconnected by another instance (recover).
      this.drop(sessionId, `record is ${record?.status ?? 'gone'}`);
    }
    const key = `${principal ?? ''}\u0000${sessionId}`;
    let building = this.building.get(key);
    if (!building) {
      const observer = this.options.observer;
      const work = () => this.rebuild(sessionId, principal, request);
      building = (observer?.rebuild ? observer.rebuild(sessionId, work) : work()).finally(() =>
        this.building.delete(key),
      );
      this.building.set(key, building);
    }
    try {
      return await building;
    } catch (error) {
      if (isGone(error)) return sessionNotFound();
      throw error;
    }
  }

  private async rebuild(sessionId: string, principal: string | null, request: Request): Promise<LiveSession> {
    const { record, mode } = await this.manager.resume(sessionId, { principal });
    if (this.closed) throw new SessionNotLiveError(sessionId, record.status, 'its handler is closing');
    const params = record.initializeParams;
    let replaying = true;
    let live: LiveSession | undefined;
    try {
      if (!params)
        throw new SessionNotLiveError(sessionId, record.status, 'no initialize params were stored');
      live = await this.connect(record, principal, mode, () => replaying);
      await replayInitialize(live, params, request);
      replaying = false;
    } catch (error) {
      if (live) {
        live.quiet = true;
        await live.server.close().catch(() => undefined);
      }
      // Not served after all: let the grace period run rather than heartbeat a session nobody serves.
      await this.manager
        .markDisconnected(sessionId)
        .catch((e: unknown) => this.logFailure('disconnect', sessionId, e));
      throw error;
    }
    this.live.set(sessionId, live);
    this.options.observer?.rebuilt?.(sessionId, mode);
    this.logger.info('session rebuilt', {
      sessionId,
      mode,
      recoveryAttempts: record.recoveryAttempts,
      instanceId: this.manager.instanceId,
    });
    return live;
  }

  /** A fresh server connected to a fresh transport for `record.id`. */
  private async connect(
    record: SessionRecord,
    principal: string | null,
    mode: SessionContext['mode'],
    muted: () => boolean,
    onsessioninitialized?: () => Promise<void>,
  ): Promise<LiveSession> {
    const sessionId = record.id;
    const server = await this.options.createServer({
      sessionId,
      principal,
      mode,
      record,
      clientName: clientName(record.initializeParams),
    });
    const running = new Set<string>();
    const replayed = new Map<string, Replayed>();
    const storeFailures = { count: 0 };
    const standalone: StandaloneEvents = {};
    const events = this.options.eventStore?.forSession(sessionId);
    const unstored = events && new UnstoredEvents(events, { sessionId, logger: this.logger });
    const eventStore =
      events &&
      observed(events, {
        muted,
        running,
        replayed,
        failures: storeFailures,
        standalone,
        unstored: unstored!,
      });
    const Transport = await this.transportClass();
    const transport = new Transport({
      ...this.options.transportOptions,
      sessionIdGenerator: () => sessionId,
      eventStore,
      onsessioninitialized,
    });
    const link = new SessionLink({
      sessionId,
      transport,
      bus: this.options.bus,
      events,
      logger: this.logger,
      standalone,
      onClosed: () => this.drop(sessionId, 'closed on another instance'),
      onPublish: this.options.observer?.routed?.bind(this.options.observer),
    });
    const live: LiveSession = {
      id: sessionId,
      principal,
      server,
      transport,
      quiet: false,
      running,
      replayed,
      storeFailures,
      link,
      unstored,
    };
    transport.onclose = () => {
      this.onTransportClosed(live);
      link.onclose?.();
    };
    try {
      await link.join();
    } catch (error) {
      await server.close().catch(() => undefined);
      throw error;
    }
    // The link has the public surface of an SDK `Transport`: what `connect` takes.
    await server.connect(link as never);
    return live;
  }

  /** DELETE: the lifecycle decides (the caller's principal, a live session); other instances are told. */
  private async delete(sessionId: string, principal: string | null): Promise<Response> {
    try {
      await this.manager.close(sessionId, { principal });
    } catch (error) {
      if (isGone(error)) return sessionNotFound();
      throw error;
    }
    this.drop(sessionId, 'deleted');
    await this.options.bus?.publish(sessionId, CLOSED).catch((error: unknown) =>
      // Closed in the store all the same: other instances see it at their next revalidation.
      this.logFailure('tell other instances of the close', sessionId, error),
    );
    return new Response(null, { status: 200 });
  }

  /** Forgets a live session without marking it disconnected (it is closed, lost, or being rebuilt). */
  private drop(sessionId: string, why: string): void {
    const live = this.live.get(sessionId);
    if (!live) return;
    this.live.delete(sessionId);
    live.quiet = true;
    this.logger.debug('session dropped from this process', { session: sessionTag(sessionId), why });
    void live.server.close().catch((e: unknown) => this.logFailure('server close', sessionId, e));
    void live.link.leave().catch((e: unknown) => this.logFailure('leave the bus', sessionId, e));
  }

  private async closeLive(live: LiveSession): Promise<void> {
    await live.server.close().catch((e: unknown) => this.logFailure('server close', live.id, e));
    await live.link.leave().catch((e: unknown) => this.logFailure('leave the bus', live.id, e));
    if (live.quiet) this.live.delete(live.id);
    // A transport whose onclose was replaced by user code still gets its session disconnected.
    else if (this.live.get(live.id) === live) await this.disconnect(live);
  }

  private onTransportClosed(live: LiveSession): void {
    void live.link.leave().catch((e: unknown) => this.logFailure('leave the bus', live.id, e));
    if (this.live.get(live.id) !== live) return;
    if (live.quiet) {
      this.live.delete(live.id);
      return;
    }
    const done = this.disconnect(live).finally(() => this.disconnecting.delete(done));
    this.disconnecting.add(done);
  }

  private async disconnect(live: LiveSession): Promise<void> {
    this.live.delete(live.id);
    try {
      await this.manager.markDisconnected(live.id);
    } catch (error) {
      // Already closed or expired elsewhere: nothing left to disconnect.
      if (!isGone(error)) this.logFailure('disconnect', live.id, error);
    }
  }

  private errorResponse(error: unknown): Response {
    if (error instanceof StoreUnavailableError) {
      this.logger.error('session store unavailable', { error });
      return jsonRpcError(503, -32000, 'Session store unavailable', { 'Retry-After': '1' });
    }
    if (error instanceof InvalidValueError || error instanceof InvalidArgumentError) {
      // The client's input (initialize params nested too deep, say): its fault, said without internals.
      this.logger.warn('request refused', { error, code: error.code });
      return jsonRpcError(400, -32602, `Invalid params: ${error.code}`);
    }
    const code = error instanceof McpSessionsError ? error.code : undefined;
    this.logger.error('request failed', { error, code });
    return jsonRpcError(500, -32603, 'Internal error');
  }

  private logFailure(what: string, sessionId: string, error: unknown): void {
    this.logger.warn(`${what} failed`, { session: sessionTag(sessionId), error });
  }
}

/** Told to every instance serving a session that a client deleted it. */
const CLOSED: JsonObject = { k: 'closed' };

/** Every option's name (the type makes the list exhaustive). */
const HANDLER_OPTIONS = Object.keys({
  manager: true,
  createServer: true,
  principal: true,
  eventStore: true,
  bus: true,
  revalidate: true,
  sessionIdGenerator: true,
  transportOptions: true,
  transportClass: true,
  maxInitializeBodyBytes: true,
  maxBodyBytes: true,
  idleReleaseMs: true,
  logger: true,
  observer: true,
} satisfies Record<keyof SessionHandlerOptions, true>);

interface InitializeMessage {
  jsonrpc: '2.0';
  id: string | number;
  method: 'initialize';
  params: JsonObject;
}

function isInitializeMessage(body: unknown): body is InitializeMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const m = body as Record<string, unknown>;
  return (
    m.method === 'initialize' &&
    (typeof m.id === 'string' || typeof m.id === 'number') &&
    typeof m.params === 'object' &&
    m.params !== null &&
    !Array.isArray(m.params)
  );
}

/**
 * Brings a fresh transport (and the server behind it) to the initialized state, through HTTP only.
 * The replayed requests carry the client request's URL, Host and Origin, so the transport's
 * DNS-rebinding check passes exactly when it passes for the client's own request.
 */
async function replayInitialize(live: LiveSession, params: JsonObject, request: Request): Promise<void> {
  const headers: Record<string, string> = {
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
  };
  for (const name of ['host', 'origin']) {
    const value = request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  // The message goes as `parsedBody`: nothing to serialise and parse again.
  const init = await live.transport.handleRequest(new Request(request.url, { method: 'POST', headers }), {
    parsedBody: { jsonrpc: '2.0', id: REPLAY_REQUEST_ID, method: 'initialize', params },
  });
  const initBody = await init.text();
  if (!init.ok) throw new ReplayRefusedError(init.status, initBody);
  // Only the server needs `notifications/initialized` (the transport is initialized by the request
  // above): handed to it as the transport would, without an HTTP round trip.
  live.link.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
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

/**
 * The session's event store as the transport sees it: stores nothing while the initialize replay
 * runs, notes which request streams run here (until their response is stored), and counts what
 * each resume replayed.
 */
interface Replayed {
  count: number;
  lastId: string | undefined;
}

interface Observation {
  /** True while the initialize replay runs: nothing it sends is stored. */
  muted(): boolean;
  running: Set<string>;
  replayed: Map<string, Replayed>;
  failures: { count: number; last?: unknown };
  standalone: StandaloneEvents;
  unstored: UnstoredEvents;
}

/**
 * The session's event store as the transport sees it: stores nothing while the initialize replay
 * runs, notes which request streams run here (until their response is stored), counts what each
 * resume replayed, notes store failures, gives a relayed standalone message the id it was
 * stored with on the instance that sent it, and never lets a request's message be lost to a store
 * failure: it goes to the open stream unstored and is written when the store is back.
 */
function observed(store: TransportEventStore, o: Observation): TransportEventStore {
  const failed = (error: unknown): never => {
    o.failures.count++;
    o.failures.last = error;
    throw error;
  };
  return {
    storeEvent: async (streamId, message) => {
      if (o.muted()) return `0.muted.${REPLAY_REQUEST_ID}`;
      if (streamId === STANDALONE_STREAM_ID) {
        // A message the link stored already, now written to the GET stream under its id.
        if (o.standalone.relaying !== undefined) return o.standalone.relaying;
        return store.storeEvent(streamId, message).catch(failed);
      }
      if ('id' in message && ('result' in message || 'error' in message)) o.running.delete(streamId);
      else o.running.add(streamId);
      // A failed priming fails the request before it runs: the handler answers 503.
      if (isPrimingEvent(message)) return store.storeEvent(streamId, message).catch(failed);
      // A throw here would make the transport drop the message and leave the stream open forever.
      if (o.unstored.size > 0) {
        // Behind messages still waiting for the store: kept in order, without a driver timeout each.
        o.unstored.add(streamId, message);
        return UNSTORED_EVENT_ID;
      }
      try {
        return await store.storeEvent(streamId, message);
      } catch (error) {
        o.unstored.add(streamId, message, error);
        return UNSTORED_EVENT_ID;
      }
    },
    replayEventsAfter: (lastEventId, { send }) => {
      const seen: Replayed = { count: 0, lastId: undefined };
      o.replayed.set(lastEventId, seen);
      return store
        .replayEventsAfter(lastEventId, {
          send: (eventId, message) => {
            seen.count++;
            seen.lastId = eventId;
            return send(eventId, message);
          },
        })
        .catch(failed);
    },
    getStreamIdForEventId: (eventId) => store.getStreamIdForEventId?.(eventId) ?? Promise.resolve(undefined),
  };
}

function noop(): void {}

/**
 * The response, with `done` called once an event stream's body has been read to the end or
 * cancelled (the client went away): the session stays in use for as long as the stream is open.
 */
function untilBodyEnds(response: Response, done: () => void): Response {
  const body = response.body;
  // A JSON answer is complete when returned; only an event stream stays open.
  if (body === null || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
    done();
    return response;
  }
  const reader = body.getReader();
  const watched = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          done();
          controller.close();
        } else controller.enqueue(chunk.value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(watched, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function clientName(params: JsonObject | null): string | undefined {
  const info = params?.clientInfo;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return undefined;
  return typeof info.name === 'string' && info.name.length > 0 ? info.name : undefined;
}

/** The POST body as JSON: the framework's parsed body, or the request's read as a capped stream. */
async function parsedBody(
  request: Request,
  handleOptions: HandleOptions,
  max: number,
): Promise<unknown | Response> {
  if (handleOptions.parsedBody !== undefined) return handleOptions.parsedBody;
  const text = await readCapped(request, max);
  if (text === undefined) return jsonRpcError(413, -32000, `Payload too large (max ${max} bytes)`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return jsonRpcError(400, -32700, 'Parse error: Invalid JSON');
  }
}

/** The manager's refusals that mean "no such session here": the client must initialize again. */
function isGone(error: unknown): boolean {
  return (
    error instanceof RecoveryRefusedError ||
    error instanceof SessionNotFoundError ||
    error instanceof SessionNotLiveError
  );
}

function missingSessionId(): Response {
  return jsonRpcError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
}

function sessionNotFound(): Response {
  return jsonRpcError(404, -32001, 'Session not found');
}

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}
