import { StoreError } from '@mcp-sessions/core';
import {
  type ClaimLapsedQuery,
  compareListOrder,
  compareNames,
  encodeJson,
  isTaskStatus,
  type TaskIdentity,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
  taskStateOf,
} from '@mcp-sessions/core/adapter';
import { type BucketIndex, type IndexChange, type KvIo, timeOf } from './buckets';
import { CHUNK, isNumber, type KeyvContext, type Op, parse } from './connection';
import type { KeySpace } from './keys';

interface StateWrite {
  id: string;
  prev: TaskState;
  next: TaskState;
}

/**
 * Tasks (MCP's Tasks extension): two values per task, as for session records (the identity,
 * written once, and the state every other write rewrites), with lease, expiry and creation bucket
 * indexes of their own. Each read-modify-write holds the task's lock of this process, so of
 * concurrent claims in one process each lapsed task goes to one claimer; across processes nothing
 * holds (`atomic: false`).
 */
export class KeyvTasks {
  private readonly keys: KeySpace;
  private readonly index: BucketIndex;

  constructor(private readonly ctx: KeyvContext) {
    this.keys = ctx.keys;
    this.index = ctx.taskIndex;
  }

  async insertTask(task: TaskRecord): Promise<boolean> {
    const identity = encodeJson(identityOf(task), 1);
    const state = encodeJson(taskStateOf(task), 1);
    const { id } = task;
    return this.ctx.run('insertTask', (op) =>
      this.ctx.tasks.with([id], async () => {
        if ((await this.ctx.getOne(op, this.keys.taskState(id))) !== undefined) return false;
        // Index entries, then the identity, then the state: the task exists once that lands.
        await this.index.apply(this.ctx.io(op), [
          { kind: 'taskCreated', entry: [id, task.createdAt], add: true },
          ...moves(id, undefined, task),
        ]);
        await this.ctx.setOne(op, this.keys.taskIdentity(id), identity);
        await this.ctx.setOne(op, this.keys.taskState(id), state);
        return true;
      }),
    );
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    return this.ctx.run('getTask', async (op) => (await this.readTasks(op, [id]))[0]);
  }

