/**
 * The suite tested: deliberately broken variants of the memory adapter must each fail at least
 * one conformance test (and the one we expect), while the unbroken store fails none. Each mutant
 * breaks the store through its public methods only, so the memory store's internals may change.
 */
import type { AgentStateEntry, JsonValue, SessionRecord, SessionStore } from '@mcp-sessions/core';
import {
  type AgentStateKey,
  type AppendEvent,
  type ClaimDueQuery,
  type ClaimLapsedQuery,
  type EventEntry,
  type ListQuery,
  livenessOf,
  type ReadEventsQuery,
  type SessionLiveness,
  type TaskRecord,
  type TaskState,
  type TouchPatch,
  type TrimEventsQuery,
  taskStateOf,
} from '@mcp-sessions/core/adapter';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HOUR, runConformance } from '../src/index';
import { type Outcome, Recorder } from './recorder';

// --- The mutants: each breaks one promise of the contract ---

/** Every third setState is acknowledged but not stored. */
class LostWrites extends MemorySessionStore {
  private mutantWrites = 0;
  override async setState(entry: AgentStateEntry): Promise<void> {
    if (++this.mutantWrites % 3 === 0) return;
    return super.setState(entry);
  }
}

/** compareAndSet writes whatever the stored version is. */
class CasIgnoresVersion extends MemorySessionStore {
  override async compareAndSet(
    id: string,
    next: SessionLiveness,
    _expectedVersion: number,
  ): Promise<boolean> {
    const current = await super.get(id);
    return current ? super.compareAndSet(id, next, current.version) : false;
  }
}

/** Checks the version, yields, then writes unconditionally: fine alone, loses updates under races. */
class NonAtomicCas extends MemorySessionStore {
  override async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const before = await super.get(id);
    if (before?.version !== expectedVersion) return false;
    await new Promise((resolve) => setImmediate(resolve));
    const now = await super.get(id);
    return now ? super.compareAndSet(id, next, now.version) : false;
  }
}

/**
 * compareAndSet spreads `next` over the stored record, so identity fields a JavaScript caller
 * passes along are written too (here as a delete and re-insert of the merged record).
 */
class CasRewritesIdentity extends MemorySessionStore {
  override async compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean> {
    const current = await super.get(id);
    if (current?.version !== expectedVersion) return false;
    const merged: SessionRecord = { ...current, ...next, id };
    if (JSON.stringify(merged) === JSON.stringify({ ...current, ...livenessOf(next) }))
      return super.compareAndSet(id, next, expectedVersion);
    await super.delete(id);
    await super.insert(merged);
    return true;
  }
}

/** getState returns entries past their expiresAt. */
class ExpiryIgnored extends MemorySessionStore {
  override getState(key: AgentStateKey, _now: number): Promise<AgentStateEntry | undefined> {
    return super.getState(key, Number.NEGATIVE_INFINITY);
  }
}

/** Each page after the first silently drops its first record. */
class ListingSkips extends MemorySessionStore {
  override async list(query: ListQuery): Promise<SessionRecord[]> {
    if (!query.after) return super.list(query);
    return (await super.list({ ...query, limit: query.limit + 1 })).slice(1);
  }
}

/** `after` is inclusive: each page after the first starts with the previous page's last record. */
class ListingRepeats extends MemorySessionStore {
  override list(query: ListQuery): Promise<SessionRecord[]> {
    const after = query.after && { createdAt: query.after.createdAt, id: `${query.after.id}\u0000` };
    return super.list({ ...query, after });
  }
}

/**
 * The v1 order: `lastHeartbeatAt` descending, then id, the keyset's instant read as a heartbeat.
 * Every touch moves a record, so pages read during heartbeats skip and repeat records.
 */
class ListingByHeartbeat extends MemorySessionStore {
  override async list(query: ListQuery): Promise<SessionRecord[]> {
    const all = await super.list({ statuses: query.statuses, limit: Number.MAX_SAFE_INTEGER });
    const byHeartbeat = (a: SessionRecord, b: SessionRecord) =>
      b.lastHeartbeatAt - a.lastHeartbeatAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
    const after = query.after;
    return all
      .sort(byHeartbeat)
      .filter(
        (r) =>
          !after ||
          r.lastHeartbeatAt < after.createdAt ||
          (r.lastHeartbeatAt === after.createdAt && r.id < after.id),
      )
      .slice(0, query.limit);
  }
}

