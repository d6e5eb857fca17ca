import { SessionNotLiveError } from '../errors';
import { generateSessionId, isValidSessionId, sessionTag } from '../ids';
import type { JsonObject } from '../json';
import type { SessionManager } from '../manager';
import { type Logger, MAX_TIMER_DELAY_MS } from '../options';
import { errorResponse, isGone, jsonRpcError, missingSessionId, sessionNotFound } from './answers';
import { parsedBody } from './body';
import {
  type CloseOptions,
  resolveHandlerOptions,
  type SessionHandler,
  type SessionHandlerOptions,
} from './handler-options';
import { LiveSession, type LiveSessionParts } from './live-session';
import { dnsRebindingRefusal, loadDefaultTransportClass, refusedMessages } from './sdk-assumptions';
import type { HandleOptions, HandlerTransport, TransportClass } from './wire';

export {
  type CloseOptions,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_INITIALIZE_BODY_BYTES,
  type SessionContext,
  type SessionHandler,
  type SessionHandlerObserver,
  type SessionHandlerOptions,
} from './handler-options';
export type {
  AuthInfo,
  ConnectableServer,
  HandleOptions,
  HandlerTransport,
  HandlerTransportOptions,
  PassThroughTransportOptions,
  TransportClass,
  TransportEventStore,
} from './wire';

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
  /** What every session is built from; one object for the handler's life. */
  private readonly parts: LiveSessionParts;
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
    ({
      logger: this.logger,
      maxInitializeBody: this.maxInitializeBody,
      maxBody: this.maxBody,
      idleReleaseMs: this.idleReleaseMs,
    } = resolveHandlerOptions(options));
    this.manager = options.manager;
    this.Transport = options.transportClass;
    this.parts = {
      createServer: (context) => options.createServer(context),
      transportClass: () => this.transportClass(),
      transportOptions: options.transportOptions,
      eventStores: options.eventStore,
      bus: options.bus,
      logger: this.logger,
      onPublish: options.observer?.routed?.bind(options.observer),
      use: (sessionId) => this.manager.use(sessionId),
      onClosed: (live, disconnect) => this.onTransportClosed(live, disconnect),
      onDeletedElsewhere: (sessionId) => this.drop(sessionId, 'closed on another instance'),
    };
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
      return errorResponse(error, this.logger);
    }
  }

  async close(options: CloseOptions = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    this.manager.off('lost', this.onLost);
    this.manager.off('released', this.onReleased);
    await Promise.allSettled([...this.building.values()]);
    const lives = [...this.live.values()];
    const handOff = options.disconnect !== true;
    if (handOff) {
      for (const live of lives) live.silence();
      await Promise.all(
        lives.map((live) =>
          this.manager.handOff(live.id).catch((error: unknown) => {
            // Closed or expired elsewhere meanwhile: nothing to hand off.
            if (!isGone(error)) this.logFailure('hand off', live.id, error);
          }),
        ),
      );
    }
    await Promise.all(lives.map((live) => this.closeLive(live, handOff)));
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
    // In use until the transport has the request: from then on the link holds a use for each
    // request running and each GET stream open (see `SessionLink`), so no idle release takes it.
    const early = this.manager.use(header);
    let rebuilt = noop;
    try {
      const live = await this.liveSession(header, principal, request);
      if (live instanceof Response) return live;
      // A session rebuilt just now is held anew: this use is the one that counts.
      rebuilt = this.manager.use(header);
      return await live.serve(request, method, body, handleOptions);
    } finally {
      rebuilt();
      early();
    }
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
    // The transport keeps its `onsessioninitialized` (and so what it captures) for the session's
    // life: the callback lets go of the record once written, and `stored` is cleared once answered.
    let unwritten: typeof prepared | undefined = prepared;
    let stored: Promise<void> | undefined;
    const live = await LiveSession.connect(this.parts, prepared, principal, 'initialized', () => {
      const record = unwritten!;
      unwritten = undefined;
      stored = this.manager.initialize(record).then(noop);
      return stored;
    });
    this.live.set(sessionId, live);
    let response: Response;
    try {
      response = await live.initialize(request, { ...handleOptions, parsedBody: body });
    } catch (error) {
      this.drop(sessionId, 'initialize failed');
      throw error;
    }
    if (response.ok) {
      stored = undefined;
      return response;
    }
    this.drop(sessionId, 'initialize refused');
    // The transport accepted it but writing the record failed: answer that failure, not the SDK's 400.
    const failure = await stored?.then(
      () => undefined,
      (error: unknown) => error,
    );
    if (failure !== undefined) {
      await response.body?.cancel();
      return errorResponse(failure, this.logger);
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
    let live: LiveSession | undefined;
    try {
      if (!params)
        throw new SessionNotLiveError(sessionId, record.status, 'no initialize params were stored');
      live = await LiveSession.connect(this.parts, record, principal, mode);
      await live.replayInitialize(params, request);
    } catch (error) {
      await live?.discard();
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
    this.logger.debug('session dropped from this process', { session: sessionTag(sessionId), why });
    live.drop();
  }

  private async closeLive(live: LiveSession, handedOff: boolean): Promise<void> {
    await live.close();
    if (this.live.get(live.id) !== live) return;
    if (handedOff) this.live.delete(live.id);
    // A transport whose onclose was replaced by user code still gets its session disconnected.
    else await this.disconnect(live);
  }

  /** The session's transport closed: forgotten here, and marked disconnected unless the close was quiet. */
  private onTransportClosed(live: LiveSession, disconnect: boolean): void {
    if (this.live.get(live.id) !== live) return;
    if (!disconnect) {
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

  private logFailure(what: string, sessionId: string, error: unknown): void {
    this.logger.warn(`${what} failed`, { session: sessionTag(sessionId), error });
  }
}

/** Told to every instance serving a session that a client deleted it. */
const CLOSED: JsonObject = { k: 'closed' };

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

function noop(): void {}