  async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    const state = taskStateOf(next); // the state fields by name: the identity is never rewritten
    encodeJson(state, 1); // refuse what cannot round-trip before taking the lock
    return this.ctx.run('compareAndSetTask', (op) =>
      this.ctx.tasks.with([id], async () => {
        const [prev] = await this.readStates(op, [id]);
        if (prev?.version !== expectedVersion) return false;
        await this.writeStates(op, [{ id, prev, next: state }]);
        return true;
      }),
    );
  }

  async renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    const unique = [...new Set(ids)];
    return this.ctx.run('renewTaskLeases', (op) =>
      this.ctx.tasks.with(unique, async () => {
        const prevs = await this.readStates(op, unique);
        const writes: StateWrite[] = [];
        unique.forEach((id, i) => {
          const prev = prevs[i];
          if (prev === undefined || prev.leaseUntil === null || prev.workerId !== workerId) return;
          writes.push({ id, prev, next: { ...prev, leaseUntil, version: prev.version + 1 } });
        });
        await this.writeStates(op, writes);
        const renewed = new Set(writes.map((w) => w.id));
        return ids.filter((id) => renewed.has(id));
      }),
    );
  }

  async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    return this.ctx.run('claimLapsedTasks', async (op) => {
      const io = this.ctx.io(op);
      const claimed: TaskRecord[] = [];
      const taken = new Set<string>();
      while (claimed.length < query.limit) {
        const candidates = await this.passed(io, 'taskLease', query.now, query.limit - claimed.length, taken);
        if (candidates.length === 0) break;
        const ids = candidates.map((c) => c.id);
        await this.ctx.tasks.with(ids, async () => {
          const tasks = await this.readTasks(op, ids);
          const writes: StateWrite[] = [];
          const stale: IndexChange[] = [];
          candidates.forEach((c, i) => {
            const prev = tasks[i];
            // An entry whose time is not the task's lease is a leftover (or was claimed meanwhile).
            if (prev?.leaseUntil !== c.at) {
              stale.push({ kind: 'taskLease', entry: [c.id, c.at], add: false });
              return;
            }
            taken.add(c.id);
            const next: TaskState = {
              ...taskStateOf(prev),
              workerId: query.workerId,
              leaseUntil: query.leaseUntil,
              version: prev.version + 1,
            };
            writes.push({ id: c.id, prev, next });
            claimed.push({ ...prev, ...next });
          });
          await this.writeStates(op, writes, stale);
        });
      }
      return claimed;
    });
  }

  async deleteExpiredTasks(now: number, limit: number): Promise<number> {
    return this.ctx.run('deleteExpiredTasks', async (op) => {
      const io = this.ctx.io(op);
      let deleted = 0;
      while (deleted < limit) {
        const candidates = await this.passed(io, 'taskExpiry', now, limit - deleted, new Set());
        if (candidates.length === 0) break;
        const ids = candidates.map((c) => c.id);
        deleted += await this.ctx.tasks.with(ids, async () => {
          const tasks = await this.readTasks(op, ids);
          const doomed: TaskRecord[] = [];
          const changes: IndexChange[] = [];
          candidates.forEach((c, i) => {
            const task = tasks[i];
            if (task?.expiresAt !== c.at) {
              changes.push({ kind: 'taskExpiry', entry: [c.id, c.at], add: false });
              return;
            }
            doomed.push(task);
            changes.push(
              { kind: 'taskCreated', entry: [task.id, task.createdAt], add: false },
              ...moves(task.id, task, undefined),
            );
          });
          // The states first: without its state a task is gone, whatever a crash leaves behind.
          await this.ctx.deleteMany(
            op,
            doomed.map((t) => this.keys.taskState(t.id)),
          );
          await this.ctx.deleteMany(
            op,
            doomed.map((t) => this.keys.taskIdentity(t.id)),
          );
          await this.index.apply(io, changes);
          return doomed.length;
        });
      }
      return deleted;
    });
  }

  async listTasks(query: { readonly limit: number; readonly after?: TaskListAfter }): Promise<TaskRecord[]> {
    return this.ctx.run('listTasks', async (op) => {
      const page: TaskRecord[] = [];
      if (query.limit <= 0) return page;
      const io = this.ctx.io(op);
      const { after } = query;
      const start = after ? this.index.bucketOf(after.createdAt) : Number.POSITIVE_INFINITY;
      // Creation never changes, so entries never move: the walk needs no lock against writes.
      for (const bucket of await this.index.bucketsDownFrom(io, 'taskCreated', start)) {
        const entries = (await this.index.entries(io, 'taskCreated', bucket))
          .map((e) => ({ id: e[0], createdAt: timeOf(e) }))
          .filter((e) => !after || compareListOrder(after, e) < 0)
          .sort(compareListOrder);
        let i = 0;
        while (i < entries.length) {
          const chunk = entries.slice(i, i + Math.min(CHUNK, Math.max(query.limit - page.length, 16)));
          i += chunk.length;
          for (const task of await this.readTasks(
            op,
            chunk.map((e) => e.id),
          )) {
            // No task: a leftover entry of an insert or delete a crash cut short.
            if (task === undefined) continue;
            page.push(task);
            if (page.length >= query.limit) return page;
          }
        }
      }
      return page;
    });
  }

  // --- Internal helpers ---

  /**
   * Up to `limit` entries of `kind` at or before `now` (ids in `skip` left out), earliest first,
   * reading the buckets up to `now` only.
   */
  private async passed(
    io: KvIo,
    kind: 'taskLease' | 'taskExpiry',
    now: number,
    limit: number,
    skip: ReadonlySet<string>,
  ): Promise<Array<{ id: string; at: number }>> {
    const found: Array<{ id: string; at: number }> = [];
    for (const bucket of await this.index.bucketsUpTo(io, kind, this.index.bucketOf(now))) {
      for (const e of await this.index.entries(io, kind, bucket)) {
        if (timeOf(e) <= now && !skip.has(e[0])) found.push({ id: e[0], at: timeOf(e) });
      }
      // Later buckets hold only later times: a full bucket's worth is enough to pick from.
      if (found.length >= limit) break;
    }
    return found.sort((a, b) => a.at - b.at || compareNames(a.id, b.id)).slice(0, limit);
  }

  /** The state of each id (undefined: no task). Its presence is what makes a task exist. */
  private async readStates(op: Op, ids: readonly string[]): Promise<Array<TaskState | undefined>> {
    const texts = await this.ctx.getMany(
      op,
      ids.map((id) => this.keys.taskState(id)),
    );
    return ids.map((id, i) => {
      const text = texts[i];
      return text === undefined ? undefined : parseState(id, text);
    });
  }

  /** Whole tasks, both parts read in one round trip. */
  private async readTasks(op: Op, ids: readonly string[]): Promise<Array<TaskRecord | undefined>> {
    const texts = await this.ctx.getMany(
      op,
      ids.flatMap((id) => [this.keys.taskState(id), this.keys.taskIdentity(id)]),
    );
    return ids.map((id, i) => {
      const [state, identity] = [texts[2 * i], texts[2 * i + 1]];
      if (state === undefined) return undefined;
      // The identity is written before the state and deleted after it.
      if (identity === undefined) throw new StoreError(`task ${JSON.stringify(id)} has no identity`);
      return { ...parseIdentity(id, identity), ...parseState(id, state) };
    });
  }

  /**
   * Writes task states, batched. A moved lease or expiry gets its new index entry before the write
   * and loses the old one after it, so each index always holds every task's current position
   * (plus, after a crash, leftovers that the claim and the sweep recognise and drop).
   */
  private async writeStates(op: Op, writes: readonly StateWrite[], stale: IndexChange[] = []) {
    const changes = writes.flatMap((w) => moves(w.id, w.prev, w.next));
    const io = this.ctx.io(op);
    await this.index.apply(
      io,
      changes.filter((c) => c.add),
    );
    await this.ctx.setMany(
      op,
      writes.map((w) => ({ key: this.keys.taskState(w.id), value: encodeJson(taskStateOf(w.next), 1) })),
    );
    await this.index.apply(io, [...stale, ...changes.filter((c) => !c.add)]);
  }
}

