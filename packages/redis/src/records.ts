import { InvalidArgumentError, SessionExistsError, type SessionRecord } from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  compareNames,
  decodeJson,
  encodeJson,
  isSessionStatus,
  type ListQuery,
  SESSION_STATUSES,
  type SessionIdentity,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import {
  array,
  byShard,
  corrupt,
  finite,
  integer,
  nullable,
  num,
  numOrEmpty,
  objOrNull,
  optionalText,
  pageCursor,
  pairs,
  type RedisContext,
  str,
  strOrNull,
  text,
  topAcrossShards,
} from './connection';
import type { KeySpace } from './keys';
import * as lua from './scripts';

/** `claimDue` re-peeks this many times when other sweepers took some of its candidates. */
const CLAIM_ROUNDS = 3;
/** Ids one `list` script looks at, at most, in one shard (a bound on the script's run time). */
const LIST_SCAN = 1_000;

/**
 * Session records: a hash per record (identity JSON plus one field per liveness value), indexed
 * per shard by `dueAt` (the sweep) and by `createdAt` (the `list` order).
 */
export class RedisRecords {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: RedisContext) {
    this.keys = ctx.keys;
  }

  async insert(record: SessionRecord): Promise<void> {
    const identity = encodeJson(identityOf(record), 1);
    const k = this.keys;
    const shard = k.shardOf(record.id);
    const inserted = await this.ctx.run(
      lua.INSERT,
      [k.record(record.id), k.due(shard), k.created(shard)],
      [record.id, identity, String(finite('createdAt', record.createdAt)), ...livenessArgs(record)],
    );
    if (inserted !== 1) throw new SessionExistsError(record.id);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const key = this.keys.record(id);
    return parseRecord(array(await this.ctx.command(key, ['HMGET', key, 'j', ...lua.LIVENESS_FIELDS])), 0);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const written = await this.ctx.run(
      lua.COMPARE_AND_SET,
      [this.keys.record(id), this.keys.due(this.keys.shardOf(id))],
      [id, String(expectedVersion), ...livenessArgs(next)],
    );
    return written === 1;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.ctx.connection.assertOpen(); // an empty batch sends nothing, and still must refuse
    const replies = await Promise.all(
      [...byShard(this.keys, ids)].map(([shard, group]) =>
        this.ctx.run(
          lua.TOUCH,
          [this.keys.due(shard), ...group.map((id) => this.keys.record(id))],
          [String(patch.now), String(patch.dueAt), ...group],
        ),
      ),
    );
    const missed = new Set(replies.flatMap((r) => array(r).map(text)));
    return missed.size === 0 ? [...ids] : ids.filter((id) => !missed.has(id));
  }

  async delete(id: string): Promise<boolean> {
    const k = this.keys;
    const shard = k.shardOf(id);
    const existed = await this.ctx.run(
      lua.DELETE,
      [
        k.record(id),
        k.due(shard),
        k.created(shard),
        k.stateIndex(id),
        k.stateExpiry(shard),
        k.events(id),
        k.eventBytes(id),
      ],
      [id, k.stateEntryPrefix(id), k.stateExpiryPrefix(id)],
    );
    return existed === 1;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = SESSION_STATUSES.filter((s) => query.statuses.includes(s));
    const limit = query.limit;
    if (limit <= 0 || statuses.length === 0) return [];
    // Each shard's created index, read by a script that keeps the wanted statuses and returns whole records.
    return topAcrossShards(this.keys.allShards, limit, query.after, async (shard, cursor, quota) => {
      const reply = array(
        await this.ctx.run(
          lua.LIST_PAGE,
          [this.keys.created(shard)],
          [
            String(quota),
            String(LIST_SCAN),
            cursor ? String(cursor.createdAt) : '',
            cursor?.id ?? '',
            this.keys.tag(shard),
            ...statuses,
          ],
        ),
      );
      const rows: SessionRecord[] = [];
      for (let at = 3; at < reply.length; at += lua.RECORD_WIDTH) {
        const record = parseRecord(reply, at);
        if (record) rows.push(record);
      }
      return { rows, exhausted: integer(reply[0]) === 1, cursor: pageCursor(reply) };
    });
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    const leasedDue = String(query.now + query.leaseMs);
    const claimed = new Map<string, { record: SessionRecord; due: number }>();
    for (let round = 0; round < CLAIM_ROUNDS && claimed.size < query.limit; round++) {
      const want = query.limit - claimed.size;
      const peeks = await Promise.all(
        this.keys.allShards.map((shard) =>
          this.ctx.run(lua.PEEK_DUE, [this.keys.due(shard)], [String(query.now), String(want)]),
        ),
      );
      const candidates = peeks
        .flatMap((r) => pairs(r).map(([id, due]) => ({ id, due: Number(due) })))
        .filter((c) => !claimed.has(c.id))
        .sort((a, b) => a.due - b.due || compareNames(a.id, b.id))
        .slice(0, want);
      if (candidates.length === 0) break;
      const dueOf = new Map(candidates.map((c) => [c.id, c.due]));
      const replies = await Promise.all(
        [
          ...byShard(
            this.keys,
            candidates.map((c) => c.id),
          ),
        ].map(([shard, group]) =>
          this.ctx.run(
            lua.CLAIM,
            [this.keys.due(shard), ...group.map((id) => this.keys.record(id))],
            [String(query.now), leasedDue, ...group],
          ),
        ),
      );
      let won = 0;
      for (const reply of replies) {
        const fields = array(reply);
        for (let i = 0; i < fields.length; i += lua.RECORD_WIDTH) {
          const record = parseRecord(fields, i);
          if (!record) continue;
          claimed.set(record.id, { record, due: dueOf.get(record.id) ?? query.now });
          won++;
        }
      }
      // Every candidate won: either the limit is reached or nothing else is due.
      if (won === candidates.length) break;
    }
    return [...claimed.values()]
      .sort((a, b) => a.due - b.due || compareNames(a.record.id, b.record.id))
      .map((c) => c.record);
  }

  async purgeSessionData(id: string): Promise<void> {
    const k = this.keys;
    await this.ctx.run(
      lua.PURGE_SESSION_DATA,
      [k.stateIndex(id), k.stateExpiry(k.shardOf(id)), k.events(id), k.eventBytes(id)],
      [k.stateEntryPrefix(id), k.stateExpiryPrefix(id)],
    );
  }
}

