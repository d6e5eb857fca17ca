/**
 * The store contract: what an adapter implements. Three facets (session records, agent state,
 * event log) on one object. Adapters persist; every lifecycle decision is made in core.
 *
 * A record has two parts: its identity (`SessionIdentity`), written once by `insert` and never
 * again, and its liveness (`SessionLiveness`), the small part the lifecycle changes: `compareAndSet`
 * and `touch` write only that. Nothing a heartbeat changes orders `list`, so a heartbeat maintains
 * only the sweep's `dueAt` index.
 *
 * Rules every adapter keeps (the conformance suite checks each):
 * - Times are epoch milliseconds chosen by the caller (`now` arguments); a store never reads
 *   its own clock to decide what is expired, so tests move an injected clock instead of sleeping.
 * - Every write to a record sets `version` (compareAndSet: to `next.version`; touch and
 *   claimDue: to `version + 1`), so a compare-and-set based on an older read always fails.
 * - Values cross the boundary as `JsonValue`; adapters serialise with `encodeJson` (which
 *   rejects what cannot round-trip before anything is written) and never hand out a reference
 *   a caller could mutate.
 * - Names: session ids are 1-256 visible ASCII characters; agent ids and keys are 1-1024 UTF-16
 *   units, well formed, without U+0000 (core checks both, so a store never receives others).
 *   A store keeps every such name exactly: no pattern matching on names (LIKE, GLOB, SCAN
 *   wildcards), no separator that lets two (agentId, key) pairs or two sessions collide.
 * - Driver errors are wrapped: unreachable backend → `StoreUnavailableError`, anything else →
 *   `StoreError`, the original as `cause`. Nothing is swallowed.
 * - Orders compare by Unicode code point (UTF-8 byte order, `compareNames`): `list` by
 *   `createdAt` descending then `id` descending; `listState` by `agentId` then `key`,
 *   both ascending; `readEvents` by `seq` ascending; `claimDue` by `dueAt` ascending.
 * - The per-session event counter lives with the record (SQL: a column of the session row;
 *   Redis: a field of the record hash; Keyv: the session manifest; memory: the session's data):
 *   `compareAndSet`, `touch`, `purgeSessionData` and every trim keep it, so no seq is handed out
 *   twice while the record exists; `delete` removes it with the record.
 * - `compareAndSet` writes the record's liveness only: identity, agent state and events stay as
 *   they are.
 * - Live means `endedAt === null` (active or disconnected: the lifecycle sets `endedAt` when a
 *   record ends). `setState` and `appendEvent` guard on that field, never on status names.
 * - `close()` is idempotent; every call after it rejects with `StoreUnavailableError` (a pool or
 *   client passed in by the user stays open, but this store no longer uses it).
 */
import { compareNames } from './ids';
import type { JsonObject, JsonValue } from './json';
import type { SessionStatus } from './status';

export {
  isSessionStatus,
  LIVE_STATUSES,
  SESSION_STATUSES,
  type SessionStatus,
} from './status';

/** The part of a record `insert` writes once and nothing changes afterwards. */
export interface SessionIdentity {
  readonly id: string;
  /** Who the session belongs to (an auth subject), or null for unauthenticated sessions. */
  readonly principal: string | null;
  readonly createdAt: number;
  readonly workingDirectory: string | null;
  readonly metadata: JsonObject | null;
  /** The client's `initialize` request params (protocolVersion, capabilities, clientInfo). */
  readonly initializeParams: JsonObject | null;
}

/** The part of a record the lifecycle changes: all that `compareAndSet` and `touch` write. */
export interface SessionLiveness {
  readonly status: SessionStatus;
  /** Starts at 1; every write sets a higher value. The compare-and-set token. */
  readonly version: number;
  /** `instanceId` of the manager that last initialized or recovered it. Informational. */
  readonly ownerId: string | null;
  readonly lastHeartbeatAt: number;
  readonly disconnectedAt: number | null;
  /** Set on disconnect: recovery is allowed before this instant. */
  readonly graceExpiresAt: number | null;
  readonly recoveryAttempts: number;
  readonly recoveredAt: number | null;
  /** When the session became expired or closed; null while it is live. */
  readonly endedAt: number | null;
  /**
   * When the sweep must next look at this record: end of grace (disconnected, or active
   * without heartbeats), end of tombstone (expired, closed). Always set; stores index it.
   */
  readonly dueAt: number;
}