/** The status filter is ignored. */
class ListingIgnoresStatus extends MemorySessionStore {
  override list(query: ListQuery): Promise<SessionRecord[]> {
    return super.list({ ...query, statuses: ['active', 'disconnected', 'expired', 'closed'] });
  }
}

/** readEvents returns every session's events. */
class EventLeak extends MemorySessionStore {
  private readonly mutantSessions = new Set<string>();
  override appendEvent(event: AppendEvent): Promise<number> {
    this.mutantSessions.add(event.sessionId);
    return super.appendEvent(event);
  }
  override async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const all = (
      await Promise.all(
        [...this.mutantSessions].map((sessionId) => super.readEvents({ ...query, sessionId })),
      )
    ).flat();
    all.sort((a, b) => a.seq - b.seq);
    return query.limit === undefined ? all : all.slice(0, query.limit);
  }
}

/** Hands out (and keeps) the caller's objects by reference. */
class SharedMutableValues extends MemorySessionStore {
  private readonly mutantRefs = new Map<string, JsonValue>();
  override async setState(entry: AgentStateEntry): Promise<void> {
    await super.setState(entry);
    this.mutantRefs.set(slotOf(entry), entry.value);
  }
  override async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const entry = await super.getState(key, now);
    const ref = this.mutantRefs.get(slotOf(key));
    return entry && ref !== undefined ? { ...entry, value: ref } : entry;
  }
}

/** touch also heartbeats disconnected, expired and closed records. */
class TouchAll extends MemorySessionStore {
  override async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const touched = await super.touch(ids, patch);
    for (const id of ids) {
      const record = await super.get(id);
      if (!record || touched.includes(id)) continue;
      const next = {
        ...livenessOf(record),
        lastHeartbeatAt: patch.now,
        dueAt: patch.dueAt,
        version: record.version + 1,
      };
      if (await super.compareAndSet(id, next, record.version)) touched.push(id);
    }
    return touched;
  }
}

/** touch does not bump the version, so a compare-and-set from before the heartbeat still wins. */
class TouchKeepsVersion extends MemorySessionStore {
  override async touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const touched = await super.touch(ids, patch);
    for (const id of touched) {
      const record = await super.get(id);
      if (record)
        await super.compareAndSet(id, { ...livenessOf(record), version: record.version - 1 }, record.version);
    }
    return touched;
  }
}

/** touch remembers each batch by the identity of the caller's array: reused arrays touch stale ids. */
class TouchCachedByArray extends MemorySessionStore {
  private readonly mutantBatches = new WeakMap<readonly string[], string[]>();
  override touch(ids: readonly string[], patch: TouchPatch): Promise<string[]> {
    const batch = this.mutantBatches.get(ids) ?? [...ids];
    this.mutantBatches.set(ids, batch);
    return super.touch(batch, patch);
  }
}

/** insert of a taken id overwrites it. */
class InsertOverwrites extends MemorySessionStore {
  override async insert(record: SessionRecord): Promise<void> {
    await super.delete(record.id);
    await super.insert(record);
  }
}

/** Checks the id is free, yields, then writes over whatever got there first: racing inserts all "win". */
class RacyInsert extends MemorySessionStore {
  override async insert(record: SessionRecord): Promise<void> {
    if (await super.get(record.id)) return super.insert(record);
    await new Promise((resolve) => setImmediate(resolve));
    await super.delete(record.id);
    await super.insert(record);
  }
}

/** claimDue returns due records without leasing them. */
class ClaimWithoutLease extends MemorySessionStore {
  override claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return super.claimDue({ ...query, leaseMs: 0 });
  }
}

/** claimDue takes one record more than asked. */
class ClaimIgnoresLimit extends MemorySessionStore {
  override claimDue(query: ClaimDueQuery): Promise<SessionRecord[]> {
    return super.claimDue({ ...query, limit: query.limit + 1 });
  }
}

