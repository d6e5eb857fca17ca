/**
 * The session's event store as the transport sees it: stores nothing while the initialize replay
 * runs, notes which request streams run here (until their response is stored), counts what each
 * resume replayed, notes store failures, gives a relayed standalone message the id it was
 * stored with on the instance that sent it, and never lets a request's message be lost to a store
 * failure: it goes to the open stream unstored and is written when the store is back.
 * One per live session; what it notes is read by its `LiveSession` only.
 */
import type { Logger } from '../options';
import type { SessionEventStore } from './event-store';
import type { StandaloneEvents } from './link';
import { isPrimingEvent, STANDALONE_STREAM_ID, UNSTORED_EVENT_ID } from './sdk-assumptions';
import { SmallMap } from './small-map';
import { UnstoredEvents } from './unstored-events';
import type { TransportEventStore, WireMessage } from './wire';

/** Events replayed for one Last-Event-ID: how many, and the last one's id. */
export interface Replayed {
  count: number;
  lastId: string | undefined;
}

export class ObservedEventStore implements TransportEventStore, StandaloneEvents {
  /** Set by the session's link while it writes a stored message to the GET stream. */
  relaying: string | undefined = undefined;
  private muted = false;
  /** Request streams whose request runs in this process and has not been answered yet. */
  private readonly running = new SmallMap<string, true>();
  /** Events replayed per Last-Event-ID, read back once the replay returned (made at the first resume). */
  private replayed: Map<string, Replayed> | undefined;
  /** Store failures inside the transport (which answers them with a 400 that leaks the message). */
  private failures = 0;
  private lastFailure: unknown;
  /**
   * Request-stream messages the event log refused, sent unstored and written when it is back.
   * Made at the first refusal: most sessions never meet one.
   */
  private unstored: UnstoredEvents | undefined;

  constructor(
    private readonly store: SessionEventStore,
    private readonly sessionId: string,
    private readonly logger: Logger,
  ) {}

  /** While the initialize replay runs: nothing it sends is stored. */
  mute(muted: boolean): void {
    this.muted = muted;
  }

  /** Whether the request of this stream runs in this process and has not been answered yet. */
  runsHere(streamId: string): boolean {
    return this.running.has(streamId);
  }

  /** What the replay for `lastEventId` sent, forgotten once read. */
  takeReplayed(lastEventId: string): Replayed | undefined {
    const replayed = this.replayed?.get(lastEventId);
    this.replayed?.delete(lastEventId);
    return replayed;
  }

  /** How many store failures the transport has met so far. */
  get storeFailures(): number {
    return this.failures;
  }

  /** The last of them. */
  get lastStoreFailure(): unknown {
    return this.lastFailure;
  }

  /** Writes this stream's messages the log refused, if any (rejects while the store is still down). */
  async flushUnstored(streamId: string): Promise<void> {
    if (this.unstored?.holds(streamId)) await this.unstored.flush();
  }

  async storeEvent(streamId: string, message: WireMessage): Promise<string> {
    if (this.muted) return MUTED_EVENT_ID;
    if (streamId === STANDALONE_STREAM_ID) {
      // A message the link stored already, now written to the GET stream under its id.
      if (this.relaying !== undefined) return this.relaying;
      return this.observed(this.store.storeEvent(streamId, message));
    }
    if ('id' in message && ('result' in message || 'error' in message)) this.running.delete(streamId);
    else this.running.set(streamId, true);
    // A failed priming fails the request before it runs: the handler answers 503.
    if (isPrimingEvent(message)) return this.observed(this.store.storeEvent(streamId, message));
    // A throw here would make the transport drop the message and leave the stream open forever.
    if (this.unstored !== undefined && this.unstored.size > 0) {
      // Behind messages still waiting for the store: kept in order, without a driver timeout each.
      this.unstored.add(streamId, message);
      return UNSTORED_EVENT_ID;
    }
    try {
      return await this.store.storeEvent(streamId, message);
    } catch (error) {
      this.unstored ??= new UnstoredEvents(this.store, { sessionId: this.sessionId, logger: this.logger });
      this.unstored.add(streamId, message, error);
      return UNSTORED_EVENT_ID;
    }
  }

  replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: WireMessage) => Promise<void> },
  ): Promise<string> {
    const seen: Replayed = { count: 0, lastId: undefined };
    this.replayed ??= new Map();
    this.replayed.set(lastEventId, seen);
    return this.observed(
      this.store.replayEventsAfter(lastEventId, {
        send: (eventId, message) => {
          seen.count++;
          seen.lastId = eventId;
          return send(eventId, message);
        },
      }),
    );
  }

  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.store.getStreamIdForEventId?.(eventId) ?? Promise.resolve(undefined);
  }

  // --- Internal helpers ---

  /** The store's promise, a failure noted before it is passed on. */
  private async observed<T>(stored: Promise<T>): Promise<T> {
    try {
      return await stored;
    } catch (error) {
      this.failures++;
      this.lastFailure = error;
      throw error;
    }
  }
}

/** The id of what the initialize replay sends: its response is discarded, never seen by a client. */
const MUTED_EVENT_ID = '0.muted.mcp-sessions:replayed-initialize';