export interface SessionRecord extends SessionIdentity, SessionLiveness {}

/** The liveness part of a record: what `compareAndSet` is given. */
export function livenessOf(record: SessionLiveness): SessionLiveness {
  return {
    status: record.status,
    version: record.version,
    ownerId: record.ownerId,
    lastHeartbeatAt: record.lastHeartbeatAt,
    disconnectedAt: record.disconnectedAt,
    graceExpiresAt: record.graceExpiresAt,
    recoveryAttempts: record.recoveryAttempts,
    recoveredAt: record.recoveredAt,
    endedAt: record.endedAt,
    dueAt: record.dueAt,
  };
}

/**
 * The ten liveness fields as an array, in declaration order: what a SQL adapter binds to
 * `UPDATE ... SET status = ?, version = ?, ...`. Read by name, so a caller passing a whole record
 * still gives only these.
 */
export function livenessValues(r: SessionLiveness): (string | number | null)[] {
  return [
    r.status,
    r.version,
    r.ownerId,
    r.lastHeartbeatAt,
    r.disconnectedAt,
    r.graceExpiresAt,
    r.recoveryAttempts,
    r.recoveredAt,
    r.endedAt,
    r.dueAt,
  ];
}

/** Keyset position for `list`: the last record of the previous page. */
export interface ListAfter {
  readonly createdAt: number;
  readonly id: string;
}

/**
 * The order of `list`: `createdAt` descending, then `id` descending in code-point order; negative
 * when `a` comes first. For stores that sort or search in JS.
 */
export function compareListOrder(a: ListAfter, b: ListAfter): number {
  return b.createdAt - a.createdAt || compareNames(b.id, a.id);
}

export interface ListQuery {
  /** Only records with one of these statuses. */
  readonly statuses: readonly SessionStatus[];
  readonly limit: number;
  /** Records strictly after this position in the order. */
  readonly after?: ListAfter;
}

export interface TouchPatch {
  readonly now: number;
  /** The new `dueAt` of every touched record. */
  readonly dueAt: number;
}

export interface ClaimDueQuery {
  readonly now: number;
  readonly limit: number;
  /** Claimed records get `dueAt = now + leaseMs`, so concurrent sweepers skip them. */
  readonly leaseMs: number;
}

export interface AgentStateEntry {
  readonly sessionId: string;
  readonly agentId: string;
  readonly key: string;
  readonly value: JsonValue;
  readonly updatedAt: number;
  /** Absolute expiry (epoch ms), or null for none. */
  readonly expiresAt: number | null;
}

export interface AgentStateKey {
  readonly sessionId: string;
  readonly agentId: string;
  readonly key: string;
}

export interface EventEntry {
  readonly sessionId: string;
  readonly streamId: string;
  /** Position in the session's log: > 0, strictly increasing per session, never reused. */
  readonly seq: number;
  readonly message: JsonValue;
  readonly createdAt: number;
}

export interface AppendEvent {
  readonly sessionId: string;
  readonly streamId: string;
  readonly message: JsonValue;
  readonly createdAt: number;
}

export interface ReadEventsQuery {
  readonly sessionId: string;
  /** Events with `seq` greater than this. */
  readonly afterSeq: number;
  /** Only this stream's events, when given. */
  readonly streamId?: string;
  readonly limit?: number;
}

export interface TrimEventsQuery {
  readonly sessionId: string;
  /** Keep at most this many newest events. */
  readonly maxEvents?: number;
  /** Delete events created before this instant. */
  readonly createdBefore?: number;
  /**
   * Keep the newest events whose sizes sum to at most this many bytes; oldest trimmed first.
   * An event's size is the UTF-8 byte length of its message as `encodeJson` text
   * (`jsonByteLength`). An event larger than the budget is trimmed too, even the newest.
   */
  readonly maxBytes?: number;
}

export interface StoreCapabilities {
  /** compareAndSet, touch, claimDue and the cascades are atomic for every client of the backend. */
  readonly atomic: boolean;
  /** An acknowledged write survives a crash of the process (and of the server, as configured). */
  readonly durable: boolean;
  /** Several processes (instances) may share the store. */
  readonly crossProcess: boolean;
  /** It keeps tasks: implements `TaskStore` (`task-store.ts`). */
  readonly tasks?: boolean;
}