/** purgeExpiredState also deletes entries expiring within the next hour. */
class PurgeTooEager extends MemorySessionStore {
  override purgeExpiredState(now: number): Promise<number> {
    return super.purgeExpiredState(now + HOUR);
  }
}

/** setState writes to expired and closed sessions too (state outlives its session). */
class StateOnDeadSessions extends MemorySessionStore {
  override async setState(entry: AgentStateEntry): Promise<void> {
    const record = await super.get(entry.sessionId);
    if (!record || record.endedAt === null) return super.setState(entry);
    await setWhileRevived(this, record, () => super.setState(entry));
  }
}

/** setState guards on `status !== 'closed'` only, so an expired session still takes state. */
class StateGuardNotClosed extends MemorySessionStore {
  override async setState(entry: AgentStateEntry): Promise<void> {
    const record = await super.get(entry.sessionId);
    if (!record || record.endedAt === null || record.status === 'closed') return super.setState(entry);
    await setWhileRevived(this, record, () => super.setState(entry));
  }
}

/** setState guards on the status names `active` / `disconnected` instead of `endedAt`. */
class StateGuardOnStatusNames extends MemorySessionStore {
  override async setState(entry: AgentStateEntry): Promise<void> {
    const record = await super.get(entry.sessionId);
    if (
      !record ||
      record.endedAt === null ||
      (record.status !== 'active' && record.status !== 'disconnected')
    )
      return super.setState(entry);
    await setWhileRevived(this, record, () => super.setState(entry));
  }
}

/** Deletes the old value before encoding the new one: an invalid value loses the previous one. */
class WriteBeforeValidate extends MemorySessionStore {
  override async setState(entry: AgentStateEntry): Promise<void> {
    await super.deleteState(entry);
    return super.setState(entry);
  }
}

/**
 * The seq counter is the number of stored events (`COUNT(*) + 1`): a trim rebuilds the log (the
 * record re-inserted, the remaining events appended again), so seqs are handed out again.
 */
class SeqReusedAfterTrim extends MemorySessionStore {
  override async trimEvents(query: TrimEventsQuery): Promise<number> {
    const trimmed = await super.trimEvents(query);
    const record = await super.get(query.sessionId);
    if (!record || trimmed === 0) return trimmed;
    const kept = await super.readEvents({ sessionId: query.sessionId, afterSeq: 0 });
    const state = await super.listState(query.sessionId, undefined, Number.NEGATIVE_INFINITY);
    await super.delete(record.id);
    await super.insert(record);
    await setWhileRevived(this, record, async () => {
      for (const e of state) await super.setState(e);
      for (const e of kept) await super.appendEvent(e);
    });
    return trimmed;
  }
}

/** trimEvents ignores the byte budget. */
class TrimIgnoresBytes extends MemorySessionStore {
  override trimEvents(query: TrimEventsQuery): Promise<number> {
    return super.trimEvents({ ...query, maxBytes: undefined });
  }
}

/** The byte budget counts UTF-16 code units instead of UTF-8 bytes. */
class TrimCountsCodeUnits extends MemorySessionStore {
  override async trimEvents(query: TrimEventsQuery): Promise<number> {
    if (query.maxBytes === undefined) return super.trimEvents(query);
    const { maxBytes, ...rest } = query;
    let trimmed = await super.trimEvents(rest);
    const events = await super.readEvents({ sessionId: query.sessionId, afterSeq: 0 });
    let total = events.reduce((sum, e) => sum + JSON.stringify(e.message).length, 0);
    let keep = 0;
    while (total > maxBytes && keep < events.length) total -= JSON.stringify(events[keep++]!.message).length;
    if (keep > 0)
      trimmed += await super.trimEvents({ sessionId: query.sessionId, maxEvents: events.length - keep });
    return trimmed;
  }
}

/** purgeSessionData deletes and re-inserts the record, resetting the event counter: seqs reused. */
class CounterResetByPurge extends MemorySessionStore {
  override async purgeSessionData(id: string): Promise<void> {
    const record = await super.get(id);
    await super.delete(id);
    if (record) await super.insert(record);
  }
}

