import { SessionExistsError, type SessionRecord } from '@mcp-sessions/core';
import {
  type ClaimDueQuery,
  compareListOrder,
  compareNames,
  type ListQuery,
  livenessOf,
  type SessionLiveness,
  type TouchPatch,
} from '@mcp-sessions/core/adapter';
import { copy, type JsonFileContext } from './connection';
import type { Change } from './journal';

/**
 * Session records: `insert` writes the whole record; `compareAndSet`, `touch` and `claimDue` write
 * only its liveness. A database indexes `dueAt` for `claimDue`; this example scans.
 */
export class JsonFileRecords {
  constructor(private readonly ctx: JsonFileContext) {}

  async insert(record: SessionRecord): Promise<void> {
    this.ctx.open();
    if (this.ctx.records.has(record.id)) throw new SessionExistsError(record.id);
    this.ctx.commit([['record', record]]);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    this.ctx.open();
    const record = this.ctx.records.get(id);
    return record && copy(record);
  }

  async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    this.ctx.open();
    if (this.ctx.records.get(id)?.version !== expectedVersion) return false;
    // Only the ten liveness fields, by name: the identity part is written once, by insert.
    this.ctx.commit([['live', id, livenessOf(next)]]);
    return true;
  }

  async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    this.ctx.open();
    const changes: Change[] = [];
    const { now, dueAt } = patch;
    // A repeated id is touched once, as one `UPDATE ... WHERE id IN (...)` would.
    for (const id of new Set(ids)) {
      const record = this.ctx.records.get(id);
      if (record?.status !== 'active') continue;
      changes.push([
        'live',
        id,
        { ...livenessOf(record), lastHeartbeatAt: now, dueAt, version: record.version + 1 },
      ]);
    }
    this.ctx.commit(changes);
    // Every id as given (repeats included) whose record was touched, in input order: the rule in store.ts.
    const touched = new Set(changes.map((change) => change[1] as string));
    return ids.filter((id) => touched.has(id));
  }

  async delete(id: string): Promise<boolean> {
    this.ctx.open();
    if (!this.ctx.records.has(id)) return false;
    this.ctx.commit([['delete', id]]);
    return true;
  }

  async list(query: ListQuery): Promise<SessionRecord[]> {
    this.ctx.open();
    const { after } = query;
    return [...this.ctx.records.values()]
      .filter((r) => query.statuses.includes(r.status))
      .filter((r) => after === undefined || compareListOrder(r, after) > 0)
      .sort(compareListOrder)
      .slice(0, query.limit)
      .map(copy);
  }

  async claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    this.ctx.open();
    const due = [...this.ctx.records.values()]
      .filter((r) => r.dueAt <= query.now)
      // Earliest first; equal dueAt by id, so that the order is the same on every backend.
      .sort((a, b) => a.dueAt - b.dueAt || compareNames(a.id, b.id))
      .slice(0, query.limit);
    const dueAt = query.now + query.leaseMs;
    this.ctx.commit(
      due.map((r): Change => ['live', r.id, { ...livenessOf(r), dueAt, version: r.version + 1 }]),
    );
    return due.map((r) => copy(this.ctx.records.get(r.id)!));
  }

  async purgeSessionData(id: string): Promise<void> {
    this.ctx.open();
    this.ctx.commit([['purge', id]]);
  }
}
