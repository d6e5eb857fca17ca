import {
  type AppendEvent,
  decodeJson,
  type EventEntry,
  encodeJson,
  jsonByteLength,
  type ReadEventsQuery,
  type TrimEventsQuery,
} from '@mcp-sessions/core/adapter';
import {
  CHUNK,
  encodeManifest,
  isNumber,
  type KeyvContext,
  type Op,
  parse,
  parseManifest,
  range,
} from './connection';
import type { KeySpace } from './keys';

interface StoredEvent {
  s: string;
  c: number;
  /** The message as `encodeJson` text. */
  m: string;
}

/**
 * The event log: a value per event keyed by its seq, and the counter, the lowest stored seq and
 * the byte total in the session manifest.
 */
export class KeyvEventLog {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: KeyvContext) {
    this.keys = ctx.keys;
  }

  async appendEvent(event: AppendEvent): Promise<number> {
    const stored: StoredEvent = { s: event.streamId, c: event.createdAt, m: encodeJson(event.message) };
    const { sessionId } = event;
    return this.ctx.run('appendEvent', (op) =>
      this.ctx.sessions.with([sessionId], async () => {
        const manifest = await this.ctx.liveManifest(op, sessionId);
        manifest.bytes += jsonByteLength(stored.m);
        const seq = ++manifest.seq;
        // The counter is saved before the event: a crash in between leaves a gap, never a reused seq.
        await this.ctx.setOne(op, this.keys.manifest(sessionId), encodeManifest(manifest));
        await this.ctx.setOne(op, this.keys.event(sessionId, seq), JSON.stringify(stored));
        return seq;
      }),
    );
  }

  async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    return this.ctx.run('readEvents', async (op) => {
      const { sessionId, streamId } = query;
      const manifest = parseManifest(sessionId, await this.ctx.getOne(op, this.keys.manifest(sessionId)));
      const limit = query.limit ?? Number.POSITIVE_INFINITY;
      const out: EventEntry[] = [];
      const from = Math.max(Math.floor(query.afterSeq) + 1, manifest.lo);
      for await (const chunk of this.events(op, sessionId, from, manifest.seq, () => out.length < limit)) {
        for (const { seq, event: e } of chunk) {
          if (e === undefined || (streamId !== undefined && e.s !== streamId)) continue;
          out.push({ sessionId, streamId: e.s, seq, message: decodeJson(e.m), createdAt: e.c });
          if (out.length >= limit) break;
        }
      }
      return out;
    });
  }

  async getEventStream(sessionId: string, seq: number): Promise<string | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
    return this.ctx.run('getEventStream', async (op) => {
      const key = this.keys.event(sessionId, seq);
      const text = await this.ctx.getOne(op, key);
      return text === undefined ? undefined : parseEvent(key, text).s;
    });
  }

  async trimEvents(query: TrimEventsQuery): Promise<number> {
    const { sessionId, maxEvents, createdBefore, maxBytes } = query;
    return this.ctx.run('trimEvents', (op) =>
      this.ctx.sessions.with([sessionId], async () => {
        const text = await this.ctx.getOne(op, this.keys.manifest(sessionId));
        if (text === undefined) return 0;
        const manifest = parseManifest(sessionId, text);
        const { lo, seq: last } = manifest;
        let cut = lo; // first seq kept by maxEvents and createdBefore
        let before = createdBefore !== undefined;
        for await (const chunk of this.events(op, sessionId, lo, last, () => before)) {
          for (const { seq, event } of chunk) {
            if (event && event.c >= (createdBefore ?? 0)) before = false;
            if (!before) break;
            cut = seq + 1;
          }
        }
        if (maxEvents !== undefined) cut = Math.max(cut, last - Math.max(0, maxEvents) + 1);
        let { bytes } = manifest;
        let next = lo;
        let deleted = 0;
        // Oldest first: below `cut`, then while over the byte budget.
        const trimming = () => next < cut || (maxBytes !== undefined && bytes > maxBytes);
        for await (const chunk of this.events(op, sessionId, lo, last, trimming)) {
          const gone: string[] = [];
          for (const { seq, key, event } of chunk) {
            if (!trimming()) break;
            if (event) {
              bytes -= jsonByteLength(event.m);
              gone.push(key);
            }
            next = seq + 1;
          }
          await this.ctx.deleteMany(op, gone);
          deleted += gone.length;
        }
        if (next === lo) return 0;
        await this.ctx.setOne(
          op,
          this.keys.manifest(sessionId),
          encodeManifest({ ...manifest, lo: next, bytes }),
        );
        return deleted;
      }),
    );
  }

  // --- Internal helpers ---

  /** Events `from..to` with their keys, one round trip per chunk, while `more()` holds; a trimmed seq or a crash's gap has no event. */
  private async *events(op: Op, sessionId: string, from: number, to: number, more = () => true) {
    for (let seq = from; seq <= to && more(); seq += CHUNK) {
      const seqs = range(seq, Math.min(seq + CHUNK - 1, to));
      const keys = seqs.map((s) => this.keys.event(sessionId, s));
      const texts = await this.ctx.getMany(op, keys);
      yield seqs.map((s, i) => {
        const text = texts[i];
        return { seq: s, key: keys[i]!, event: text === undefined ? undefined : parseEvent(keys[i]!, text) };
      });
    }
  }
}

function parseEvent(key: string, text: string): StoredEvent {
  const valid = (e: Record<string, unknown>) =>
    typeof e.s === 'string' && typeof e.m === 'string' && isNumber(e.c);
  return parse(`event at ${key}`, text, valid) as unknown as StoredEvent;
}