/** close() does nothing: the store keeps answering. */
class UsableAfterClose extends MemorySessionStore {
  override async close(): Promise<void> {}
}

/** delete removes the record but leaves its state and events behind, as orphan rows would. */
class DeleteWithoutCascade extends MemorySessionStore {
  private readonly mutantOrphans = new Map<string, { state: AgentStateEntry[]; events: EventEntry[] }>();
  override async delete(id: string): Promise<boolean> {
    const state = await super.listState(id, undefined, Number.NEGATIVE_INFINITY);
    const events = await super.readEvents({ sessionId: id, afterSeq: 0 });
    const deleted = await super.delete(id);
    if (deleted) this.mutantOrphans.set(id, { state, events });
    return deleted;
  }
  override async getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined> {
    const orphan = this.mutantOrphans
      .get(key.sessionId)
      ?.state.find((e) => e.agentId === key.agentId && e.key === key.key);
    return (await super.getState(key, now)) ?? orphan;
  }
  override async readEvents(query: ReadEventsQuery): Promise<EventEntry[]> {
    const orphans =
      this.mutantOrphans.get(query.sessionId)?.events.filter((e) => e.seq > query.afterSeq) ?? [];
    return [...orphans, ...(await super.readEvents(query))];
  }
}

/** Tasks: compareAndSetTask drops the result it is given. */
class LosesTaskResult extends MemorySessionStore {
  override async compareAndSetTask(id: string, next: TaskState, expectedVersion: number): Promise<boolean> {
    return super.compareAndSetTask(id, { ...taskStateOf(next), result: null }, expectedVersion);
  }
}

/** Tasks: compareAndSetTask ignores the version, so a worker's late write un-cancels a task. */
class UncancelsTask extends MemorySessionStore {
  override async compareAndSetTask(id: string, next: TaskState, _expectedVersion: number): Promise<boolean> {
    const current = await super.getTask(id);
    return current ? super.compareAndSetTask(id, next, current.version) : false;
  }
}

/** Tasks: a claim leaves the lease looking lapsed, so the next claimer takes the same task: two workers. */
class TwoWorkersOneLease extends MemorySessionStore {
  override async claimLapsedTasks(query: ClaimLapsedQuery): Promise<TaskRecord[]> {
    const claimed = await super.claimLapsedTasks(query);
    for (const task of claimed) {
      await super.compareAndSetTask(
        task.id,
        { ...taskStateOf(task), leaseUntil: query.now, version: task.version + 1 },
        task.version,
      );
    }
    return claimed;
  }
}

/** Tasks: the ttl is ignored: nothing is ever deleted. */
class IgnoresTaskTtl extends MemorySessionStore {
  override async deleteExpiredTasks(_now: number, _limit: number): Promise<number> {
    return 0;
  }
}

interface Mutant {
  name: string;
  create(): SessionStore;
  /** At least one of these must be among the failures: the mutant is caught for the right reason. */
  caughtBy: string[];
  /** The suite's `scale`, for a mutant too slow at the required sizes (default 1). */
  scale?: number;
}

