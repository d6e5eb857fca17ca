/**
 * The MCP SDK's shapes the HTTP integration works with, structurally, in one place every other
 * file imports down from: each fits v1's (`@modelcontextprotocol/sdk`) and v2's
 * (`@modelcontextprotocol/server`) types, so nothing here imports the SDK at load. What the
 * integration assumes of the SDK beyond these shapes is named and tested in `sdk-assumptions.ts`.
 */
import type { TaskStatus } from '../status';

/** A JSON-RPC request id as the SDK's transports carry it. */
export type RequestId = string | number;

/** A JSON-RPC message as the SDK's transports carry it (structural: any SDK line fits). */
export interface WireMessage {
  jsonrpc: '2.0';
  id?: RequestId;
  method?: string;
  params?: { [key: string]: unknown };
  result?: unknown;
  error?: unknown;
}

export interface WireSendOptions {
  relatedRequestId?: RequestId | undefined;
}

/** The `Transport` surface the link drives and offers (the SDK's `Transport` interface). */
export interface LinkedTransport {
  start(): Promise<void>;
  send(message: never, options?: WireSendOptions): Promise<void>;
  close(): Promise<void>;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: never, extra?: never) => void) | undefined;
  readonly sessionId?: string | undefined;
  setProtocolVersion?: ((version: string) => void) | undefined;
  /** SDK v2: the server's protocol versions, for the transport's header check. */
  setSupportedProtocolVersions?: ((versions: string[]) => void) | undefined;
  /** SDK v2: how `McpServer` answers a tool call that lacks a scope (403 with a challenge). */
  setScopeChallengeResolver?: ((resolver: never) => void) | undefined;
}

/**
 * The SDK's `AuthInfo`, structurally: v1's (`@modelcontextprotocol/sdk/server/auth/types.js`) and
 * v2's (`@modelcontextprotocol/server`) both fit.
 */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

/** The SDK's `EventStore` (resumability), structurally: what the handler gives each transport. */
export interface TransportEventStore {
  storeEvent(streamId: string, message: WireMessage): Promise<string>;
  getStreamIdForEventId?(eventId: string): Promise<string | undefined>;
  replayEventsAfter(
    lastEventId: string,
    handlers: { send: (eventId: string, message: WireMessage) => Promise<void> },
  ): Promise<string>;
}

/** What a request is handled with, by the session handler and by the SDK transport's `handleRequest`. */
export interface HandleOptions {
  /** A body already parsed by a framework (Express `express.json()`). */
  parsedBody?: unknown;
  authInfo?: AuthInfo;
}

/** What the handler needs of an SDK transport: the public surface of `WebStandardStreamableHTTPServerTransport`. */
export interface HandlerTransport extends LinkedTransport {
  handleRequest(request: Request, options?: HandleOptions): Promise<Response>;
}

/** Options of `WebStandardStreamableHTTPServerTransport` the handler passes through unchanged. */
export interface PassThroughTransportOptions {
  enableJsonResponse?: boolean;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  enableDnsRebindingProtection?: boolean;
  retryInterval?: number;
}

/** The options the handler constructs a transport with (both SDK lines take them). */
export interface HandlerTransportOptions extends PassThroughTransportOptions {
  sessionIdGenerator: () => string;
  eventStore?: TransportEventStore | undefined;
  onsessioninitialized?: ((sessionId: string) => void | Promise<void>) | undefined;
}

/**
 * `WebStandardStreamableHTTPServerTransport` of either SDK line: v1's from
 * `@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js` (1.25+) or v2's from
 * `@modelcontextprotocol/server`.
 */
export type TransportClass = new (options: HandlerTransportOptions) => HandlerTransport;

/** What the handler needs of a server: `McpServer` and the low-level `Server` both fit. */
export interface ConnectableServer {
  /** `never`: the SDK's `Transport` type differs between SDK versions; any server's `connect` fits. */
  connect(transport: never): Promise<void>;
  close(): Promise<void>;
}

// --- SDK v1's experimental tasks (protocol 2025-11-25; `@modelcontextprotocol/sdk/experimental/tasks`) ---

/** v1's `Task`, structurally: what `tasks/get` answers and `createTask` returns. */
export interface V1Task {
  taskId: string;
  status: TaskStatus;
  ttl: number | null;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  lastUpdatedAt: string;
  pollInterval?: number;
  statusMessage?: string;
}

/** v1's `CreateTaskOptions`: a task-augmented request's `params.task`, as the SDK passes it on. */
export interface V1CreateTaskOptions {
  ttl?: number | null;
  pollInterval?: number;
  context?: Record<string, unknown>;
}

/** v1's `QueuedMessage` as the SDK hands it to `TaskMessageQueue.enqueue`. */
export interface V1QueuedMessage {
  type: 'request' | 'notification' | 'response' | 'error';
  /** Epoch ms, when the SDK queued it. */
  timestamp: number;
  message: WireMessage;
}

/**
 * A queued message as the queue gives it back. `message` is the JSON-RPC message exactly as
 * queued (read it as a `WireMessage`); typed `never` so the value fits every v1 version's
 * `QueuedMessage`, whose JSON-RPC types differ between versions.
 */
export interface V1DequeuedMessage {
  type: V1QueuedMessage['type'];
  timestamp: number;
  message: never;
}
