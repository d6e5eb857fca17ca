import {
  InvalidArgumentError,
  type JsonValue,
  type Logger,
  type LoggerLike,
  type SessionBus,
  StoreUnavailableError,
  sessionTag,
} from '@mcp-sessions/core';
import {
  assertKnownOptions,
  assertListener,
  assertSessionId,
  type BackendSubscriptions,
  type BusListener,
  BusListeners,
  type BusReach,
  type BusSubscription,
  busClosed,
  encodeJson,
  positiveNumber,
  resolveLogger,
} from '@mcp-sessions/core/adapter';
import { createClient, createCluster } from '@redis/client';
import { type AnyRedisClient, Connection, type RedisTarget, wrapError } from './connection';
import { type KeySpace, keySpace } from './keys';

/** Where the bus connects: the store's `RedisTarget` (what the bus does with each is said there). */
export type RedisBusTarget = RedisTarget;

export interface RedisBusOptions {
  /** Must equal the store's `prefix`, so a session's channel shares its keys' hash tag. Default `mcps:`. */
  prefix?: string;
  /** Must equal the store's `shards`. Default 16. */
  shards?: number;
  /** Bound on (re)connecting before a call fails with `StoreUnavailableError`. Default 5 s. */
  connectTimeoutMs?: number;
  /** Bound on every publish and (un)subscribe. Default 5 s. */
  commandTimeoutMs?: number;
  /** Receives connection errors (warn) and listeners that throw (error). Default: stderr; `false` silences. */
  logger?: LoggerLike | false;
}

export type RedisSessionBusOptions = RedisBusTarget & RedisBusOptions;

const OPTION_NAMES = [
  'url',
  'clusterUrls',
  'client',
  'prefix',
  'shards',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'logger',
];
const DEFAULT_BUS_PREFIX = 'mcps:';
const DEFAULT_BUS_SHARDS = 16;
const DEFAULT_TIMEOUT_MS = 5_000;
/** Longest pause between reconnect attempts of the subscriber connection. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The Redis live bus (reach `'backend'`): `PUBLISH`/`SUBSCRIBE` on one subscriber connection per
 * bus (not per session), and on Redis Cluster sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) with the
 * session's hash tag in the channel name, so a session's messages go through the node that holds
 * its keys (the cluster client keeps one pub/sub connection per node that has subscribed
 * channels). After an outage the client reconnects and subscribes again by itself.
 *
 * @example
 * ```ts
 * const bus = new RedisSessionBus({ url: 'redis://127.0.0.1:6379' });
 * await bus.subscribe(sessionId, (message) => route(message));
 * await bus.publish(sessionId, { jsonrpc: '2.0', id: 3, result: {} });
 * ```
 */
export class RedisSessionBus implements SessionBus {
  readonly name = 'redis';
  readonly reach: BusReach = 'backend';
  private readonly publisher: Connection;
  private readonly subscriber: Subscriber;
  private readonly sharded: boolean;
  private readonly listeners: BusListeners;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly keys: KeySpace;
  /** Session id of each subscribed channel (the handler gets the channel name). */
  private readonly channels = new Map<string, string>();
  /** Per session, the backend (un)subscribe in flight, so they reach the server in call order. */
  private readonly backend: BackendSubscriptions = {
    open: (sessionId) => this.backendSubscribe(sessionId),
    close: (sessionId) => this.backendUnsubscribe(sessionId),
    fail: (error) => wrapError(error, 'SUBSCRIBE'),
  };
  private readonly onMessage: MessageHandler;
  private readonly closeOwned: () => Promise<void>;
  /** Publisher and subscriber are one cluster object (so one of us connects it). */
  private readonly oneClient: boolean;
  /** The subscriber is the user's cluster: leave it open, unsubscribe on close. */
  private readonly usersCluster: boolean;
  private connecting: Promise<unknown> | undefined;
  private closed = false;