const mutants: Mutant[] = [
  {
    name: 'lost writes',
    create: () => new LostWrites(),
    caughtBy: ['state: entries are scoped by session, agent and key'],
  },
  {
    name: 'CAS ignores the version',
    create: () => new CasIgnoresVersion(),
    caughtBy: ['cas: refuses a stale version and keeps the stored record'],
  },
  {
    name: 'CAS rewrites identity from extra fields',
    create: () => new CasRewritesIdentity(),
    caughtBy: [
      'cas: writes the liveness only: identity fields passed along (as a JS caller may) are ignored',
    ],
  },
  {
    name: 'non-atomic CAS',
    create: () => new NonAtomicCas(),
    caughtBy: ['concurrency: 50 parallel compare-and-set writers lose no update'],
  },
  {
    name: 'expiry ignored',
    create: () => new ExpiryIgnored(),
    caughtBy: ['state: never returns an entry at or after its expiresAt (moving the clock, no sleeps)'],
  },
  {
    name: 'listing skips at page borders',
    create: () => new ListingSkips(),
    caughtBy: ['listing: keyset pagination over 10k records has no duplicates, gaps or reordering'],
  },
  {
    name: 'listing repeats at page borders',
    create: () => new ListingRepeats(),
    caughtBy: ['listing: keyset pagination over 10k records has no duplicates, gaps or reordering'],
  },
  {
    name: 'listing by heartbeat',
    create: () => new ListingByHeartbeat(),
    scale: 0.1, // it copies and sorts every record per page
    caughtBy: [
      'listing: orders by createdAt descending, then id descending; never by heartbeat',
      'listing: pages read while records are touched and written: every record exactly once, none moved',
    ],
  },
  {
    name: 'listing ignores status',
    create: () => new ListingIgnoresStatus(),
    caughtBy: ['listing: filters by status'],
  },
  {
    name: 'cross-session event leak',
    create: () => new EventLeak(),
    caughtBy: ["events: sessions have their own seqs and never see each other's events"],
  },
  {
    name: 'shared mutable values',
    create: () => new SharedMutableValues(),
    caughtBy: ['values: returned values are copies: mutating them changes nothing stored'],
  },
  {
    name: 'touch touches non-active records',
    create: () => new TouchAll(),
    caughtBy: ['records: touch updates active records only and returns their ids'],
  },
  {
    name: 'touch keeps the version',
    create: () => new TouchKeepsVersion(),
    caughtBy: ['cas: a write based on a read before touch fails'],
  },
  {
    name: 'touch cached by array identity',
    create: () => new TouchCachedByArray(),
    caughtBy: [
      'records: touch reads the ids of every call: an array reused with other contents is read again',
    ],
  },
  {
    name: 'insert overwrites duplicates',
    create: () => new InsertOverwrites(),
    caughtBy: ['records: insert rejects a duplicate id'],
  },
  {
    name: 'insert overwrites under a race',
    create: () => new RacyInsert(),
    caughtBy: [
      'once: 20 parallel inserts of one id: exactly one succeeds, the others SessionExistsError',
      'once: consumeOnce through several managers: exactly one true per key, false afterwards',
    ],
  },
  {
    name: 'claimDue without lease',
    create: () => new ClaimWithoutLease(),
    caughtBy: [
      'due: claimed records are leased: dueAt = now + leaseMs, version + 1, not claimed again before',
    ],
  },
  {
    name: 'claimDue ignores limit',
    create: () => new ClaimIgnoresLimit(),
    caughtBy: ['due: claims at most limit records, the earliest'],
  },
  {
    name: 'purge deletes unexpired state',
    create: () => new PurgeTooEager(),
    caughtBy: ['state: purgeExpiredState deletes expired entries only and counts no more than it deleted'],
  },
  {
    name: 'state written to dead sessions',
    create: () => new StateOnDeadSessions(),
    caughtBy: ['state: setState needs a live session: missing, expired and closed are SessionNotFoundError'],
  },
  {
    name: "setState guards on status !== 'closed' only",
    create: () => new StateGuardNotClosed(),
    caughtBy: ['state: setState needs a live session: missing, expired and closed are SessionNotFoundError'],
  },
  {
    name: 'setState guards on status names, not endedAt',
    create: () => new StateGuardOnStatusNames(),
    caughtBy: [
      'state: live means endedAt null: setState and appendEvent refuse an ended record, whatever its status',
    ],
  },
  {
    name: 'write before validate',
    create: () => new WriteBeforeValidate(),
    caughtBy: ['values: unstorable state values are rejected with InvalidValueError and nothing is written'],
  },
  {
    name: 'seq reused after trim',
    create: () => new SeqReusedAfterTrim(),
    caughtBy: ['events: trim by count keeps the newest events and the seq counter'],
  },
  {
    name: 'trim ignores maxBytes',
    create: () => new TrimIgnoresBytes(),
    caughtBy: [
      'events: trim by bytes keeps the newest events whose UTF-8 JSON sizes sum to at most maxBytes',
    ],
  },
  {
    name: 'byte budget in UTF-16 units',
    create: () => new TrimCountsCodeUnits(),
    caughtBy: [
      'events: trim by bytes keeps the newest events whose UTF-8 JSON sizes sum to at most maxBytes',
    ],
  },
  {
    name: 'event counter reset by purge',
    create: () => new CounterResetByPurge(),
    caughtBy: [
      'events: the seq counter survives compareAndSet, touch and purgeSessionData; compareAndSet keeps state and events',
    ],
  },
  {
    name: 'usable after close',
    create: () => new UsableAfterClose(),
    caughtBy: ['records: close() is idempotent, and every call after it rejects with StoreUnavailableError'],
  },
  {
    name: 'delete without cascade',
    create: () => new DeleteWithoutCascade(),
    caughtBy: ['records: delete cascades to agent state and events'],
  },
  {
    name: 'a task loses its result',
    create: () => new LosesTaskResult(),
    caughtBy: [
      'tasks: a completed task keeps its result, a failed one its error, an input_required one its input requests',
    ],
  },
  {
    name: 'a task un-cancelled by a late worker write',
    create: () => new UncancelsTask(),
    caughtBy: [
      'tasks: a cancelled task stays cancelled: a worker write on the version it read is refused, no claim takes it',
    ],
  },
  {
    name: 'two workers hold one task lease',
    create: () => new TwoWorkersOneLease(),
    caughtBy: [
      "tasks: a claimed task's lease is held: another claim takes nothing until it lapses again, and only its holder renews it",
    ],
  },
  {
    name: 'task ttl ignored',
    create: () => new IgnoresTaskTtl(),
    caughtBy: [
      'tasks: deleteExpiredTasks deletes the tasks whose ttl is over, and only those, counting what it deleted',
    ],
  },
];

