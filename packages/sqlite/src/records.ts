/** Facet 1, session records: a `sessions` row (what heartbeats rewrite) and its `session_data` row. */
import {
  type JsonObject,
  SessionExistsError,
  type SessionRecord,
  type SessionStatus,
} from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  decodeJson,
  encodeJson,
  type ListQuery,
  livenessValues,
  SESSION_STATUSES,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import {
  type Row,
  type SqliteContext,
  type SqliteStatementLike,
  type Statements,
  sqliteCode,
} from './connection';
import { listSql } from './sql';

/** A record's columns in the order of sql.ts `recordSelect`, read in raw mode. */
type RecordRow = unknown[];

export class SqliteRecords {
  private readonly stmt: Statements;
  private readonly listStatements = new Map<string, SqliteStatementLike>();

  constructor(private readonly ctx: SqliteContext) {
    this.stmt = ctx.stmt;
  }

  async insert(record: SessionRecord): Promise<void> {
    const hot = hotParams(record);
    const data = dataParams(record);
    this.ctx.run('insert', () =>
      this.ctx.immediate(() => {
        try {
          this.stmt.insert.run(record.id, ...hot);
        } catch (error) {
          if (sqliteCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new SessionExistsError(record.id);
          throw error;
        }
        this.stmt.insertData.run(record.id, ...data);
      }),
    );
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.ctx.run('get', () => this.stmt.get.get(id) as RecordRow | undefined);
    return row && toRecord(row);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const params = livenessValues(next);
    return this.ctx.run(
      'compareAndSet',
      () => this.stmt.compareAndSet.run(...params, id, expectedVersion).changes === 1,
    );
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    if (ids.length === 0) return this.ctx.run('touch', () => []); // still refused once closed
    return this.ctx.run('touch', () => {
      if (ids.length === 1) {
        const id = ids[0]!;
        return this.stmt.touchOne.run(patch.now, patch.dueAt, id).changes === 1 ? [id] : [];
      }
      const rows = this.stmt.touchMany.all(patch.now, patch.dueAt, JSON.stringify(ids)) as Row[];
      const touched = new Set(rows.map((r) => r.id as string));
      return ids.filter((id) => touched.has(id));
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.ctx.run('delete', () =>
      this.ctx.immediate(() => {
        this.stmt.deleteSessionState.run(id);
        this.stmt.deleteSessionEvents.run(id);
        this.stmt.deleteData.run(id);
        return this.stmt.deleteRecord.run(id).changes === 1;
      }),
    );
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    const statuses = [...new Set(query.statuses)].filter((s) => SESSION_STATUSES.includes(s));
    if (statuses.length === 0 || query.limit <= 0) return [];
    const after = query.after;
    const params: unknown[] = [...statuses];
    if (after) params.push(after.createdAt, after.id);
    params.push(query.limit);
    const rows = this.ctx.run(
      'list',
      () => this.listStatement(statuses.length, after !== undefined).all(...params) as RecordRow[],
    );
    return rows.map(toRecord);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    if (query.limit <= 0) return [];
    const dueAt = query.now + query.leaseMs;
    const records = this.ctx.run('claimDue', () =>
      this.ctx.immediate(() => {
        const due = (this.stmt.selectDue.all(query.now, query.limit) as RecordRow[]).map(toRecord);
        for (const record of due) this.stmt.lease.run(dueAt, record.id);
        return due;
      }),
    );
    return records.map((record) => ({ ...record, dueAt, version: record.version + 1 }));
  }

  async purgeSessionData(id: string): Promise<void> {
    this.ctx.run('purgeSessionData', () =>
      this.ctx.immediate(() => {
        this.stmt.deleteSessionState.run(id);
        this.stmt.keepEventSeq.run(id, id);
        this.stmt.deleteSessionEvents.run(id);
      }),
    );
  }

  // --- Internal helpers ---

  private listStatement(count: number, keyset: boolean): SqliteStatementLike {
    const cacheKey = `${count}:${keyset}`;
    let stmt = this.listStatements.get(cacheKey);
    if (!stmt) {
      stmt = this.ctx.db.prepare(listSql(this.ctx.prefix, count, keyset)).raw(true);
      this.listStatements.set(cacheKey, stmt);
    }
    return stmt;
  }
}

/** The `sessions` columns after `id`, in the order of `insert`. */
function hotParams(r: SessionRecord): unknown[] {
  return [
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
  ];
}

/** The `session_data` columns after `id` (encoded first: a bad value throws before any write). */
function dataParams(r: SessionRecord): unknown[] {
  return [
    r.workingDirectory,
    r.metadata === null ? null : encodeJson(r.metadata),
    r.initializeParams === null ? null : encodeJson(r.initializeParams),
  ];
}

/** A row in the order of sql.ts `recordSelect`, read in raw mode (arrays cost less to build than objects). */
function toRecord(row: RecordRow): SessionRecord {
  const metadata = row[14] as string | null;
  const initializeParams = row[15] as string | null;
  return {
    id: row[0] as string,
    status: row[1] as SessionStatus,
    version: row[2] as number,
    principal: row[3] as string | null,
    ownerId: row[4] as string | null,
    createdAt: row[5] as number,
    lastHeartbeatAt: row[6] as number,
    disconnectedAt: row[7] as number | null,
    graceExpiresAt: row[8] as number | null,
    recoveryAttempts: row[9] as number,
    recoveredAt: row[10] as number | null,
    endedAt: row[11] as number | null,
    dueAt: row[12] as number,
    workingDirectory: row[13] as string | null,
    metadata: metadata === null ? null : (decodeJson(metadata) as JsonObject),
    initializeParams: initializeParams === null ? null : (decodeJson(initializeParams) as JsonObject),
  };
}
