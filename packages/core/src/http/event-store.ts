import { InvalidArgumentError, SessionNotFoundError } from '../errors';
import { assertSessionId, sessionTag } from '../ids';
import type { JsonValue } from '../json';
import { SessionManager } from '../manager';
import { assertKnownOptions, type Clock, positiveInteger, systemClock } from '../options';
import type { SessionStore } from '../store';
import { isPrimingEvent, STANDALONE_STREAM_ID } from './sdk-assumptions';
import type { TransportEventStore, WireMessage } from './wire';

/** The SDK's event and stream ids (plain strings in both SDK lines). */
type EventId = string;
type StreamId = string;
type JSONRPCMessage = WireMessage;

/** Newest events kept per session, by default. */
export const DEFAULT_EVENT_MAX_COUNT = 1000;
/** Events older than this are trimmed, by default (the default grace period: a client back within grace resumes). */
export const DEFAULT_EVENT_MAX_AGE_MS = 10 * 60 * 1000;
/** Encoded bytes of events kept per session, by default (oldest trimmed first). */
export const DEFAULT_EVENT_MAX_BYTES = 4 * 1024 * 1024;
/** Trim every this many appends of a session (trimming on every append doubles the write cost). */
export const DEFAULT_EVENT_TRIM_EVERY = 50;
/** Events read per `readEvents` round trip while replaying. */
const REPLAY_PAGE = 500;

export interface EventStoreOptions {
  /** Keep at most this many newest events per session. Default 1000. */
  maxEvents?: number;
  /** Trim events older than this. Default 10 minutes. */
  maxAgeMs?: number;
  /**
   * Keep at most this many bytes of events per session (their JSON, UTF-8), oldest trimmed first,
   * so large tool results cannot grow the log without bound. Default 4 MiB.
   */
  maxBytes?: number;
  /** Trim once every this many appends per session (1 = every append). Default 50. */
  trimEvery?: number;
  /** Stamps events and decides their age. Default: the system clock (pass the manager's in tests). */
  clock?: Clock;
}

/**
 * Durable, session-scoped resumability for the SDK's Streamable HTTP transport. One object per
 * process; `forSession(id)` gives the SDK `EventStore` of one session (the transport takes one
 * per session, and so cannot be handed another session's events).
 */
export interface SessionEventStores {
  forSession(sessionId: string): SessionEventStore;
}

/** The SDK's `EventStore` of one session (either SDK line's), `getStreamIdForEventId` included. */
export type SessionEventStore = TransportEventStore &
  Required<Pick<TransportEventStore, 'getStreamIdForEventId'>>;

/**
 * Event id: `<seq>.<stream>.<tag>`. `seq` is the session's log position (ordered, even within one
 * millisecond), `stream` the stream id in base64url (so `_GET_stream` or any other id round-trips;
 * no `split('_')`), `tag` 64 bits of SHA-256 over the session id: an id minted for session A is
 * refused by B's store (GHSA-84j6-jc92-77jm) without a store round trip, and the id does not
 * spell out the session id to a log reader.
 */
interface ParsedEventId {
  seq: number;
  streamId: string;
  tag: string;
}

/**
 * Creates the SDK `EventStore`s over a store's event log.
 *
 * @example
 * ```ts
 * const events = createEventStore(manager, { maxEvents: 500 });
 * const handler = createSessionHandler({ manager, createServer, eventStore: events });
 * ```
 */
export function createEventStore(
  source: SessionManager | SessionStore,
  options: EventStoreOptions = {},
): SessionEventStores {
  assertKnownOptions(options, EVENT_STORE_OPTIONS, 'createEventStore');
  const store = source instanceof SessionManager ? source.store : source;
  const clock = options.clock ?? systemClock;
  const maxBytes = positiveInteger('maxBytes', options.maxBytes, DEFAULT_EVENT_MAX_BYTES);
  const maxEvents = positiveInteger('maxEvents', options.maxEvents, DEFAULT_EVENT_MAX_COUNT);
  const maxAgeMs = positiveInteger('maxAgeMs', options.maxAgeMs, DEFAULT_EVENT_MAX_AGE_MS);
  const trimEvery = positiveInteger('trimEvery', options.trimEvery, DEFAULT_EVENT_TRIM_EVERY);

  const log: EventLog = { store, clock, maxEvents, maxAgeMs, maxBytes, trimEvery };
  return {
    forSession(sessionId: string): SessionEventStore {
      assertSessionId(sessionId);
      return new StoredSessionEvents(log, sessionId);
    },
  };
}

