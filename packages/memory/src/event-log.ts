/** Facet 3, the event log (MCP resumability): each session's events in `seq` order, with their counter. */
import {
  type AppendEvent,
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  type ReadEventsQuery,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import type { MemoryContext, Session, StoredEvent } from './connection';

export class MemoryEventLog {
  private readonly sessions: Map<string, Session>;

  constructor(private readonly ctx: MemoryContext) {
    this.sessions = ctx.sessions;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    this.ctx.assertOpen();
    const json = encodeJson(event.message);
    const session = this.ctx.liveSession(event.sessionId);
    const seq = ++session.lastSeq;
    const size = jsonByteLength(json);
    session.events.push({ streamId: event.streamId, seq, json, size, createdAt: event.createdAt });
    session.eventBytes += size;
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    this.ctx.assertOpen();
    const events = this.sessions.get(query.sessionId)?.events ?? [];
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const out: EventEntry[] = [];
    // The stream filter applies first: `limit` counts the events returned.
    for (let i = firstAfter(events, query.afterSeq); i < events.length && out.length < limit; i++) {
      const { streamId, seq, json, createdAt } = events[i]!;
      if (query.streamId !== undefined && streamId !== query.streamId) continue;
      out.push({ sessionId: query.sessionId, streamId, seq, message: decodeJson(json), createdAt });
    }
    return out;
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    this.ctx.assertOpen();
    const events = this.sessions.get(sessionId)?.events ?? [];
    const event = events[firstAfter(events, seq - 1)];
    return event?.seq === seq ? event.streamId : undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    this.ctx.assertOpen();
    const session = this.sessions.get(query.sessionId);
    if (session === undefined) return 0;
    const { events } = session;
    // Events go oldest first: count how many each bound excludes and drop the most.
    let drop = 0;
    if (query.createdBefore !== undefined) {
      while (drop < events.length && events[drop]!.createdAt < query.createdBefore) drop++;
    }
    if (query.maxEvents !== undefined) drop = Math.max(drop, events.length - query.maxEvents);
    let bytes = session.eventBytes;
    for (let i = 0; i < drop; i++) bytes -= events[i]!.size;
    if (query.maxBytes !== undefined) {
      while (bytes > query.maxBytes && drop < events.length) bytes -= events[drop++]!.size;
    }
    session.events = events.slice(drop);
    session.eventBytes = bytes;
    return drop;
  }
}

// --- Internal helpers ---

/** Index of the first event with `seq > after` (events are in `seq` order). */
function firstAfter(events: readonly StoredEvent[], after: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
