/** Facet 1, session records: one row per session, its JSON columns written once by insert. */
import { SessionExistsError, type SessionRecord, type SessionStatus, StoreError } from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  encodeJson,
  isSessionStatus,
  type ListQuery,
  livenessValues,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import {
  assertNoNul,
  hasNul,
  int,
  intOrNull,
  jsonObjectOrNull,
  type PostgresContext,
  text,
  textOrNull,
} from './connection';
import type { Statements } from './sql';

export class PostgresRecords {
  private readonly sql: Statements;

  constructor(private readonly ctx: PostgresContext) {
    this.sql = ctx.sql;
  }

  async insert(record: SessionRecord): Promise<void> {
    const values = recordValues(record);
    const result = await this.ctx.query('insert', this.sql.insert, values);
    if (result.rowCount === 0) throw new SessionExistsError(record.id);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (hasNul(id)) return undefined;
    const { rows } = await this.ctx.query('get', this.sql.get, [id]);
    return rows[0] && toRecord(rows[0]);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    if (hasNul(id)) return false;
    const values = livenessParams(next);
    values.push(id, expectedVersion);
    const result = await this.ctx.query('compareAndSet', this.sql.compareAndSet, values);
    return result.rowCount === 1;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.ctx.assertOpen('touch'); // an empty batch sends nothing, and still must refuse
    const wanted = ids.filter((id) => !hasNul(id));
    if (wanted.length === 0) return [];
    const { rows } = await this.ctx.query('touch', this.sql.touch, [wanted, patch.now, patch.dueAt]);
    const touched = new Set(rows.map((row) => text(row.id)));
    return ids.filter((id) => touched.has(id));
  }

  async delete(id: string): Promise<boolean> {
    if (hasNul(id)) return false;
    const result = await this.ctx.query('delete', this.sql.delete, [id]);
    return result.rowCount === 1;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = [...new Set<SessionStatus>(query.statuses)];
    if (statuses.length === 0 || query.limit <= 0) return [];
    const { rows } = query.after
      ? await this.ctx.query('list', this.sql.listAfter, [
          statuses,
          query.limit,
          query.after.createdAt,
          query.after.id,
        ])
      : await this.ctx.query('list', this.sql.list, [statuses, query.limit]);
    return rows.map(toRecord);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    if (query.limit <= 0) return [];
    const { rows } = await this.ctx.query('claimDue', this.sql.claimDue, [
      query.now,
      query.limit,
      query.now + query.leaseMs,
    ]);
    return rows.map(toRecord);
  }

  async purgeSessionData(id: string): Promise<void> {
    if (hasNul(id)) return;
    await this.ctx.query('purgeSessionData', this.sql.purgeSessionData, [id]);
  }
}

// --- Internal helpers ---

function recordValues(r: SessionRecord): unknown[] {
  for (const [argument, value] of [
    ['id', r.id],
    ['principal', r.principal],
    ['ownerId', r.ownerId],
    ['workingDirectory', r.workingDirectory],
  ] as const) {
    if (value !== null) assertNoNul(argument, value);
  }
  return [
    r.id,
    r.status,
    r.version,
    r.principal,
    r.ownerId,
    r.createdAt,
    r.lastHeartbeatAt,
    r.disconnectedAt,
    r.graceExpiresAt,
    r.recoveryAttempts,
    r.recoveredAt,
    r.endedAt,
    r.dueAt,
    r.workingDirectory,
    r.metadata === null ? null : encodeJson(r.metadata),
    r.initializeParams === null ? null : encodeJson(r.initializeParams),
  ];
}

/** The ten liveness values (core's order); `ownerId` checked like every text column. */
function livenessParams(r: SessionLiveness): unknown[] {
  if (r.ownerId !== null) assertNoNul('ownerId', r.ownerId);
  return livenessValues(r);
}

/** The boundary parse of a row: every column checked, bigints made numbers. */
function toRecord(row: Record<string, unknown>): SessionRecord {
  const status = text(row.status);
  if (!isSessionStatus(status))
    throw new StoreError(`stored session has unknown status ${JSON.stringify(status)}`);
  return {
    id: text(row.id),
    status: status as SessionStatus,
    version: int(row.version),
    principal: textOrNull(row.principal),
    ownerId: textOrNull(row.owner_id),
    createdAt: int(row.created_at),
    lastHeartbeatAt: int(row.last_heartbeat_at),
    disconnectedAt: intOrNull(row.disconnected_at),
    graceExpiresAt: intOrNull(row.grace_expires_at),
    recoveryAttempts: int(row.recovery_attempts),
    recoveredAt: intOrNull(row.recovered_at),
    endedAt: intOrNull(row.ended_at),
    dueAt: int(row.due_at),
    workingDirectory: textOrNull(row.working_directory),
    metadata: jsonObjectOrNull(row.metadata),
    initializeParams: jsonObjectOrNull(row.initialize_params),
  };
}
