import {
  type AppendEvent,
  type EventEntry,
  encodeJson,
  type ReadEventsQuery,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import { copy, type JsonFileContext } from './connection';

/**
 * The event log: each session's events in seq order, and its counter kept apart from them (see
 * `lastSeq`), so no seq is handed out twice while the record exists.
 */
export class JsonFileEventLog {
  constructor(private readonly ctx: JsonFileContext) {}

  async appendEvent(event: AppendEvent): Promise<number> {
    this.ctx.open();
    encodeJson(event.message); // as in setState
    this.ctx.assertLive(event.sessionId);
    const seq = (this.ctx.lastSeq.get(event.sessionId) ?? 0) + 1;
    this.ctx.commit([['event', { ...event, seq }]]);
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    this.ctx.open();
    const { streamId } = query;
    // The stream filter applies first: `limit` counts the events returned, not the events passed over.
    return (this.ctx.events.get(query.sessionId) ?? [])
      .filter(
        (e) => e.entry.seq > query.afterSeq && (streamId === undefined || e.entry.streamId === streamId),
      )
      .slice(0, query.limit ?? Number.POSITIVE_INFINITY)
      .map((e) => copy(e.entry));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    this.ctx.open();
    return this.ctx.events.get(sessionId)?.find((e) => e.entry.seq === seq)?.entry.streamId;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    this.ctx.open();
    const log = this.ctx.events.get(query.sessionId) ?? [];
    const { maxEvents, createdBefore, maxBytes } = query;
    const drop = new Set<number>();
    if (maxEvents !== undefined) {
      for (const e of log.slice(0, Math.max(0, log.length - maxEvents))) drop.add(e.entry.seq);
    }
    if (createdBefore !== undefined) {
      for (const e of log) if (e.entry.createdAt < createdBefore) drop.add(e.entry.seq);
    }
    if (maxBytes !== undefined) {
      // Keep the newest events that fit the budget together; the first that does not fit, and
      // every older one, goes (even the newest, when it alone is over the budget).
      let kept = 0;
      let over = false;
      for (let i = log.length - 1; i >= 0; i--) {
        const e = log[i]!;
        over ||= kept + e.size > maxBytes;
        if (over) drop.add(e.entry.seq);
        else kept += e.size;
      }
    }
    if (drop.size > 0) this.ctx.commit([['unevents', query.sessionId, [...drop]]]);
    return drop.size;
  }
}
