/**
 * The live bus: moves messages between the instances serving one session (a client's answer to
 * the instance that asked, a cancellation to the instance running the request, a standalone
 * stream message to the instance holding the GET stream). It only moves messages; the durable
 * event log stays the record.
 */
import { InvalidArgumentError, StoreUnavailableError } from './errors';
import { assertSessionId, sessionTag } from './ids';
import { decodeJson, encodeJson, type JsonValue } from './json';
import { type LoggerLike, resolveLogger } from './logger';
import type { Logger } from './options';

/** `'process'`: subscribers in this process only; `'backend'`: every process connected to the same backend. */
export type BusReach = 'process' | 'backend';

/** Receives one message. Called asynchronously, never inside `publish`; each call gets its own copy. */
export type BusListener = (message: JsonValue) => void;

export interface BusSubscription {
  /** Stops delivery to this listener (nothing is delivered to it once this resolves). Idempotent. */
  unsubscribe(): Promise<void>;
}

/**
 * A per-session message path between processes, one per backend (Redis pub/sub, Postgres
 * LISTEN/NOTIFY, SQLite polling, in-process for memory and Keyv). Delivery is at most once and
 * not durable: a subscriber that is not live when a message is published never gets it.
 *
 * @example
 * ```ts
 * const bus = new MemorySessionBus();
 * const sub = await bus.subscribe(sessionId, (message) => deliver(message));
 * await bus.publish(sessionId, { jsonrpc: '2.0', method: 'notifications/progress' });
 * await sub.unsubscribe();
 * await bus.close();
 * ```
 */
export interface SessionBus {
  /** `'memory'`, `'sqlite'`, `'redis'`, `'postgres'`, `'keyv'`... */
  readonly name: string;
  /** Which subscribers a publish can reach. */
  readonly reach: BusReach;
  /**
   * Delivers `message` to every current subscriber of `sessionId`, this process included.
   * Resolves once the backend has taken it. `InvalidValueError` for a message that is not
   * plain JSON, `InvalidArgumentError` for a malformed id, `StoreUnavailableError` while the
   * backend is down or after `close()`.
   */
  publish(sessionId: string, message: JsonValue): Promise<void>;
  /**
   * Resolves once the subscription is live: everything published after that is delivered, in
   * the order the backend serialised it per session (one publisher's messages in its publish
   * order), each message once, to this listener only for this session. A listener that throws
   * is reported to the bus's logger and does not stop delivery to others.
   */
  subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription>;
  /** Ends subscriptions, releases what the bus opened (not a client or pool the user passed in). */
  close(): Promise<void>;
}

/** What a backend bus does when a session gets its first listener or loses its last. */
export interface BackendSubscriptions {
  /** Subscribes the session on the backend. */
  open(sessionId: string): Promise<void>;
  /** Unsubscribes it; reports its own failures (nothing reaches a listener any more either way). */
  close(sessionId: string): Promise<void>;
  /** What `subscribe` throws when `open` failed. */
  fail(error: unknown): Error;
}

/**
 * The local half every bus shares: listeners by session, the order they were added in, and
 * delivery of one received message to each of them with errors contained. A backend bus keeps
 * one of these and subscribes through it (`subscribe`), which opens the session on the backend
 * for its first listener and closes it after its last.
 */
