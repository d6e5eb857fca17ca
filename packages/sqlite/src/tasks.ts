/** Facet 4, tasks (MCP's Tasks extension): one `tasks` row per task, claimed and swept through its indexes. */
import {
  type ClaimLapsedQuery,
  decodeJson,
  encodeJson,
  type JsonObject,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  type TaskStatus,
} from '@mcp-sessions/core/adapter';
import type { Row, SqliteContext, Statements } from './connection';

export class SqliteTasks {
  private readonly stmt: Statements;

  constructor(private readonly ctx: SqliteContext) {
    this.stmt = ctx.stmt;
  }

  async insertTask(task: TaskRecord): Promise<boolean> {
    // Encoded first: a bad value throws before anything is written.
    const request = encodeJson(task.request);
    const state = stateParams(task);
    return this.ctx.run(
      'insertTask',
      () =>
        this.stmt.insertTask.run(
          task.id,
          task.principal,
          task.createdAt,
          task.rerunnable ? 1 : 0,
          request,
          ...state,
        ).changes === 1,
    );
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const row = this.ctx.run('getTask', () => this.stmt.getTask.get(id) as Row | undefined);
    return row && toTask(row);
  }

  async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    const params = stateParams(next);
    return this.ctx.run(
      'compareAndSetTask',
      () => this.stmt.compareAndSetTask.run(...params, id, expectedVersion).changes === 1,
    );
  }

  async renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    if (ids.length === 0) return this.ctx.run('renewTaskLeases', () => []); // still refused once closed
    return this.ctx.run('renewTaskLeases', () => {
      const rows = this.stmt.renewTaskLeases.all(leaseUntil, JSON.stringify(ids), workerId) as Row[];
      const renewed = new Set(rows.map((r) => r.id as string));
      return ids.filter((id) => renewed.has(id));
    });
  }

  async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    if (query.limit <= 0) return [];
    // Found and leased inside one `BEGIN IMMEDIATE`: no other process claims between the two.
    const rows = this.ctx.run('claimLapsedTasks', () =>
      this.ctx.immediate(() => {
        const ids = (this.stmt.selectLapsedTasks.all(query.now, query.limit) as Row[]).map(
          (r) => r.id as string,
        );
        if (ids.length === 0) return [];
        const claimed = this.stmt.claimTasks.all(
          query.workerId,
          query.leaseUntil,
          JSON.stringify(ids),
        ) as Row[];
        // RETURNING has no order: put the rows back in the lease order they were found in.
        const byId = new Map(claimed.map((r) => [r.id as string, r]));
        return ids.map((id) => byId.get(id)!);
      }),
    );
    return rows.map(toTask);
  }

  async deleteExpiredTasks(now: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.ctx.run('deleteExpiredTasks', () => this.stmt.deleteExpiredTasks.run(now, limit).changes);
  }

  async listTasks(query: { limit: number; after?: TaskListAfter }): Promise<TaskRecord[]> {
    if (query.limit <= 0) return [];
    const { after, limit } = query;
    const rows = this.ctx.run('listTasks', () =>
      after === undefined
        ? (this.stmt.listTasks.all(limit) as Row[])
        : (this.stmt.listTasksAfter.all(after.createdAt, after.id, limit) as Row[]),
    );
    return rows.map(toTask);
  }
}

// --- Internal helpers ---

/**
 * The state columns, in the order of sql.ts `compareAndSetTask` (and of `insertTask` after the
 * identity). Read by name, so a whole record passed as the state rewrites no identity field.
 */
function stateParams(s: TaskState): unknown[] {
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

function parsedOrNull(text: unknown): JsonObject | null {
  return text === null ? null : (decodeJson(text as string) as JsonObject);
}

function toTask(row: Row): TaskRecord {
  return {
    id: row.id as string,
    principal: row.principal as string | null,
    createdAt: row.created_at as number,
    request: decodeJson(row.request as string) as JsonObject,
    rerunnable: row.rerunnable === 1,
    status: row.status as TaskStatus,
    version: row.version as number,
    statusMessage: row.status_message as string | null,
    updatedAt: row.updated_at as number,
    ttlMs: row.ttl_ms as number | null,
    expiresAt: row.expires_at as number | null,
    pollIntervalMs: row.poll_interval_ms as number | null,
    workerId: row.worker_id as string | null,
    leaseUntil: row.lease_until as number | null,
    attempts: row.attempts as number,
    inputRequests: parsedOrNull(row.input_requests),
    result: parsedOrNull(row.result),
    error: parsedOrNull(row.error),
  };
}