  constructor(options: RedisSessionBusOptions) {
    assertKnownOptions(options, OPTION_NAMES, 'RedisSessionBus');
    const prefix = options.prefix ?? DEFAULT_BUS_PREFIX;
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new InvalidArgumentError('prefix', 'must be a string without { or }');
    }
    const shards = options.shards ?? DEFAULT_BUS_SHARDS;
    if (!Number.isSafeInteger(shards) || shards < 1)
      throw new InvalidArgumentError('shards', 'must be an integer > 0');
    this.keys = keySpace(prefix, shards);
    this.timeoutMs = positiveNumber('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_TIMEOUT_MS);
    this.connectTimeoutMs = positiveNumber('connectTimeoutMs', options.connectTimeoutMs, DEFAULT_TIMEOUT_MS);
    this.logger = resolveLogger(options.logger);
    this.listeners = new BusListeners(this.name, this.logger);
    this.onMessage = (message, channel) => {
      const sessionId = this.channels.get(String(channel));
      if (sessionId !== undefined) this.listeners.deliver(sessionId, String(message));
    };
    const onError = (error: unknown) => this.logger.warn('redis bus connection error', { error });
    const connection = {
      connectTimeoutMs: this.connectTimeoutMs,
      commandTimeoutMs: this.timeoutMs,
      logger: this.logger,
    };
    const socket = {
      connectTimeout: this.connectTimeoutMs,
      reconnectStrategy: (retries: number) =>
        Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS),
    };

    if (options.clusterUrls) {
      // One cluster object: commands on its node connections, sharded subscriptions on its own
      // per-node pub/sub connections.
      const cluster = createCluster({
        rootNodes: options.clusterUrls.map((url) => ({ url })),
        defaults: { socket, disableOfflineQueue: true },
      });
      cluster.on('error', onError);
      this.sharded = true;
      this.oneClient = true;
      this.usersCluster = false;
      this.subscriber = cluster;
      this.publisher = new Connection({ ...connection, client: cluster });
      this.closeOwned = () => closeClient(cluster, this.timeoutMs);
    } else if (options.client) {
      const client = options.client;
      this.publisher = new Connection({ ...connection, client });
      if (isClusterClient(client)) {
        // The cluster's sharded pub/sub connections are already separate from its command ones.
        this.sharded = true;
        this.oneClient = true;
        this.usersCluster = true;
        this.subscriber = client;
        this.closeOwned = async () => undefined;
      } else if (hasDuplicate(client)) {
        const duplicate = client.duplicate({ disableOfflineQueue: true });
        duplicate.on('error', onError);
        this.sharded = false;
        this.oneClient = false;
        this.usersCluster = false;
        this.subscriber = duplicate;
        this.closeOwned = () => closeClient(duplicate, this.timeoutMs);
      } else {
        throw new InvalidArgumentError(
          'client',
          'must be a createClient() or createCluster() client (sentinel: pass { url } of the master)',
        );
      }
    } else {
      if (typeof options.url !== 'string')
        throw new InvalidArgumentError('url', 'give one of url, clusterUrls or client');
      const client = createClient({ url: options.url, socket, disableOfflineQueue: true });
      client.on('error', onError);
      this.sharded = false;
      this.oneClient = false;
      this.usersCluster = false;
      this.subscriber = client;
      this.publisher = new Connection({ ...connection, url: options.url });
      this.closeOwned = () => closeClient(client, this.timeoutMs);
    }
  }

  async publish(sessionId: string, message: JsonValue): Promise<void> {
    assertSessionId(sessionId);
    const text = encodeJson(message);
    if (this.closed) throw busClosed(this.name);
    const channel = this.channel(sessionId);
    // One cluster object for both: connect it once, for publisher and subscriber alike.
    if (this.oneClient)
      await this.ready().catch((error: unknown) => Promise.reject(wrapError(error, 'connect')));
    await this.publisher.command(channel, [this.sharded ? 'SPUBLISH' : 'PUBLISH', channel, text]);
  }

  async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    assertSessionId(sessionId);
    assertListener(listener);
    if (this.closed) throw busClosed(this.name);
    return this.listeners.subscribe(sessionId, listener, this.backend);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sessions = this.listeners.clear();
    // A user's cluster stays open: take our subscriptions off it.
    if (this.usersCluster) {
      await Promise.allSettled(sessions.map((id) => this.unsubscribeChannel(this.channel(id))));
    }
    this.channels.clear();
    await this.publisher.close();
    await this.closeOwned();
  }

  // --- Internal helpers ---

  /** `{<prefix>s<n>}:bus:<base64url(id)>`: the store's hash tag for the session, any id safe. */
  private channel(sessionId: string): string {
    return this.keys.busChannel(sessionId);
  }

  private async backendSubscribe(sessionId: string): Promise<void> {
    const channel = this.channel(sessionId);
    this.channels.set(channel, sessionId);
    await this.ready();
    const subscribe = this.sharded
      ? this.subscriber.sSubscribe(channel, this.onMessage)
      : this.subscriber.subscribe(channel, this.onMessage);
    await bounded(Promise.resolve(subscribe), this.timeoutMs, 'redis subscribe');
  }

  /** The session lost its last listener (and got no new one meanwhile). */
  private async backendUnsubscribe(sessionId: string): Promise<void> {
    const channel = this.channel(sessionId);
    this.channels.delete(channel);
    if (this.closed) return;
    try {
      await bounded(this.unsubscribeChannel(channel), this.timeoutMs, 'redis unsubscribe');
    } catch (error) {
      // Nothing reaches a listener any more (the channel left the map); the server-side
      // subscription goes with the next reconnect or close.
      this.logger.warn('redis bus: unsubscribe failed', { session: sessionTag(sessionId), error });
    }
  }

  private unsubscribeChannel(channel: string): Promise<void> {
    return Promise.resolve(
      this.sharded
        ? this.subscriber.sUnsubscribe(channel, this.onMessage)
        : this.subscriber.unsubscribe(channel, this.onMessage),
    ).then(() => undefined);
  }

  /** Connects the subscriber on first use; while it is reconnecting, fails at once. */
  private async ready(): Promise<void> {
    const s = this.subscriber;
    if (!this.connecting) {
      // Kept once it succeeds: a cluster is "open" while it still loads its slots, so every
      // caller waits for this one promise; reconnects after that are the client's business.
      const connecting = s.isOpen ? Promise.resolve() : s.connect();
      this.connecting = connecting;
      connecting.catch(() => {
        if (this.connecting === connecting) this.connecting = undefined;
      });
    }
    await bounded(this.connecting, this.connectTimeoutMs, 'redis connect');
    if (s.isReady === false) {
      throw new StoreUnavailableError('redis bus: the subscriber connection is down (reconnecting)');
    }
  }
}

