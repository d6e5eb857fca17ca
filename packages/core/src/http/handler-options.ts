/**
 * The session handler's public contract: what `createSessionHandler` is given (its options, with
 * their checks and defaults), the context each session's server is created with, the observer
 * hooks for metrics and traces, and what it gives back.
 */
import type { SessionBus } from '../bus';
import { InvalidArgumentError } from '../errors';
import { type LoggerLike, resolveLogger } from '../logger';
import type { SessionManager } from '../manager';
import {
  assertKnownOptions,
  DEFAULT_IDLE_RELEASE_MS,
  type Logger,
  positiveInteger,
  positiveOrInfinite,
} from '../options';
import type { SessionRecord } from '../store';
import type { SessionEventStores } from './event-store';
import type { RoutedKind } from './link';
import type {
  AuthInfo,
  ConnectableServer,
  HandleOptions,
  PassThroughTransportOptions,
  TransportClass,
} from './wire';

/** Largest body read to recognise an `initialize` request that carries no session id. */
export const DEFAULT_MAX_INITIALIZE_BODY_BYTES = 1024 * 1024;
/** Largest body of a POST to an existing session (the SDK's own default). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

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

/** The options checked, with their defaults filled in: what the handler runs on. */
export interface ResolvedHandlerOptions {
  logger: Logger;
  maxInitializeBody: number;
  maxBody: number;
  idleReleaseMs: number;
}

/** Checks the options (unknown names, the manager, the server factory, the limits) and fills in defaults. */
export function resolveHandlerOptions(options: SessionHandlerOptions): ResolvedHandlerOptions {
  assertKnownOptions(options, HANDLER_OPTIONS, 'createSessionHandler');
  if (typeof (options.manager as Partial<SessionManager> | undefined)?.resume !== 'function') {
    throw new InvalidArgumentError('manager', 'must be a SessionManager');
  }
  if (typeof options.createServer !== 'function') {
    throw new InvalidArgumentError('createServer', 'must be a function returning a fresh McpServer');
  }
  const logger = resolveLogger(options.logger);
  if (!options.bus && options.manager.store.capabilities.crossProcess) {
    logger.warn(
      'the session store is shared across processes but the handler has no bus: elicitation, sampling, cancellations and standalone messages reach the client only on the instance that holds its session',
      { store: options.manager.store.name },
    );
  }
  return {
    logger,
    maxInitializeBody: positiveInteger(
      'maxInitializeBodyBytes',
      options.maxInitializeBodyBytes,
      DEFAULT_MAX_INITIALIZE_BODY_BYTES,
    ),
    maxBody: positiveInteger('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES),
    idleReleaseMs: positiveOrInfinite('idleReleaseMs', options.idleReleaseMs, DEFAULT_IDLE_RELEASE_MS),
  };
}

// --- Internal helpers ---

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
