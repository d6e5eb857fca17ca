/** Facet 3, the event log (MCP resumability): the per-session counter lives on the session row. */
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
import { assertNoNul, hasNul, int, type PostgresContext, text } from './connection';
import type { Statements } from './sql';

export class PostgresEventLog {
  private readonly sql: Statements;

  constructor(private readonly ctx: PostgresContext) {
    this.sql = ctx.sql;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const json = encodeJson(event.message);
    assertNoNul('streamId', event.streamId);
    if (hasNul(event.sessionId)) throw new SessionNotFoundError(event.sessionId);
    const { rows } = await this.ctx.query('appendEvent', this.sql.appendEvent, [
      event.sessionId,
      event.streamId,
      json,
      event.createdAt,
      jsonByteLength(json),
    ]);
    if (!rows[0]) throw new SessionNotFoundError(event.sessionId);
    return int(rows[0].seq);
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    if (hasNul(query.sessionId) || (query.streamId !== undefined && hasNul(query.streamId))) return [];
    // LIMIT NULL is no limit.
    const limit = query.limit ?? null;
    const { rows } =
      query.streamId === undefined
        ? await this.ctx.query('readEvents', this.sql.readEvents, [query.sessionId, query.afterSeq, limit])
        : await this.ctx.query('readEvents', this.sql.readStreamEvents, [
            query.sessionId,
            query.afterSeq,
            limit,
            query.streamId,
          ]);
    return rows.map((row) => ({
      sessionId: query.sessionId,
      streamId: text(row.stream_id),
      seq: int(row.seq),
      message: decodeJson(text(row.message)),
      createdAt: int(row.created_at),
    }));
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    if (hasNul(sessionId) || !Number.isSafeInteger(seq)) return undefined;
    const { rows } = await this.ctx.query('getEventStream', this.sql.getEventStream, [sessionId, seq]);
    return rows[0] && text(rows[0].stream_id);
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    if (hasNul(query.sessionId)) return 0;
    const { maxEvents, createdBefore, maxBytes } = query;
    let deleted = 0;
    if (maxEvents !== undefined || createdBefore !== undefined) {
      const result =
        maxEvents === undefined
          ? await this.ctx.query('trimEvents', this.sql.trimBefore, [query.sessionId, createdBefore])
          : createdBefore === undefined
            ? await this.ctx.query('trimEvents', this.sql.trimCount, [query.sessionId, maxEvents])
            : await this.ctx.query('trimEvents', this.sql.trimBoth, [
                query.sessionId,
                maxEvents,
                createdBefore,
              ]);
      deleted += result.rowCount ?? 0;
    }
    if (maxBytes !== undefined) {
      const result = await this.ctx.query('trimEvents', this.sql.trimBytes, [query.sessionId, maxBytes]);
      deleted += result.rowCount ?? 0;
    }
    return deleted;
  }
}