// --- Internal helpers ---

function identityOf(record: SessionIdentity): SessionIdentity {
  return {
    id: record.id,
    principal: record.principal,
    createdAt: record.createdAt,
    workingDirectory: record.workingDirectory,
    metadata: record.metadata,
    initializeParams: record.initializeParams,
  };
}

/** The liveness fields' values in `LIVENESS_FIELDS` order, taken by name (a caller may pass more). */
function livenessArgs(l: SessionLiveness): string[] {
  if (!isSessionStatus(l.status))
    throw new InvalidArgumentError('status', `unknown status ${String(l.status)}`);
  return [
    l.status,
    String(finite('version', l.version)),
    l.ownerId === null ? 'null' : JSON.stringify(String(l.ownerId)),
    String(finite('lastHeartbeatAt', l.lastHeartbeatAt)),
    nullable('disconnectedAt', l.disconnectedAt),
    nullable('graceExpiresAt', l.graceExpiresAt),
    String(finite('recoveryAttempts', l.recoveryAttempts)),
    nullable('recoveredAt', l.recoveredAt),
    nullable('endedAt', l.endedAt),
    String(finite('dueAt', l.dueAt)),
  ];
}

/** The record whose reply values (`j`, then `LIVENESS_FIELDS`) start at `at`, or undefined when absent. */
function parseRecord(fields: unknown[], at: number): SessionRecord | undefined {
  const json = optionalText(fields[at]);
  if (json === undefined) return undefined;
  const doc = decodeJson(json);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('record is not an object');
  const [status, version, owner, hb, dc, g, ra, rc, e, due] = lua.LIVENESS_FIELDS.map((_, i) =>
    text(fields[at + 1 + i]),
  ) as [string, string, string, string, string, string, string, string, string, string];
  if (!isSessionStatus(status)) throw corrupt(`unknown status ${status}`);
  const ownerId: unknown = decodeJson(owner);
  if (ownerId !== null && typeof ownerId !== 'string') throw corrupt('ownerId');
  return {
    id: str(doc, 'id'),
    principal: strOrNull(doc, 'principal'),
    createdAt: num(doc.createdAt),
    workingDirectory: strOrNull(doc, 'workingDirectory'),
    metadata: objOrNull(doc.metadata),
    initializeParams: objOrNull(doc.initializeParams),
    status,
    version: num(version),
    ownerId,
    lastHeartbeatAt: num(hb),
    disconnectedAt: numOrEmpty(dc),
    graceExpiresAt: numOrEmpty(g),
    recoveryAttempts: num(ra),
    recoveredAt: numOrEmpty(rc),
    endedAt: numOrEmpty(e),
    dueAt: num(due),
  };
}
