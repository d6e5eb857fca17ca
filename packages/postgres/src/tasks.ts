/**
 * The tasks facet (MCP's Tasks extension): one row per task, the identity written once by
 * insertTask, the state by compare-and-set, lease renewal and the lapsed-lease claim. Claims and
 * expiry sweeps find their rows through partial indexes on `lease_until` and `expires_at`.
 */
import { type JsonObject, StoreError } from '@mcp-sessions/core';
import {
  type ClaimLapsedQuery,
  encodeJson,
  isTaskStatus,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
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

export class PostgresTasks {
  private readonly sql: Statements;

  constructor(private readonly ctx: PostgresContext) {
    this.sql = ctx.sql;
  }

  async insertTask(task: TaskRecord): Promise<boolean> {
    this.ctx.assertOpen('insertTask');
    assertNoNul('id', task.id);
    if (task.principal !== null) assertNoNul('principal', task.principal);
    const identity = [task.id, task.principal, task.createdAt, encodeJson(task.request), task.rerunnable];
    const values = [...identity, ...stateValues(task)];
    const result = await this.ctx.query('insertTask', this.sql.insertTask, values);
    return result.rowCount === 1;
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    this.ctx.assertOpen('getTask');
    if (hasNul(id)) return undefined;
    const { rows } = await this.ctx.query('getTask', this.sql.getTask, [id]);
    return rows[0] && toTask(rows[0]);
  }

  async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    this.ctx.assertOpen('compareAndSetTask');
    if (hasNul(id)) return false;
    const values = stateValues(next);
    values.push(id, expectedVersion);
    const result = await this.ctx.query('compareAndSetTask', this.sql.compareAndSetTask, values);
    return result.rowCount === 1;
  }

  async renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    this.ctx.assertOpen('renewTaskLeases');
    const wanted = ids.filter((id) => !hasNul(id));
    // No stored worker id contains U+0000, so such a worker holds nothing.
    if (wanted.length === 0 || hasNul(workerId)) return [];
    const { rows } = await this.ctx.query('renewTaskLeases', this.sql.renewTaskLeases, [
      wanted,
      workerId,
      leaseUntil,
    ]);
    const renewed = new Set(rows.map((row) => text(row.id)));
    return ids.filter((id) => renewed.has(id));
  }

  async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    this.ctx.assertOpen('claimLapsedTasks');
    assertNoNul('workerId', query.workerId);
    if (query.limit <= 0) return [];
    const { rows } = await this.ctx.query('claimLapsedTasks', this.sql.claimLapsedTasks, [
      query.now,
      query.limit,
      query.workerId,
      query.leaseUntil,
    ]);
    return rows.map(toTask);
  }

  async deleteExpiredTasks(now: number, limit: number): Promise<number> {
    this.ctx.assertOpen('deleteExpiredTasks');
    if (limit <= 0) return 0;
    const result = await this.ctx.query('deleteExpiredTasks', this.sql.deleteExpiredTasks, [now, limit]);
    return result.rowCount ?? 0;
  }

  async listTasks(query: { readonly limit: number; readonly after?: TaskListAfter }): Promise<TaskRecord[]> {
    this.ctx.assertOpen('listTasks');
    if (query.limit <= 0) return [];
    const { rows } = query.after
      ? await this.ctx.query('listTasks', this.sql.listTasksAfter, [
          query.limit,
          query.after.createdAt,
          query.after.id,
        ])
      : await this.ctx.query('listTasks', this.sql.listTasks, [query.limit]);
    return rows.map(toTask);
  }
}

// --- Internal helpers ---

/**
 * The thirteen state values, in the statements' order, read by name: a whole record passed as
 * the state writes none of its identity.
 */
function stateValues(s: TaskState): unknown[] {
  if (s.statusMessage !== null) assertNoNul('statusMessage', s.statusMessage);
  if (s.workerId !== null) assertNoNul('workerId', s.workerId);
  return [
    s.status,
    s.version,
    s.statusMessage,
    s.updatedAt,
    s.ttlMs,
    s.expiresAt,
    s.pollIntervalMs,
    s.workerId,
    s.leaseUntil,
    s.attempts,
    jsonOrNull(s.inputRequests),
    jsonOrNull(s.result),
    jsonOrNull(s.error),
  ];
}

function jsonOrNull(value: JsonObject | null): string | null {
  return value === null ? null : encodeJson(value);
}

/** The boundary parse of a task row: every column checked, bigints made numbers. */
function toTask(row: Record<string, unknown>): TaskRecord {
  const status = text(row.status);
  if (!isTaskStatus(status)) throw new StoreError(`stored task has unknown status ${JSON.stringify(status)}`);
  const request = jsonObjectOrNull(row.request);
  if (request === null) throw new StoreError('stored task has no request');
  if (typeof row.rerunnable !== 'boolean') throw new StoreError('expected a boolean rerunnable column');
  return {
    id: text(row.id),
    principal: textOrNull(row.principal),
    createdAt: int(row.created_at),
    request,
    rerunnable: row.rerunnable,
    status,
    version: int(row.version),
    statusMessage: textOrNull(row.status_message),
    updatedAt: int(row.updated_at),
    ttlMs: intOrNull(row.ttl_ms),
    expiresAt: intOrNull(row.expires_at),
    pollIntervalMs: intOrNull(row.poll_interval_ms),
    workerId: textOrNull(row.worker_id),
    leaseUntil: intOrNull(row.lease_until),
    attempts: int(row.attempts),
    inputRequests: jsonObjectOrNull(row.input_requests),
    result: jsonObjectOrNull(row.result),
    error: jsonObjectOrNull(row.error),
  };
}
