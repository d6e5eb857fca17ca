/**
 * Facet 3, the event log (MCP resumability): the counter is the session row's `event_seq` or the
 * newest event's seq, whichever is larger (see sql.ts `schema`), so an append writes no session row.
 */
import { SessionNotFoundError } from '@mcp-sessions/core';
import {
  type AppendEvent,
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  type ReadEventsQuery,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import type { Row, SqliteContext, Statements } from './connection';

export class SqliteEventLog {
  private readonly stmt: Statements;

  constructor(private readonly ctx: SqliteContext) {
    this.stmt = ctx.stmt;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const json = encodeJson(event.message);
    const row = this.ctx.run(
      'appendEvent',
      () =>
        this.stmt.appendEvent.get(
          event.streamId,
          jsonByteLength(json),
          json,
          event.createdAt,
          event.sessionId,
        ) as Row | undefined,
    );
    if (!row) throw new SessionNotFoundError(event.sessionId);
    return row.seq as number;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const limit = query.limit ?? -1;
    const rows = this.ctx.run('readEvents', () =>
      query.streamId === undefined
        ? (this.stmt.readEvents.all(query.sessionId, query.afterSeq, limit) as Row[])
        : (this.stmt.readStreamEvents.all(query.sessionId, query.afterSeq, query.streamId, limit) as Row[]),
    );
    return rows.map((row) => ({
      sessionId: query.sessionId,
      streamId: row.stream_id as string,
      seq: row.seq as number,
      message: decodeJson(row.message as string),
      createdAt: row.created_at as number,
    }));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    const row = this.ctx.run(
      'getEventStream',
      () => this.stmt.getEventStream.get(sessionId, seq) as Row | undefined,
    );
    return row?.stream_id as string | undefined;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    return this.ctx.run('trimEvents', () =>
      this.ctx.immediate(() => {
        this.stmt.keepEventSeq.run(query.sessionId, query.sessionId);
        let deleted = 0;
        if (query.createdBefore !== undefined) {
          deleted += this.stmt.trimByAge.run(query.sessionId, query.createdBefore).changes;
        }
        if (query.maxEvents !== undefined) {
          const keep = Math.max(0, Math.floor(query.maxEvents));
          deleted += this.stmt.trimByCount.run(query.sessionId, query.sessionId, keep).changes;
        }
        if (query.maxBytes !== undefined) {
          deleted += this.stmt.trimByBytes.run(query.sessionId, query.sessionId, query.maxBytes).changes;
        }
        return deleted;
      }),
    );
  }
}
