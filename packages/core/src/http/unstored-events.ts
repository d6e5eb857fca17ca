/**
 * Request-stream messages the event log refused because the store was unavailable. The SDK
 * transport drops a message whose `storeEvent` throws and leaves its stream open, so a request
 * whose result could not be stored would never end. Instead the message is sent to the open stream
 * unstored (under `UNSTORED_EVENT_ID`: the client keeps the id of the last stored event) and kept
 * here, in order, until the store is back; then it is appended, so a resume from that id replays
 * it on any instance. Bounded: past `maxMessages` notifications go first, and after `giveUpAfterMs`
 * of failures what is left is dropped (the log would have trimmed it by then); each loss is logged.
 */
import { SessionNotFoundError, SessionNotLiveError, StoreUnavailableError } from '../errors';
import { sessionTag } from '../ids';
import { type Clock, type Logger, systemClock } from '../options';
import type { TransportEventStore, WireMessage } from './wire';

/** Unstored messages kept per session, by default (the event log's own default count). */
export const DEFAULT_UNSTORED_MAX_MESSAGES = 1000;
/** First retry after a failed write, then doubled up to `UNSTORED_RETRY_MAX_MS`. */
export const UNSTORED_RETRY_FIRST_MS = 100;
/** Longest wait between retries while the store stays unavailable. */
export const UNSTORED_RETRY_MAX_MS = 5000;
/** Retrying stops after this long (the event log's default age limit: older events are trimmed anyway). */
export const DEFAULT_UNSTORED_GIVE_UP_MS = 10 * 60 * 1000;

export interface UnstoredEventsOptions {
  sessionId: string;
  logger: Logger;
  /** Default `DEFAULT_UNSTORED_MAX_MESSAGES`. */
  maxMessages?: number;
  /** Default `DEFAULT_UNSTORED_GIVE_UP_MS`, counted from the first failure of an outage. */
  giveUpAfterMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

interface Unstored {
  streamId: string;
  message: WireMessage;
}

export class UnstoredEvents {
  private readonly queue: Unstored[] = [];
  private readonly session: string;
  private readonly maxMessages: number;
  private readonly giveUpAfterMs: number;
  private readonly clock: Clock;
  /** When the queue last went from empty to not empty. */
  private since = 0;
  private delayMs = UNSTORED_RETRY_FIRST_MS;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private draining: Promise<void> | undefined;
  /** Messages lost to the bound since the queue was last empty. */
  private dropped = 0;

  constructor(
    private readonly store: TransportEventStore,
    private readonly options: UnstoredEventsOptions,
  ) {
    this.session = sessionTag(options.sessionId);
    this.maxMessages = options.maxMessages ?? DEFAULT_UNSTORED_MAX_MESSAGES;
    this.giveUpAfterMs = options.giveUpAfterMs ?? DEFAULT_UNSTORED_GIVE_UP_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** Messages waiting for the store: later ones must wait behind them, to stay in order. */
  get size(): number {
    return this.queue.length;
  }

  /** Whether a message of this stream waits for the store (its answer may be among them). */
  holds(streamId: string): boolean {
    return this.queue.some((u) => u.streamId === streamId);
  }

  /**
   * Keeps a message whose write failed with `error` (undefined: queued behind others, not tried),
   * and makes sure a retry is scheduled. A failure that retrying cannot mend is logged, not kept.
   */
  add(streamId: string, message: WireMessage, error?: unknown): void {
    if (error !== undefined && !(error instanceof StoreUnavailableError)) {
      this.lost(message, error);
      return;
    }
    if (this.queue.length === 0) {
      this.since = this.clock.now();
      this.options.logger.error(
        'event log unavailable: request messages go to the open stream unstored and are written when it is back',
        { session: this.session, error },
      );
    }
    this.queue.push({ streamId, message });
    if (this.queue.length > this.maxMessages) this.drop();
    this.schedule();
  }

  /** Writes every kept message, in order; rejects (and retries later) while the store is unavailable. */
  flush(): Promise<void> {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  // --- Internal helpers ---

  private async drain(): Promise<void> {
    let written = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      try {
        await this.store.storeEvent(next.streamId, next.message);
      } catch (error) {
        if (error instanceof StoreUnavailableError) {
          if (this.clock.now() - this.since >= this.giveUpAfterMs) {
            this.giveUp(error);
            return;
          }
          this.options.logger.debug('unstored messages: store still unavailable', {
            session: this.session,
            waiting: this.queue.length,
          });
          this.schedule();
          throw error;
        }
        this.lost(next.message, error);
      }
      // Shifted only once written: a message added meanwhile sees a non-empty queue and waits behind it.
      if (this.queue[0] === next) this.queue.shift();
      written++;
    }
    this.delayMs = UNSTORED_RETRY_FIRST_MS;
    if (written === 0) return;
    this.options.logger.info('event log back: unstored request messages written', {
      session: this.session,
      written,
      dropped: this.dropped,
    });
    this.dropped = 0;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, UNSTORED_RETRY_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failure reschedules itself inside `drain` and was logged there.
      this.flush().catch(() => undefined);
    }, delay);
    this.timer.unref?.();
  }

  /** Over the bound: the oldest notification goes (answers are kept longest), else the oldest message. */
  private drop(): void {
    const at = this.queue.findIndex((u) => !isResponse(u.message));
    const [gone] = this.queue.splice(at === -1 ? 0 : at, 1);
    if (this.dropped++ === 0) {
      this.options.logger.error('unstored request messages over the bound: the oldest are dropped', {
        session: this.session,
        maxMessages: this.maxMessages,
        method: gone?.message.method,
      });
    }
  }

  /** Retried for too long: what is left is dropped; the store's outage outlasted the log's memory. */
  private giveUp(error: StoreUnavailableError): void {
    this.options.logger.error('event log unavailable for too long: unstored request messages dropped', {
      session: this.session,
      dropped: this.dropped + this.queue.length,
      giveUpAfterMs: this.giveUpAfterMs,
      error,
    });
    this.queue.length = 0;
    this.dropped = 0;
    this.delayMs = UNSTORED_RETRY_FIRST_MS;
  }

  /** A message the log will never hold: a resume cannot replay it (it went to the open stream). */
  private lost(message: WireMessage, error: unknown): void {
    const gone = error instanceof SessionNotFoundError || error instanceof SessionNotLiveError;
    this.options.logger[gone ? 'warn' : 'error']('request message not stored in the event log', {
      session: this.session,
      method: message.method,
      response: isResponse(message),
      error,
    });
  }
}

function isResponse(message: WireMessage): boolean {
  return message.method === undefined && ('result' in message || 'error' in message);
}
