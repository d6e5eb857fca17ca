import { SessionExistsError, type SessionRecord, StoreError } from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  compareNames,
  encodeJson,
  type ListQuery,
  livenessOf,
  type SessionIdentity,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import { type IndexChange, timeOf } from './buckets';
import {
  CHUNK,
  encodeManifest,
  isNumber,
  type KeyvContext,
  type Manifest,
  type Op,
  parse,
  parseLiveness,
  parseManifest,
  range,
} from './connection';
import type { KeySpace } from './keys';

interface LivenessWrite {
  id: string;
  prev: SessionLiveness;
  next: SessionLiveness;
}

/**
 * Session records: two values per record (the identity, written once, and the small liveness
 * that compare-and-set and heartbeats rewrite), with the due and creation bucket indexes.
 */
export class KeyvRecords {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: KeyvContext) {
    this.keys = ctx.keys;
  }

  async insert(record: SessionRecord): Promise<void> {
    const identity = encodeJson(identityOf(record), 1);
    const liveness = encodeJson(livenessOf(record));
    const { id } = record;
    return this.ctx.run('insert', (op) =>
      this.ctx.sessions.with([id], async () => {
        if ((await this.ctx.getOne(op, this.keys.liveness(id))) !== undefined)
          throw new SessionExistsError(id);
        // Index entries, then the identity, then the liveness: the record exists once that lands.
        await this.ctx.index.apply(this.ctx.io(op), [
          { kind: 'created', entry: [id, record.createdAt], add: true },
          { kind: 'due', entry: [id, record.dueAt], add: true },
        ]);
        await this.ctx.setOne(op, this.keys.identity(id), identity);
        await this.ctx.setOne(op, this.keys.liveness(id), liveness);
      }),
    );
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    return this.ctx.run('get', async (op) => (await this.readRecords(op, [id]))[0]);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const live = livenessOf(next); // the ten fields by name, whatever else a JS caller passed
    encodeJson(live); // refuse what cannot round-trip before taking the lock
    return this.ctx.run('compareAndSet', (op) =>
      this.ctx.sessions.with([id], async () => {
        const [prev] = await this.readLiveness(op, [id]);
        if (prev?.version !== expectedVersion) return false;
        await this.writeLiveness(op, [{ id, prev, next: live }]);
        return true;
      }),
    );
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return this.ctx.run('touch', async () => []); // still refused once closed
    return this.ctx.run('touch', (op) =>
      this.ctx.sessions.with(unique, async () => {
        const prevs = await this.readLiveness(op, unique);
        const writes: LivenessWrite[] = [];
        unique.forEach((id, i) => {
          const prev = prevs[i];
          if (prev?.status !== 'active') return;
          const next = { ...prev, lastHeartbeatAt: patch.now, dueAt: patch.dueAt, version: prev.version + 1 };
          writes.push({ id, prev, next });
        });
        await this.writeLiveness(op, writes);
        // In input order, a duplicated id as often as given, as the other stores answer.
        const touched = new Set(writes.map((w) => w.id));
        return ids.filter((id) => touched.has(id));
      }),
    );
  }

  async delete(id: string): Promise<boolean> {
    return this.ctx.run('delete', (op) =>
      this.ctx.sessions.with([id], async () => {
        const manifest = await this.ctx.getOne(op, this.keys.manifest(id));
        if (manifest !== undefined) {
          await this.dropData(op, id, parseManifest(id, manifest));
          await this.ctx.deleteOne(op, this.keys.manifest(id));
        }
        const [record] = await this.readRecords(op, [id]);
        if (record === undefined) return false;
        // The liveness first: without it the record is gone, whatever a crash leaves behind.
        await this.ctx.deleteOne(op, this.keys.liveness(id));
        await this.ctx.deleteOne(op, this.keys.identity(id));
        await this.ctx.index.apply(this.ctx.io(op), [
          { kind: 'created', entry: [id, record.createdAt], add: false },
          { kind: 'due', entry: [id, record.dueAt], add: false },
        ]);
        return true;
      }),
    );
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    return this.ctx.run('list', async (op) => {
      const page: SessionRecord[] = [];
      if (query.limit <= 0) return page;
      const io = this.ctx.io(op);
      const statuses = new Set(query.statuses);
      const { after } = query;
      const start = after ? this.ctx.index.bucketOf(after.createdAt) : Number.POSITIVE_INFINITY;
      // Creation never changes, so entries never move: the walk needs no lock against heartbeats.
      for (const bucket of await this.ctx.index.bucketsDownFrom(io, 'created', start)) {
        const entries = (await this.ctx.index.entries(io, 'created', bucket))
          .map((e) => ({ id: e[0], at: timeOf(e) }))
          .filter(
            (e) =>
              !after ||
              e.at < after.createdAt ||
              (e.at === after.createdAt && compareNames(e.id, after.id) < 0),
          )
          .sort((a, b) => b.at - a.at || compareNames(b.id, a.id));
        let i = 0;
        while (i < entries.length) {
          const chunk = entries.slice(i, i + Math.min(CHUNK, Math.max(query.limit - page.length, 16)));
          i += chunk.length;
          for (const record of await this.readRecords(
            op,
            chunk.map((e) => e.id),
          )) {
            // No record: a leftover entry of an insert or delete a crash cut short.
            if (record === undefined || !statuses.has(record.status)) continue;
            page.push(record);
            if (page.length >= query.limit) return page;
          }
        }
      }
      return page;
    });
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return this.ctx.run('claimDue', async (op) => {
      const io = this.ctx.io(op);
      const claimed: SessionRecord[] = [];
      const taken = new Set<string>();
      while (claimed.length < query.limit) {
        const need = query.limit - claimed.length;
        const found: Array<{ id: string; at: number }> = [];
        for (const bucket of await this.ctx.index.bucketsUpTo(
          io,
          'due',
          this.ctx.index.bucketOf(query.now),
        )) {
          for (const e of await this.ctx.index.entries(io, 'due', bucket)) {
            if (timeOf(e) <= query.now && !taken.has(e[0])) found.push({ id: e[0], at: timeOf(e) });
          }
          // Later buckets hold only later times: a full bucket's worth is enough to pick from.
          if (found.length >= need) break;
        }
        if (found.length === 0) break;
        const candidates = found.sort((a, b) => a.at - b.at || compareNames(a.id, b.id)).slice(0, need);
        await this.ctx.sessions.with(
          candidates.map((c) => c.id),
          async () => {
            const records = await this.readRecords(
              op,
              candidates.map((c) => c.id),
            );
            const writes: LivenessWrite[] = [];
            const stale: IndexChange[] = [];
            candidates.forEach((c, i) => {
              const prev = records[i];
              // An entry whose time is not the record's is a leftover (or was claimed meanwhile).
              if (prev?.dueAt !== c.at) {
                stale.push({ kind: 'due', entry: [c.id, c.at], add: false });
                return;
              }
              taken.add(c.id);
              const next = {
                ...livenessOf(prev),
                dueAt: query.now + query.leaseMs,
                version: prev.version + 1,
              };
              writes.push({ id: c.id, prev, next });
              claimed.push({ ...prev, ...next });
            });
            await this.writeLiveness(op, writes, stale);
          },
        );
      }
      return claimed;
    });
  }

  async purgeSessionData(id: string): Promise<void> {
    return this.ctx.run('purgeSessionData', (op) =>
      this.ctx.sessions.with([id], async () => {
        const text = await this.ctx.getOne(op, this.keys.manifest(id));
        if (text === undefined) return;
        const manifest = parseManifest(id, text);
        await this.dropData(op, id, manifest);
        await this.ctx.setOne(
          op,
          this.keys.manifest(id),
          encodeManifest({ seq: manifest.seq, lo: manifest.seq + 1, slots: [], bytes: 0 }),
        );
      }),
    );
  }

  // --- Internal helpers ---

  /** The liveness of each id (undefined: no record). Its presence is what makes a record exist. */
  private async readLiveness(op: Op, ids: readonly string[]): Promise<Array<SessionLiveness | undefined>> {
    const texts = await this.ctx.getMany(
      op,
      ids.map((id) => this.keys.liveness(id)),
    );
    return ids.map((id, i) => {
      const text = texts[i];
      return text === undefined ? undefined : parseLiveness(id, text);
    });
  }

  /** Whole records, both parts read in one round trip. */
  private async readRecords(op: Op, ids: readonly string[]): Promise<Array<SessionRecord | undefined>> {
    const texts = await this.ctx.getMany(
      op,
      ids.flatMap((id) => [this.keys.liveness(id), this.keys.identity(id)]),
    );
    return ids.map((id, i) => {
      const [liveness, identity] = [texts[2 * i], texts[2 * i + 1]];
      if (liveness === undefined) return undefined;
      // The identity is written before the liveness and deleted after it.
      if (identity === undefined) throw new StoreError(`session ${JSON.stringify(id)} has no identity`);
      return { ...parseIdentity(id, identity), ...parseLiveness(id, liveness) };
    });
  }

  /**
   * Writes liveness values. A moved `dueAt` gets its new index entry before the write and loses
   * the old one after it, so the due index always holds every record's current position (plus,
   * after a crash, leftovers that `claimDue` recognises and drops).
   */
  private async writeLiveness(op: Op, writes: readonly LivenessWrite[], stale: IndexChange[] = []) {
    const moved = writes.filter((w) => w.prev.dueAt !== w.next.dueAt);
    const io = this.ctx.io(op);
    await this.ctx.index.apply(
      io,
      moved.map((w) => ({ kind: 'due', entry: [w.id, w.next.dueAt], add: true })),
    );
    await this.ctx.setMany(
      op,
      writes.map((w) => ({ key: this.keys.liveness(w.id), value: encodeJson(livenessOf(w.next)) })),
    );
    await this.ctx.index.apply(io, [
      ...stale,
      ...moved.map((w): IndexChange => ({ kind: 'due', entry: [w.id, w.prev.dueAt], add: false })),
    ]);
  }

  /** Deletes a session's agent state and events (the manifest is the caller's to rewrite). */
  private async dropData(op: Op, sessionId: string, manifest: Manifest): Promise<void> {
    await this.ctx.deleteMany(op, [
      ...manifest.slots.map(([a, k]) => this.keys.state(sessionId, a, k)),
      ...range(manifest.lo, manifest.seq).map((s) => this.keys.event(sessionId, s)),
    ]);
  }
}

function identityOf(r: SessionIdentity): SessionIdentity {
  const { id, principal, createdAt, workingDirectory, metadata, initializeParams } = r;
  return { id, principal, createdAt, workingDirectory, metadata, initializeParams };
}

function parseIdentity(id: string, text: string): SessionIdentity {
  const r = parse(
    `identity of session ${JSON.stringify(id)}`,
    text,
    (r) => r.id === id && isNumber(r.createdAt),
  );
  return r as unknown as SessionIdentity;
}