// --- Internal helpers ---

/** Strings unless the user's client maps replies to Buffers. */
type MessageHandler = (message: string | Buffer, channel: string | Buffer) => void;

/** What the bus needs of a subscribing client (standalone or cluster, ours or a user's). */
interface Subscriber {
  readonly isOpen: boolean;
  readonly isReady?: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: MessageHandler): Promise<unknown> | undefined;
  unsubscribe(channel: string, listener: MessageHandler): Promise<unknown> | undefined;
  sSubscribe(channel: string, listener: MessageHandler): Promise<unknown> | undefined;
  sUnsubscribe(channel: string, listener: MessageHandler): Promise<unknown> | undefined;
}

interface Duplicable {
  duplicate(overrides: { disableOfflineQueue: boolean }): Subscriber & {
    on(event: 'error', listener: (error: unknown) => void): unknown;
    close(): Promise<void>;
    destroy(): unknown;
  };
}

function isClusterClient(client: AnyRedisClient): client is AnyRedisClient & Subscriber {
  return typeof (client as { getSlotMaster?: unknown }).getSlotMaster === 'function';
}

function hasDuplicate(client: AnyRedisClient): client is AnyRedisClient & Duplicable {
  return typeof (client as { duplicate?: unknown }).duplicate === 'function';
}

function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Graceful close; when the server is gone or slow, drop the sockets instead of waiting. */
async function closeClient(
  client: { isOpen: boolean; close(): Promise<void>; destroy(): unknown },
  ms: number,
) {
  if (!client.isOpen) return;
  try {
    await bounded(client.close(), ms, 'redis close');
  } catch {
    if (client.isOpen) await Promise.resolve(client.destroy()).catch(() => undefined);
  }
}