async function runSuite(createStore: () => SessionStore, scale = 1): Promise<Map<string, Outcome>> {
  const recorder = new Recorder();
  runConformance({ name: 'mutant', ...recorder.runner, createStore, scale });
  return recorder.run();
}

function failures(results: Map<string, Outcome>): string[] {
  return [...results].filter(([, o]) => o.status === 'fail').map(([name]) => name);
}

describe('the conformance suite catches broken stores', () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  beforeAll(() => warn.mockClear());
  afterAll(() => warn.mockRestore());

  it('the unbroken memory store fails no test', async () => {
    const results = await runSuite(() => new MemorySessionStore());
    const failed = [...results].filter(([, o]) => o.status === 'fail');
    expect(failed.map(([name, o]) => `${name}: ${o.status === 'fail' ? String(o.error) : ''}`)).toEqual([]);
    const passed = [...results.values()].filter((o) => o.status === 'pass').length;
    expect(passed).toBeGreaterThan(80);
    expect([...results].filter(([, o]) => o.status === 'skip').map(([n]) => n)).toEqual([
      'durability: records, state and events survive close and reopen',
      'durability: versions and due times keep working after reopen',
      'durability: a shared secret survives close and reopen',
    ]);
  });

  for (const mutant of mutants) {
    it(`catches: ${mutant.name}`, async () => {
      const failed = failures(await runSuite(mutant.create, mutant.scale));
      expect(failed.length, `${mutant.name} passed every conformance test`).toBeGreaterThan(0);
      expect(
        mutant.caughtBy.some((name) => failed.includes(name)),
        `${mutant.name} failed only: ${failed.join(' | ')}`,
      ).toBe(true);
    });
  }
});

/**
 * Runs `write` while `record` is made live (`endedAt` null) through compareAndSet, then ends it
 * again: how a mutant reaches past the store's own liveness guard using its public methods.
 */
async function setWhileRevived(
  store: SessionStore,
  record: SessionRecord,
  write: () => Promise<unknown>,
): Promise<void> {
  if (record.endedAt === null) {
    await write();
    return;
  }
  const revived = { ...livenessOf(record), endedAt: null, version: record.version + 1 };
  await store.compareAndSet(record.id, revived, record.version);
  await write();
  await store.compareAndSet(
    record.id,
    { ...livenessOf(record), version: record.version + 2 },
    revived.version,
  );
}

function slotOf(key: { sessionId: string; agentId: string; key: string }): string {
  return JSON.stringify([key.sessionId, key.agentId, key.key]);
}
