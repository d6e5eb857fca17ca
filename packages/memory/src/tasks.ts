/**
 * The memory store's tasks facet: each task kept as JSON text (so no caller holds what is
 * stored), found by its lease and its ttl through two time indexes, as sessions are by `dueAt`.
 */
import {
  type ClaimLapsedQuery,
  compareListOrder,
  decodeJson,
  encodeJson,
  type JsonObject,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  taskStateOf,
} from '@mcp-sessions/core/adapter';
import type { MemoryContext } from './connection';
import { TimeIndex } from './time-index';

export class MemoryTasks {
  /** Task id → the task as JSON text. */
  private readonly tasks = new Map<string, string>();
  /** Task ids by `leaseUntil`, and by `expiresAt`. */
  private readonly leases = new TimeIndex<string>((id, at) => this.parsed(id)?.leaseUntil === at);
  private readonly expiries = new TimeIndex<string>((id, at) => this.parsed(id)?.expiresAt === at);

  constructor(private readonly ctx: MemoryContext) {}

  async insertTask(task: TaskRecord): Promise<boolean> {
    this.ctx.assertOpen();
    const text = encodeJson(task as unknown as JsonObject);
    if (this.tasks.has(task.id)) return false;
    this.tasks.set(task.id, text);
    this.index(undefined, task);
    return true;
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    this.ctx.assertOpen();
    return this.parsed(id);
  }

  async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    this.ctx.assertOpen();
    const current = this.parsed(id);
    if (current === undefined || current.version !== expectedVersion) return false;
    this.write(current, { ...current, ...taskStateOf(next) });
    return true;
  }

  async renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    this.ctx.assertOpen();
    const renewed: string[] = [];
    for (const id of ids) {
      const task = this.parsed(id);
      if (task === undefined || task.leaseUntil === null || task.workerId !== workerId) continue;
      this.write(task, { ...task, leaseUntil, version: task.version + 1 });
      renewed.push(id);
    }
    return renewed;
  }

  async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    this.ctx.assertOpen();
    return this.leases.take(query.now, query.limit).map((id) => {
      const task = this.parsed(id)!;
      const claimed = {
        ...task,
        workerId: query.workerId,
        leaseUntil: query.leaseUntil,
        version: task.version + 1,
      };
      this.write(task, claimed);
      return claimed;
    });
  }

  async deleteExpiredTasks(now: number, limit: number): Promise<number> {
    this.ctx.assertOpen();
    const expired = this.expiries.take(now, limit);
    for (const id of expired) {
      const task = this.parsed(id)!;
      this.tasks.delete(id);
      this.index(task, undefined);
    }
    return expired.length;
  }

  async listTasks(query: { limit: number; after?: TaskListAfter }): Promise<TaskRecord[]> {
    this.ctx.assertOpen();
    const { after } = query;
    return [...this.tasks.keys()]
      .map((id) => this.parsed(id)!)
      .filter((task) => after === undefined || compareListOrder(after, task) < 0)
      .sort(compareListOrder)
      .slice(0, query.limit);
  }

  // --- Internal helpers ---

  private parsed(id: string): TaskRecord | undefined {
    const text = this.tasks.get(id);
    return text === undefined ? undefined : (decodeJson(text) as unknown as TaskRecord);
  }

  private write(before: TaskRecord, after: TaskRecord): void {
    this.tasks.set(after.id, encodeJson(after as unknown as JsonObject));
    this.index(before, after);
  }

  /** Moves a task between instants of both indexes (`undefined`: it has none, or is gone). */
  private index(before: TaskRecord | undefined, after: TaskRecord | undefined): void {
    if (before?.leaseUntil != null && before.leaseUntil !== after?.leaseUntil)
      this.leases.remove(before.leaseUntil);
    if (after?.leaseUntil != null && after.leaseUntil !== before?.leaseUntil)
      this.leases.add(after.id, after.leaseUntil);
    if (before?.expiresAt != null && before.expiresAt !== after?.expiresAt)
      this.expiries.remove(before.expiresAt);
    if (after?.expiresAt != null && after.expiresAt !== before?.expiresAt)
      this.expiries.add(after.id, after.expiresAt);
  }
}
