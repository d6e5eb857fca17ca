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
import { array, corrupt, integer, num, type RedisContext, text } from './connection';
import { decodeName, encodeName, type KeySpace } from './keys';
import * as lua from './scripts';

/** Events read per round trip by `readEvents`. */
const READ_EVENTS_CHUNK = 500;

/**
 * The event log: a sorted set per session scored by seq (members `seq:createdAt:stream:json`),
 * the byte total of its messages beside it, and the seq counter in the record hash.
 */
export class RedisEventLog {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: RedisContext) {
    this.keys = ctx.keys;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const message = encodeJson(event.message);
    const seq = await this.ctx.run(
      lua.APPEND_EVENT,
      [
        this.keys.record(event.sessionId),
        this.keys.events(event.sessionId),
        this.keys.eventBytes(event.sessionId),
      ],
      [String(event.createdAt), encodeName(event.streamId), message, String(jsonByteLength(message))],
    );
    if (typeof seq !== 'number' || seq <= 0) throw new SessionNotFoundError(event.sessionId);
    return seq;
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const key = this.keys.events(query.sessionId);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const chunk = query.streamId === undefined && limit < READ_EVENTS_CHUNK ? limit : READ_EVENTS_CHUNK;
    const out: EventEntry[] = [];
    let after = query.afterSeq;
    while (out.length < limit) {
      const members = array(
        await this.ctx.connection.command(key, [
          'ZRANGE',
          key,
          `(${after}`,
          '+inf',
          'BYSCORE',
          'LIMIT',
          '0',
          String(chunk),
        ]),
      ).map(text);
      for (const member of members) {
        const event = parseEvent(query.sessionId, member);
        after = event.seq;
        if (query.streamId !== undefined && event.streamId !== query.streamId) continue;
        out.push(event);
        if (out.length >= limit) break;
      }
      if (members.length < chunk) break;
    }
    return out;
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    const key = this.keys.events(sessionId);
    const [member] = array(
      await this.ctx.connection.command(key, ['ZRANGE', key, String(seq), String(seq), 'BYSCORE']),
    );
    return member === undefined ? undefined : parseEvent(sessionId, text(member)).streamId;
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    const { maxEvents, createdBefore, maxBytes } = query;
    if (maxEvents === undefined && createdBefore === undefined && maxBytes === undefined) return 0;
    const removed = await this.ctx.run(
      lua.TRIM_EVENTS,
      [this.keys.events(query.sessionId), this.keys.eventBytes(query.sessionId)],
      [
        maxEvents === undefined ? '' : String(Math.max(0, maxEvents)),
        createdBefore === undefined ? '' : String(createdBefore),
        maxBytes === undefined ? '' : String(maxBytes),
      ],
    );
    return integer(removed);
  }
}

// --- Internal helpers ---

/** `seq:createdAt:base64url(streamId):json` */
function parseEvent(sessionId: string, member: string): EventEntry {
  const a = member.indexOf(':');
  const b = member.indexOf(':', a + 1);
  const c = member.indexOf(':', b + 1);
  if (a < 0 || b < 0 || c < 0) throw corrupt('event');
  return {
    sessionId,
    seq: num(member.slice(0, a)),
    createdAt: num(member.slice(a + 1, b)),
    streamId: decodeName(member.slice(b + 1, c)),
    message: decodeJson(member.slice(c + 1)),
  };
}