// --- Internal helpers ---

/** What every session's event store of one `createEventStore` shares. */
interface EventLog {
  store: SessionStore;
  clock: Clock;
  maxEvents: number;
  maxAgeMs: number;
  maxBytes: number;
  trimEvery: number;
}

/** One session's event store: a small object per held session, its methods shared. */
class StoredSessionEvents implements SessionEventStore {
  private readonly tag: string;
  private appends = 0;

  constructor(
    private readonly log: EventLog,
    private readonly sessionId: string,
  ) {
    this.tag = sessionTag(sessionId);
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    const { store, clock } = this.log;
    // A request's stream is new (a fresh id per request) and its priming event only marks where
    // it starts: every event later stored on it has a seq above 0, so replaying after `0`
    // replays the whole stream. A read where the append was: it fails as the append would
    // (the store is down, the session is gone) while the transport can still answer with an
    // error status, and writes nothing.
    if (isPrimingEvent(message) && streamId !== STANDALONE_STREAM_ID) {
      const record = await store.get(this.sessionId);
      if (!record || record.endedAt !== null) throw new SessionNotFoundError(this.sessionId);
      return formatEventId(0, streamId, this.tag);
    }
    const now = clock.now();
    const seq = await store.appendEvent({
      sessionId: this.sessionId,
      streamId,
      message: message as unknown as JsonValue,
      createdAt: now,
    });
    if (++this.appends % this.log.trimEvery === 0) {
      const { maxEvents, maxBytes, maxAgeMs } = this.log;
      await store.trimEvents({
        sessionId: this.sessionId,
        maxEvents,
        maxBytes,
        createdBefore: now - maxAgeMs,
      });
    }
    return formatEventId(seq, streamId, this.tag);
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.parse(eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const from = this.parse(lastEventId);
    // The transport answers a thrown error with an error response and replays nothing.
    if (!from) throw new InvalidArgumentError('Last-Event-ID', 'not an event of this session');
    let afterSeq = from.seq;
    for (;;) {
      const page = await this.log.store.readEvents({
        sessionId: this.sessionId,
        afterSeq,
        streamId: from.streamId,
        limit: REPLAY_PAGE,
      });
      for (const event of page) {
        afterSeq = event.seq;
        // Priming events ({}) only carry an id; the client already holds a later one.
        if (isPrimingEvent(event.message)) continue;
        await send(
          formatEventId(event.seq, from.streamId, this.tag),
          event.message as unknown as JSONRPCMessage,
        );
      }
      if (page.length < REPLAY_PAGE) return from.streamId;
    }
  }

  /** An event id minted for this session (its tag), parsed; undefined for any other. */
  private parse(eventId: EventId): ParsedEventId | undefined {
    const parsed = parseEventId(eventId);
    return parsed && parsed.tag === this.tag ? parsed : undefined;
  }
}

const EVENT_STORE_OPTIONS = Object.keys({
  maxEvents: true,
  maxAgeMs: true,
  maxBytes: true,
  trimEvery: true,
  clock: true,
} satisfies Record<keyof EventStoreOptions, true>);

function formatEventId(seq: number, streamId: string, tag: string): EventId {
  return `${seq}.${Buffer.from(streamId, 'utf8').toString('base64url')}.${tag}`;
}

/** `seq` 0: the start of a request's stream (its priming event, never stored). */
const EVENT_ID = /^(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{11})$/;

function parseEventId(eventId: string): ParsedEventId | undefined {
  const match = EVENT_ID.exec(eventId);
  if (!match) return undefined;
  const seq = Number(match[1]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { seq, streamId: Buffer.from(match[2]!, 'base64url').toString('utf8'), tag: match[3]! };
}
