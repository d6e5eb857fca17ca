/**
 * Facet 1, session records: each session's `identity` and `live` parts, the due index, and the
 * `list` order.
 */
import { type JsonObject, SessionExistsError, type SessionRecord } from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  compareListOrder,
  decodeJson,
  encodeJson,
  type ListQuery,
  livenessOf,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import type { Live, MemoryContext, Session, StoredIdentity } from './connection';
import type { TimeIndex } from './time-index';

export class MemoryRecords {
  private readonly sessions: Map<string, Session>;
  private readonly due: TimeIndex<string>;
  /** Sessions in `list` order; nothing but `insert` and `delete` changes it. */
  private listed: Session[] | undefined;
  /**
   * What each frozen `touch` batch resolved to, by batch array (the contract's stable batches): a
   * tick of 100k sessions then skips 100k id lookups. An entry is used only while its session is
   * not deleted.
   */
  private readonly batches = new WeakMap<readonly string[], (Live | undefined)[]>();

  constructor(private readonly ctx: MemoryContext) {
    this.sessions = ctx.sessions;
    this.due = ctx.due;
  }

  async insert(record: SessionRecord): Promise<void> {
    this.ctx.assertOpen();
    if (this.sessions.has(record.id)) throw new SessionExistsError(record.id);
    const identity: StoredIdentity = {
      id: record.id,
      principal: record.principal,
      createdAt: record.createdAt,
      workingDirectory: record.workingDirectory,
      // Encoded (and so validated) before anything is stored.
      metadata: record.metadata === null ? null : encodeJson(record.metadata),
      initializeParams: record.initializeParams === null ? null : encodeJson(record.initializeParams),
    };
    // One literal, not a spread of livenessOf: V8 kept spread-built objects slow (a 100k tick took 160 ms, not 27).
    const live: Live = {
      status: record.status,
      version: record.version,
      ownerId: record.ownerId,
      lastHeartbeatAt: record.lastHeartbeatAt,
      disconnectedAt: record.disconnectedAt,
      graceExpiresAt: record.graceExpiresAt,
      recoveryAttempts: record.recoveryAttempts,
      recoveredAt: record.recoveredAt,
      endedAt: record.endedAt,
      dueAt: record.dueAt,
      deleted: false,
    };
    this.sessions.set(record.id, { identity, live, state: new Map(), events: [], eventBytes: 0, lastSeq: 0 });
    this.due.add(record.id, live.dueAt);
    this.listed = undefined;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.ctx.assertOpen();
    const session = this.sessions.get(id);
    return session && toRecord(session);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    this.ctx.assertOpen();
    const session = this.sessions.get(id);
    if (session === undefined || session.live.version !== expectedVersion) return false;
    const previousDueAt = session.live.dueAt;
    Object.assign(session.live, livenessOf(next)); // the ten liveness fields by name, whatever else `next` carries
    this.moveDue(id, previousDueAt, next.dueAt);
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.ctx.assertOpen();
    const touched: string[] = [];
    // Only a frozen array can be remembered: its ids cannot change under the entry.
    const resolved = Object.isFrozen(ids) ? this.rememberedBatch(ids) : undefined;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      let live = resolved?.[i];
      if (live === undefined || live.deleted) {
        live = this.sessions.get(id)?.live;
        if (resolved !== undefined) resolved[i] = live;
      }
      if (live?.status !== 'active') continue;
      const previousDueAt = live.dueAt;
      live.lastHeartbeatAt = patch.now;
      live.dueAt = patch.dueAt;
      live.version++;
      this.moveDue(id, previousDueAt, patch.dueAt);
      touched.push(id);
    }
    return touched;
  }

  async delete(id: string): Promise<boolean> {
    this.ctx.assertOpen();
    const session = this.sessions.get(id);
    if (session === undefined) return false;
    this.ctx.purgeSession(session);
    this.due.remove(session.live.dueAt);
    this.sessions.delete(id);
    session.live.deleted = true;
    this.listed = undefined;
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.ctx.assertOpen();
    this.listed ??= [...this.sessions.values()].sort((a, b) => compareListOrder(a.identity, b.identity));
    const listed = this.listed;
    let start = 0;
    if (query.after !== undefined) {
      // Binary search for the first session strictly after the keyset position.
      let end = listed.length;
      while (start < end) {
        const mid = (start + end) >>> 1;
        if (compareListOrder(listed[mid]!.identity, query.after) <= 0) start = mid + 1;
        else end = mid;
      }
    }
    const page: SessionRecord[] = [];
    for (let i = start; i < listed.length && page.length < query.limit; i++) {
      if (query.statuses.includes(listed[i]!.live.status)) page.push(toRecord(listed[i]!));
    }
    return page;
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    this.ctx.assertOpen();
    const leasedUntil = query.now + query.leaseMs;
    return this.due.take(query.now, query.limit).map((id) => {
      const session = this.sessions.get(id)!;
      const previousDueAt = session.live.dueAt;
      session.live.dueAt = leasedUntil;
      session.live.version++;
      this.moveDue(id, previousDueAt, leasedUntil);
      return toRecord(session);
    });
  }

  async purgeSessionData(id: string): Promise<void> {
    this.ctx.assertOpen();
    const session = this.sessions.get(id);
    if (session !== undefined) this.ctx.purgeSession(session);
  }

  // --- Internal helpers ---

  /** The live objects a frozen batch resolved to so far (filled by `touch`). */
  private rememberedBatch(ids: readonly string[]): (Live | undefined)[] {
    let resolved = this.batches.get(ids);
    if (resolved === undefined) {
      resolved = new Array<Live | undefined>(ids.length);
      this.batches.set(ids, resolved);
    }
    return resolved;
  }

  private moveDue(id: string, from: number, to: number): void {
    if (from === to) return;
    this.due.remove(from);
    this.due.add(id, to);
  }
}

/** A fresh record the caller may keep or mutate. Field by field: spreads here cost ~10x. */
function toRecord({ identity, live }: Session): SessionRecord {
  return {
    id: identity.id,
    principal: identity.principal,
    createdAt: identity.createdAt,
    workingDirectory: identity.workingDirectory,
    metadata: identity.metadata === null ? null : (decodeJson(identity.metadata) as JsonObject),
    initializeParams:
      identity.initializeParams === null ? null : (decodeJson(identity.initializeParams) as JsonObject),
    status: live.status,
    version: live.version,
    ownerId: live.ownerId,
    lastHeartbeatAt: live.lastHeartbeatAt,
    disconnectedAt: live.disconnectedAt,
    graceExpiresAt: live.graceExpiresAt,
    recoveryAttempts: live.recoveryAttempts,
    recoveredAt: live.recoveredAt,
    endedAt: live.endedAt,
    dueAt: live.dueAt,
  };
}