export interface SessionStore {
  /** A short name for logs and test titles, such as `sqlite` or `redis`. */
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  // --- Session records ---
  /** Throws `SessionExistsError` when the id is taken (by any record, tombstones included). */
  insert(record: SessionRecord): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Writes `next` as record `id`'s liveness if the stored version is `expectedVersion`; false when
   * it is not (or there is no record). The identity part is never rewritten.
   */
  compareAndSet(id: string, next: SessionLiveness, expectedVersion: number): Promise<boolean>;
  /**
   * Heartbeat for many records in one round trip: for each id whose record is `active`, sets
   * `lastHeartbeatAt = now`, `dueAt`, `version + 1`. Returns the ids it touched, in input order.
   * Core passes each id once; a duplicated id comes back as often as given, and its version may
   * rise by one per occurrence (memory, Redis) or once (SQL, Keyv): compare versions, never count.
   *
   * Stable batches: core passes ids sorted (code-unit order) in frozen arrays, and passes the
   * same array object again at the next tick while that batch's ids are unchanged. A store may
   * remember per array what its ids resolved to (a `WeakMap` keyed by the array: the memory
   * store does, because resolving 100k ids costs more than the whole tick's goal), but must
   * check each remembered entry before use: any other caller may pass any array.
   */
  touch(ids: readonly string[], patch: TouchPatch): Promise<string[]>;
  /** Deletes the record with its agent state and events. False when there was none. */
  delete(id: string): Promise<boolean>;
  /**
   * Keyset page ordered by `createdAt` descending, then `id` descending: an order no heartbeat
   * changes, so a record never moves between pages while they are read. Never OFFSET.
   */
  list(query: ListQuery): Promise<SessionRecord[]>;
  /**
   * Records with `dueAt <= now`, earliest first, at most `limit`, found through an index.
   * Atomically leases them (see `ClaimDueQuery`) so two sweepers do not take the same record.
   * Returns them as stored after the lease (new `dueAt` and `version`), by their `dueAt` before
   * the lease. Among records due at the same instant, which are taken first when `limit` cuts
   * between them is unspecified (stores differ: SQLite and Redis take the lowest id first), and
   * so is their order in the result. Each is claimed by one call only; the rest stay due.
   */
  claimDue(query: ClaimDueQuery): Promise<SessionRecord[]>;
  /**
   * Deletes the session's agent state and events, keeping the record (expired tombstone) and its
   * event counter.
   */
  purgeSessionData(id: string): Promise<void>;

  // --- Agent state ---
  /**
   * Upsert. Throws `SessionNotFoundError` unless a record with `sessionId` exists and is live
   * (`endedAt` null), checked atomically with the write: no state outlives its session.
   */
  setState(entry: AgentStateEntry): Promise<void>;
  /** The entry, unless missing or `expiresAt <= now`. */
  getState(key: AgentStateKey, now: number): Promise<AgentStateEntry | undefined>;
  deleteState(key: AgentStateKey): Promise<boolean>;
  /** Unexpired entries of a session (of one agent, when given), ordered by agentId then key. */
  listState(sessionId: string, agentId: string | undefined, now: number): Promise<AgentStateEntry[]>;
  /** Deletes entries with `expiresAt <= now` through an index; returns how many. */
  purgeExpiredState(now: number): Promise<number>;

  // --- Event log (MCP resumability) ---
  /** Appends and returns the new event's `seq`. Throws `SessionNotFoundError` as `setState` does. */
  appendEvent(event: AppendEvent): Promise<number>;
  /**
   * Events of one session after a position, in `seq` order. Never another session's. With a
   * `streamId`, `limit` counts the events of that stream returned (not the events scanned).
   */
  readEvents(query: ReadEventsQuery): Promise<EventEntry[]>;
  /** The stream an event belongs to, if that event is still stored. */
  getEventStream(sessionId: string, seq: number): Promise<string | undefined>;
  /**
   * Deletes the oldest events of a session that any given bound excludes (an event goes when
   * `maxEvents`, `createdBefore` or `maxBytes` says so). Returns how many events were deleted.
   */
  trimEvents(query: TrimEventsQuery): Promise<number>;

  /** Releases what the store opened itself; leaves a client or pool passed in by the user open. */
  close(): Promise<void>;
}
