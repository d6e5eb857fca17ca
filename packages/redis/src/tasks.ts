import { InvalidArgumentError, type JsonObject } from '@mcp-sessions/core';
import {
  type ClaimLapsedQuery,
  compareNames,
  decodeJson,
  encodeJson,
  isTaskStatus,
  type TaskIdentity,
  type TaskListAfter,
  type TaskRecord,
  type TaskState,
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

/** `claimLapsedTasks` and `deleteExpiredTasks` re-peek this many times when another instance took some of their candidates. */
const SWEEP_ROUNDS = 3;

/**
 * Tasks: a hash per task (identity JSON plus one field per state value) in the shard of its own
 * id, indexed per shard by `leaseUntil` (lapsed claims), `expiresAt` (the ttl sweep) and
 * `createdAt` (the `listTasks` order). What spans shards peeks every shard, merges, and then acts
 * per shard in one script that re-checks, as `claimDue` does for sessions.
 */
export class RedisTasks {
  private readonly keys: KeySpace;

  constructor(private readonly ctx: RedisContext) {
    this.keys = ctx.keys;
  }

  async insertTask(task: TaskRecord): Promise<boolean> {
    const k = this.keys;
    const shard = k.shardOf(task.id);
    const inserted = await this.ctx.run(
      lua.INSERT_TASK,
      [k.task(task.id), k.taskCreated(shard), k.taskLease(shard), k.taskExpiry(shard)],
      [
        task.id,
        encodeJson(identityOf(task), 1),
        String(finite('createdAt', task.createdAt)),
        ...stateArgs(task),
      ],
    );
    return inserted === 1;
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const key = this.keys.task(id);
    return parseTask(array(await this.ctx.command(key, ['HMGET', key, 'j', ...lua.TASK_FIELDS])), 0);
  }

  async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    const k = this.keys;
    const shard = k.shardOf(id);
    const written = await this.ctx.run(
      lua.COMPARE_AND_SET_TASK,
      [k.task(id), k.taskLease(shard), k.taskExpiry(shard)],
      [id, String(expectedVersion), ...stateArgs(next)],
    );
    return written === 1;
  }

  async renewTaskLeases(ids: readonly string[], workerId: string, leaseUntil: number): Promise<string[]> {
    this.ctx.connection.assertOpen(); // an empty batch sends nothing, and still must refuse
    const worker = JSON.stringify(String(workerId));
    const lease = String(finite('leaseUntil', leaseUntil));
    // One script per shard, all in flight together: one round trip for the batch.
    const replies = await Promise.all(
      [...byShard(this.keys, ids)].map(([shard, group]) =>
        this.ctx.run(
          lua.RENEW_TASK_LEASES,
          [this.keys.taskLease(shard), ...group.map((id) => this.keys.task(id))],
          [worker, lease, ...group],
        ),
      ),
    );
    const renewed = new Set(replies.flatMap((r) => array(r).map(text)));
    return ids.filter((id) => renewed.has(id));
  }

  async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    const worker = JSON.stringify(String(query.workerId));
    const lease = String(finite('leaseUntil', query.leaseUntil));
    const claimed = new Map<string, { task: TaskRecord; at: number }>();
    for (let round = 0; round < SWEEP_ROUNDS && claimed.size < query.limit; round++) {
      const candidates = await this.peek(
        (shard) => this.keys.taskLease(shard),
        query.now,
        query.limit - claimed.size,
        claimed,
      );
      if (candidates.length === 0) break;
      const replies = await Promise.all(
        [
          ...byShard(
            this.keys,
            candidates.map((c) => c.id),
          ),
        ].map(([shard, group]) =>
          this.ctx.run(
            lua.CLAIM_TASKS,
            [this.keys.taskLease(shard), ...group.map((id) => this.keys.task(id))],
            [String(query.now), worker, lease, ...group],
          ),
        ),
      );
      let won = 0;
      for (const reply of replies) {
        const fields = array(reply);
        for (let i = 0; i < fields.length; i += 1 + lua.TASK_WIDTH) {
          const task = parseTask(fields, i + 1);
          if (!task) continue;
          claimed.set(task.id, { task, at: num(text(fields[i])) });
          won++;
        }
      }
      // Every candidate won: either the limit is reached or nothing else has lapsed.
      if (won === candidates.length) break;
    }
    return [...claimed.values()].sort((a, b) => byTime(a, b, a.task.id, b.task.id)).map((c) => c.task);
  }

  async deleteExpiredTasks(now: number, limit: number): Promise<number> {
    let deleted = 0;
    for (let round = 0; round < SWEEP_ROUNDS && deleted < limit; round++) {
      const candidates = await this.peek(
        (shard) => this.keys.taskExpiry(shard),
        now,
        limit - deleted,
        new Map(),
      );
      if (candidates.length === 0) break;
      const counts = await Promise.all(
        [
          ...byShard(
            this.keys,
            candidates.map((c) => c.id),
          ),
        ].map(([shard, group]) =>
          this.ctx.run(
            lua.DELETE_TASKS,
            [
              this.keys.taskExpiry(shard),
              this.keys.taskLease(shard),
              this.keys.taskCreated(shard),
              ...group.map((id) => this.keys.task(id)),
            ],
            [String(now), ...group],
          ),
        ),
      );
      const n = counts.reduce<number>((sum, c) => sum + integer(c), 0);
      deleted += n;
      // Every candidate deleted: either the limit is reached or nothing else has expired.
      if (n === candidates.length) break;
    }
    return deleted;
  }

  async listTasks(query: { readonly limit: number; readonly after?: TaskListAfter }): Promise<TaskRecord[]> {
    const limit = query.limit;
    if (limit <= 0) return [];
    return topAcrossShards(this.keys.allShards, limit, query.after, async (shard, cursor, quota) => {
      const reply = array(
        await this.ctx.run(
          lua.LIST_TASKS,
          [this.keys.taskCreated(shard)],
          [String(quota), cursor ? String(cursor.createdAt) : '', cursor?.id ?? '', this.keys.tag(shard)],
        ),
      );
      const rows: TaskRecord[] = [];
      for (let at = 3; at < reply.length; at += lua.TASK_WIDTH) {
        const task = parseTask(reply, at);
        if (task) rows.push(task);
      }
      return { rows, exhausted: integer(reply[0]) === 1, cursor: pageCursor(reply) };
    });
  }

  // --- Internal helpers ---

  /** The earliest `want` ids scored <= now in one time index over every shard, leaving out `skip`. */
  private async peek(
    index: (shard: number) => string,
    now: number,
    want: number,
    skip: ReadonlyMap<string, unknown>,
  ): Promise<Array<{ id: string; at: number }>> {
    const peeks = await Promise.all(
      this.keys.allShards.map((shard) =>
        this.ctx.run(lua.PEEK_DUE, [index(shard)], [String(now), String(want)]),
      ),
    );
    return peeks
      .flatMap((r) => pairs(r).map(([id, at]) => ({ id, at: num(at) })))
      .filter((c) => !skip.has(c.id))
      .sort((a, b) => byTime(a, b, a.id, b.id))
      .slice(0, want);
  }
}