export class BusListeners {
  private readonly sessions = new Map<string, Set<BusListenerEntry>>();
  /** Per session, the backend open/close in flight: they run one at a time, in order. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly busName: string,
    private readonly logger: Logger,
  ) {}

  /** Sessions with at least one listener. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions with at least one listener, in the order they got their first. */
  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Adds a listener; `first` says the session had none (the bus must subscribe on the backend). */
  add(sessionId: string, listener: BusListener, after = 0): { entry: BusListenerEntry; first: boolean } {
    let set = this.sessions.get(sessionId);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      this.sessions.set(sessionId, set);
    }
    const entry: BusListenerEntry = { listener, active: true, after };
    set.add(entry);
    return { entry, first };
  }

  /** Removes a listener; true when it was the session's last one (the bus may unsubscribe). */
  remove(sessionId: string, entry: BusListenerEntry): boolean {
    entry.active = false;
    const set = this.sessions.get(sessionId);
    if (!set?.delete(entry)) return false;
    if (set.size > 0) return false;
    this.sessions.delete(sessionId);
    return true;
  }

  /**
   * Adds `listener` and resolves once its session is subscribed on the backend (opened for the
   * session's first listener; later ones wait for that). Unsubscribing the last listener closes it,
   * unless a new one came meanwhile.
   */
  async subscribe(
    sessionId: string,
    listener: BusListener,
    backend: BackendSubscriptions,
  ): Promise<BusSubscription> {
    const { entry, first } = this.add(sessionId, listener);
    const release = async () => {
      if (!this.remove(sessionId, entry)) return;
      await this.serial(sessionId, async () => {
        if (!this.has(sessionId)) await backend.close(sessionId);
      });
    };
    try {
      if (first) await this.serial(sessionId, () => backend.open(sessionId));
      else await this.pending.get(sessionId);
    } catch (error) {
      await release();
      throw backend.fail(error);
    }
    return { unsubscribe: release };
  }

  /** Removes every listener; returns the sessions that had some. */
  clear(): string[] {
    const ids = [...this.sessions.keys()];
    for (const set of this.sessions.values()) for (const entry of set) entry.active = false;
    this.sessions.clear();
    return ids;
  }

  /** Runs `work` after the session's previous backend open/close, keeping their order. */
  private serial(sessionId: string, work: () => Promise<void>): Promise<void> {
    const next = (this.pending.get(sessionId) ?? Promise.resolve()).catch(() => undefined).then(work);
    this.pending.set(sessionId, next);
    const forget = () => {
      if (this.pending.get(sessionId) === next) this.pending.delete(sessionId);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * Hands `text` (JSON written by `encodeJson`) to the session's current listeners, each its own
   * parsed copy. `position` (an increasing backend id) skips listeners added at or after it.
   */
  deliver(sessionId: string, text: string, position?: number): void {
    const set = this.sessions.get(sessionId);
    if (!set) return;
    for (const entry of [...set]) {
      if (!entry.active || (position !== undefined && position <= entry.after)) continue;
      let message: JsonValue;
      try {
        message = decodeJson(text);
      } catch (error) {
        this.logger.error('session bus: undecodable message dropped', {
          bus: this.busName,
          session: sessionTag(sessionId),
          error,
        });
        return;
      }
      try {
        entry.listener(message);
      } catch (error) {
        this.logger.error('session bus listener threw', {
          bus: this.busName,
          session: sessionTag(sessionId),
          error,
        });
      }
    }
  }
}

/** One listener of a `BusListeners`; `after` is the backend position it was added at. */
export interface BusListenerEntry {
  readonly listener: BusListener;
  active: boolean;
  readonly after: number;
}

export interface InProcessSessionBusOptions {
  /** Shown as `bus.name`. Default `'memory'`. */
  name?: string;
  /** Told about listeners that throw (error). Default: stderr (`resolveLogger`); `false` silences. */
  logger?: LoggerLike | false;
}

/**
 * A bus that reaches subscribers of the same bus object in this process only (reach
 * `'process'`): what the memory and Keyv stores offer. Delivery is a microtask after `publish`.
 */
export class InProcessSessionBus implements SessionBus {
  readonly name: string;
  readonly reach: BusReach = 'process';
  private readonly listeners: BusListeners;
  private closed = false;
  /** Counts publishes, so a listener never gets a message published before it subscribed. */
  private position = 0;

  constructor(options: InProcessSessionBusOptions = {}) {
    this.name = options.name ?? 'memory';
    this.listeners = new BusListeners(this.name, resolveLogger(options.logger));
  }

  async publish(sessionId: string, message: JsonValue): Promise<void> {
    assertSessionId(sessionId);
    const text = encodeJson(message);
    if (this.closed) throw busClosed(this.name);
    const position = ++this.position;
    queueMicrotask(() => this.listeners.deliver(sessionId, text, position));
  }

  async subscribe(sessionId: string, listener: BusListener): Promise<BusSubscription> {
    assertSessionId(sessionId);
    assertListener(listener);
    if (this.closed) throw busClosed(this.name);
    const { entry } = this.listeners.add(sessionId, listener, this.position);
    return { unsubscribe: async () => void this.listeners.remove(sessionId, entry) };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}

/** What `publish`/`subscribe` reject with once a bus is closed. */
export function busClosed(name: string): StoreUnavailableError {
  return new StoreUnavailableError(`${name} session bus is closed`);
}

/** `subscribe` takes a function; anything else is `InvalidArgumentError` before any I/O. */
export function assertListener(listener: unknown): asserts listener is BusListener {
  if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'must be a function');
}