/** The lease and expiry index changes that move a task from `before` to `after` (undefined: none, or gone). */
function moves(id: string, before: TaskState | undefined, after: TaskState | undefined): IndexChange[] {
  const changes: IndexChange[] = [];
  for (const [kind, field] of [
    ['taskLease', 'leaseUntil'],
    ['taskExpiry', 'expiresAt'],
  ] as const) {
    const [from, to] = [before?.[field] ?? null, after?.[field] ?? null];
    if (from === to) continue;
    if (from !== null) changes.push({ kind, entry: [id, from], add: false });
    if (to !== null) changes.push({ kind, entry: [id, to], add: true });
  }
  return changes;
}

function identityOf(t: TaskIdentity): TaskIdentity {
  const { id, principal, createdAt, request, rerunnable } = t;
  return { id, principal, createdAt, request, rerunnable };
}

function parseIdentity(id: string, text: string): TaskIdentity {
  const t = parse(
    `identity of task ${JSON.stringify(id)}`,
    text,
    (t) => t.id === id && isNumber(t.createdAt),
  );
  return t as unknown as TaskIdentity;
}

function parseState(id: string, text: string): TaskState {
  const s = parse(
    `state of task ${JSON.stringify(id)}`,
    text,
    (s) => isTaskStatus(s.status) && isNumber(s.version, s.updatedAt, s.attempts),
  );
  return s as unknown as TaskState;
}