function byTime(a: { at: number }, b: { at: number }, aId: string, bId: string): number {
  return a.at - b.at || compareNames(aId, bId);
}

function identityOf(task: TaskIdentity): TaskIdentity {
  return {
    id: task.id,
    principal: task.principal,
    createdAt: task.createdAt,
    request: task.request,
    rerunnable: task.rerunnable,
  };
}

/** The state fields' values in `TASK_FIELDS` order, read by name (a caller may pass a whole task). */
function stateArgs(s: TaskState): string[] {
  if (!isTaskStatus(s.status)) throw new InvalidArgumentError('status', `unknown status ${String(s.status)}`);
  return [
    s.status,
    String(finite('version', s.version)),
    stringOrNull('statusMessage', s.statusMessage),
    String(finite('updatedAt', s.updatedAt)),
    nullable('ttlMs', s.ttlMs),
    nullable('expiresAt', s.expiresAt),
    nullable('pollIntervalMs', s.pollIntervalMs),
    stringOrNull('workerId', s.workerId),
    nullable('leaseUntil', s.leaseUntil),
    String(finite('attempts', s.attempts)),
    objectOrNull('inputRequests', s.inputRequests),
    objectOrNull('result', s.result),
    objectOrNull('error', s.error),
  ];
}

/** A nullable string as JSON (`null` or a string), so '' stays apart from null. */
function stringOrNull(field: string, value: string | null): string {
  if (value !== null && typeof value !== 'string')
    throw new InvalidArgumentError(field, 'must be a string or null');
  return JSON.stringify(value);
}

function objectOrNull(field: string, value: JsonObject | null): string {
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError(field, 'must be an object or null');
  }
  return encodeJson(value);
}

/** The task whose reply values (`j`, then `TASK_FIELDS`) start at `at`, or undefined when absent. */
function parseTask(fields: unknown[], at: number): TaskRecord | undefined {
  const json = optionalText(fields[at]);
  if (json === undefined) return undefined;
  const doc = decodeJson(json);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corrupt('task is not an object');
  // The hash fields by name (`TASK_FIELDS`): s, v, m, u, ttl, x, pi, w, l, a, in, res, err.
  const f = Object.fromEntries(lua.TASK_FIELDS.map((name, i) => [name, text(fields[at + 1 + i])])) as Record<
    (typeof lua.TASK_FIELDS)[number],
    string
  >;
  const status = f.s;
  if (!isTaskStatus(status)) throw corrupt(`unknown task status ${status}`);
  if (typeof doc.rerunnable !== 'boolean') throw corrupt('rerunnable is not a boolean');
  const request = objOrNull(doc.request);
  if (request === null) throw corrupt('request is not an object');
  return {
    id: str(doc, 'id'),
    principal: strOrNull(doc, 'principal'),
    createdAt: num(doc.createdAt),
    request,
    rerunnable: doc.rerunnable,
    status,
    version: num(f.v),
    statusMessage: parseStringOrNull('statusMessage', f.m),
    updatedAt: num(f.u),
    ttlMs: numOrEmpty(f.ttl),
    expiresAt: numOrEmpty(f.x),
    pollIntervalMs: numOrEmpty(f.pi),
    workerId: parseStringOrNull('workerId', f.w),
    leaseUntil: numOrEmpty(f.l),
    attempts: num(f.a),
    inputRequests: objOrNull(decodeJson(f.in)),
    result: objOrNull(decodeJson(f.res)),
    error: objOrNull(decodeJson(f.err)),
  };
}

function parseStringOrNull(field: string, json: string): string | null {
  const value = decodeJson(json);
  if (value !== null && typeof value !== 'string') throw corrupt(`${field} is not a string or null`);
  return value;
}
