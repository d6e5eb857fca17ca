/**
 * The commands, each a function from a manager (over the store) to a result: a JSON document for
 * `--json` and the text a person reads. Every read is a keyset page; nothing loads a whole store.
 */

import {
  type JsonObject,
  type SessionManager,
  type SessionRecord,
  type SessionStatus,
  type SessionStore,
  StoreError,
  TaskManager,
  TaskRefusedError,
} from '@mcp-sessions/core';
import {
  encodeJson,
  expiryCause,
  hasTasks,
  idleSince,
  jsonByteLength,
  LIVE_STATUSES,
  type ListAfter,
  RECORD_KIND_KEY,
  type RecordKind,
  recordKind,
  SESSION_STATUSES,
  type TaskListAfter,
  type TaskRecord,
} from '@mcp-sessions/core/adapter';

export interface CommandContext {
  manager: SessionManager;
  store: SessionStore;
  /** Epoch ms: "12 s ago" and what is due are measured from here. */
  now: number;
  /** Told how far a long command got (records or events read so far). */
  progress(what: string, count: number): void;
}

export interface CommandResult {
  /** What `--json` prints: one JSON document. */
  json: unknown;
  /** What a person reads. */
  text: string;
}

/** Records read per `list` round trip. */
const PAGE_SIZE = 500;
/** Events read per `readEvents` round trip. */
const EVENT_PAGE_SIZE = 1_000;
/** Characters of a session id kept in a table without `--full`. */
const SHORT_ID_LENGTH = 12;

export interface ListOptions {
  statuses: readonly SessionStatus[];
  limit: number;
  full: boolean;
}

/** Sessions, newest first, `limit` at most, a keyset page at a time. */
export async function listCommand(ctx: CommandContext, options: ListOptions): Promise<CommandResult> {
  const sessions: SessionRecord[] = [];
  let cursor: string | undefined;
  let more = false;
  for (;;) {
    const want = options.limit - sessions.length;
    const page = await ctx.manager.getActiveSessions({
      statuses: options.statuses,
      limit: Math.min(want, PAGE_SIZE),
      cursor,
    });
    sessions.push(...page.sessions);
    ctx.progress('sessions read', sessions.length);
    cursor = page.nextCursor;
    if (cursor === undefined) break;
    if (sessions.length >= options.limit) {
      more = true;
      break;
    }
  }
  const rows = sessions.map((record) => [
    options.full ? record.id : shortId(record.id),
    recordKind(record),
    record.status,
    record.principal ?? '-',
    clientName(record.initializeParams) ?? '-',
    record.ownerId ?? '-',
    ago(record.lastHeartbeatAt, ctx.now),
    idleText(record, ctx.now),
    String(record.recoveryAttempts),
  ]);
  // Handles (2026-era state) and consume-once markers live in the same store as sessions.
  const header = ['ID', 'KIND', 'STATUS', 'PRINCIPAL', 'CLIENT', 'OWNER', 'HEARTBEAT', 'IDLE', 'RECOVERIES'];
  const summary =
    sessions.length === 0
      ? `no ${options.statuses.join(' or ')} sessions`
      : `${sessions.length} session${sessions.length === 1 ? '' : 's'}${more ? ` (more: raise --limit)` : ''}`;
  return {
    json: {
      sessions: sessions.map((record) => ({
        ...summaryOf(record),
        kind: recordKind(record),
        clientName: clientName(record.initializeParams),
        idleMs: idleMs(record, ctx.now),
      })),
      more,
    },
    text: `${sessions.length > 0 ? `${table(header, rows)}\n` : ''}${summary}\n`,
  };
}

/** One session: its record, initialize params, agent-state keys, and its event log's size. */
export async function showCommand(
  ctx: CommandContext,
  sessionId: string,
): Promise<CommandResult | undefined> {
  const stored = await ctx.manager.getSession(sessionId);
  if (!stored) return undefined;
  // A shared secret's metadata holds the secret itself: show its kind, never its value.
  const record =
    recordKind(stored) === 'secret' ? { ...stored, metadata: { [RECORD_KIND_KEY]: 'secret' } } : stored;
  const entries = await ctx.store.listState(sessionId, undefined, ctx.now);
  const agentState = entries.map((entry) => ({
    agentId: entry.agentId,
    key: entry.key,
    bytes: byteSize(entry.value),
    updatedAt: entry.updatedAt,
    expiresAt: entry.expiresAt,
  }));
  const events = await eventLogSize(ctx, sessionId);
  const lines = [
    field('session', record.id),
    field('status', `${record.status} (version ${record.version})`),
    field('principal', record.principal ?? '-'),
    field('client', clientName(record.initializeParams) ?? '-'),
    field('owner', record.ownerId ?? '-'),
    field('created', when(record.createdAt, ctx.now)),
    field('heartbeat', when(record.lastHeartbeatAt, ctx.now)),
    field(
      'recoveries',
      `${record.recoveryAttempts}${record.recoveredAt === null ? '' : `, last ${when(record.recoveredAt, ctx.now)}`}`,
    ),
  ];
  if (record.disconnectedAt !== null) lines.push(field('disconnected', when(record.disconnectedAt, ctx.now)));
  if (record.graceExpiresAt !== null) lines.push(field('grace ends', when(record.graceExpiresAt, ctx.now)));
  if (record.endedAt !== null) lines.push(field('ended', when(record.endedAt, ctx.now)));
  lines.push(field('due', when(record.dueAt, ctx.now)));
  if (record.workingDirectory !== null) lines.push(field('directory', record.workingDirectory));
  if (record.metadata !== null) lines.push(field('metadata', JSON.stringify(record.metadata)));
  lines.push(
    field('initialize', record.initializeParams === null ? '-' : JSON.stringify(record.initializeParams)),
  );
  lines.push(field('events', `${events.count} (${bytes(events.bytes)})`));
  lines.push(field('agent state', plural(agentState.length, 'entry', 'entries')));
  if (agentState.length > 0) {
    const rows = agentState.map((e) => [
      e.agentId,
      e.key,
      bytes(e.bytes),
      ago(e.updatedAt, ctx.now),
      e.expiresAt === null ? 'never' : when(e.expiresAt, ctx.now),
    ]);
    lines.push(indent(table(['AGENT', 'KEY', 'SIZE', 'UPDATED', 'EXPIRES'], rows)));
  }
  return { json: { record, agentState, events }, text: `${lines.join('\n')}\n` };
}

/** Closes through the lifecycle: tombstone, state and events deleted, 404 on every instance. */
export async function closeCommand(
  ctx: CommandContext,
  sessionId: string,
): Promise<CommandResult | undefined> {
  const before = await ctx.manager.getSession(sessionId);
  if (!before) return undefined;
  const record = await ctx.manager.close(sessionId);
  const changed = before.status !== 'closed';
  return {
    json: { id: record.id, previousStatus: before.status, status: record.status, changed },
    text: changed ? `closed ${record.id} (was ${before.status})\n` : `${record.id} was already closed\n`,
  };
}

/** Tasks (MCP's Tasks extension), newest first, `limit` at most. */
export async function tasksListCommand(
  ctx: CommandContext,
  options: { limit: number; full: boolean },
): Promise<CommandResult> {
  const store = taskStore(ctx);
  const tasks: TaskRecord[] = [];
  let after: TaskListAfter | undefined;
  for (;;) {
    const want = Math.min(PAGE_SIZE, options.limit - tasks.length);
    const page = await store.listTasks({ limit: want, after });
    tasks.push(...page);
    ctx.progress('tasks read', tasks.length);
    const last = page[page.length - 1];
    if (!last || page.length < want || tasks.length >= options.limit) break;
    after = { createdAt: last.createdAt, id: last.id };
  }
  const rows = tasks.map((task) => [
    options.full ? task.id : shortId(task.id),
    task.status,
    task.principal ?? '-',
    toolName(task) ?? '-',
    task.workerId ?? '-',
    ago(task.updatedAt, ctx.now),
    String(task.attempts),
    task.expiresAt === null ? '-' : ago(task.expiresAt, ctx.now),
  ]);
  const header = ['ID', 'STATUS', 'PRINCIPAL', 'TOOL', 'WORKER', 'UPDATED', 'RUNS', 'EXPIRES'];
  return {
    json: { tasks: tasks.map((task) => ({ ...task, tool: toolName(task) })) },
    text: `${tasks.length > 0 ? `${table(header, rows)}\n` : ''}${plural(tasks.length, 'task', 'tasks')}\n`,
  };
}

/** One task: its state, its request, and its result, error or pending input requests. */
export async function tasksShowCommand(
  ctx: CommandContext,
  taskId: string,
): Promise<CommandResult | undefined> {
  const task = await taskStore(ctx).getTask(taskId);
  if (!task) return undefined;
  const lines = [
    field('task', task.id),
    field('status', `${task.status} (version ${task.version})`),
    field('message', task.statusMessage ?? '-'),
    field('principal', task.principal ?? '-'),
    field('tool', toolName(task) ?? '-'),
    field(
      'worker',
      task.workerId === null ? '-' : `${task.workerId} (lease ${when(task.leaseUntil!, ctx.now)})`,
    ),
    field('runs', `${task.attempts}${task.rerunnable ? ' (safe to run again)' : ''}`),
    field('created', when(task.createdAt, ctx.now)),
    field('updated', when(task.updatedAt, ctx.now)),
    field('expires', task.expiresAt === null ? 'never' : when(task.expiresAt, ctx.now)),
  ];
  if (task.inputRequests) lines.push(field('input requests', encodeJson(task.inputRequests)));
  if (task.result) lines.push(field('result', `${bytes(byteSize(task.result))} of JSON`));
  if (task.error) lines.push(field('error', encodeJson(task.error)));
  return { json: task, text: `${lines.join('\n')}\n` };
}

/** Cancels a task through its lifecycle, whoever created it; its worker stops at its next write or renewal. */
export async function tasksCancelCommand(
  ctx: CommandContext,
  taskId: string,
): Promise<CommandResult | undefined> {
  const before = await taskStore(ctx).getTask(taskId);
  if (!before) return undefined;
  const manager = new TaskManager({
    store: ctx.store,
    timers: false,
    logger: false,
    instanceId: ctx.manager.instanceId,
  });
  try {
    const task = await manager.forceCancel(taskId);
    return {
      json: { id: task.id, previousStatus: before.status, status: task.status },
      text: `cancelled ${task.id} (was ${before.status})\n`,
    };
  } catch (error) {
    if (error instanceof TaskRefusedError) {
      return {
        json: { id: taskId, previousStatus: before.status, status: before.status },
        text: `${taskId} had already ended (${before.status})\n`,
      };
    }
    throw error;
  } finally {
    await manager.dispose();
  }
}

/** One sweep now, with the manager's policy (grace, tombstone, staleness) as given. */
export async function sweepCommand(ctx: CommandContext): Promise<CommandResult> {
  const result = await ctx.manager.cleanupExpired();
  return {
    json: result,
    text: `expired ${plural(result.expired, 'session', 'sessions')}, deleted ${plural(result.deleted, 'tombstone', 'tombstones')}, purged ${plural(result.stateEntriesPurged, 'expired agent-state entry', 'expired agent-state entries')}\n`,
  };
}

export interface StatsOptions {
  /** Skip the agent-state and event-log scans (one `listState` and a few `readEvents` per live session). */
  recordsOnly: boolean;
}

/**
 * Counts per status, due backlog, oldest heartbeat, and (unless `recordsOnly`) agent-state and
 * event-log sizes of live sessions. The store contract has no count, so this pages through
 * every record (a keyset page of 500 at a time, never all in memory at once).
 */
export async function statsCommand(ctx: CommandContext, options: StatsOptions): Promise<CommandResult> {
  const counts = Object.fromEntries(SESSION_STATUSES.map((s) => [s, 0])) as Record<SessionStatus, number>;
  const kinds: Record<RecordKind, number> = { session: 0, handle: 0, once: 0, secret: 0 };
  /** Live sessions no instance holds (released when idle, or handed off at a stop), and expiries by cause. */
  let released = 0;
  const expiries = { idle: 0, grace: 0 };
  let due = 0;
  let oldestHeartbeatAt: number | null = null;
  const state = { entries: 0, bytes: 0 };
  const events = { count: 0, bytes: 0 };
  let read = 0;
  for (const status of SESSION_STATUSES) {
    let after: ListAfter | undefined;
    for (;;) {
      const page = await ctx.store.list({ statuses: [status], limit: PAGE_SIZE, after });
      for (const record of page) {
        counts[status]++;
        kinds[recordKind(record)]++;
        if (record.dueAt <= ctx.now) due++;
        if (status === 'active' && recordKind(record) === 'session' && record.ownerId === null) released++;
        const cause = expiryCause(record);
        if (cause) expiries[cause]++;
        const live = (LIVE_STATUSES as readonly SessionStatus[]).includes(status);
        if (live && (oldestHeartbeatAt === null || record.lastHeartbeatAt < oldestHeartbeatAt)) {
          oldestHeartbeatAt = record.lastHeartbeatAt;
        }
        if (live && !options.recordsOnly) {
          for (const entry of await ctx.store.listState(record.id, undefined, ctx.now)) {
            state.entries++;
            state.bytes += byteSize(entry.value);
          }
          const log = await eventLogSize(ctx, record.id);
          events.count += log.count;
          events.bytes += log.bytes;
        }
      }
      read += page.length;
      ctx.progress('sessions scanned', read);
      const last = page[page.length - 1];
      if (page.length < PAGE_SIZE || !last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }
  const total = SESSION_STATUSES.reduce((sum, s) => sum + counts[s], 0);
  const json = {
    store: ctx.store.name,
    sessions: { ...counts, total },
    kinds,
    released,
    expiredBy: expiries,
    dueBacklog: due,
    oldestHeartbeatAt,
    agentState: options.recordsOnly ? null : state,
    events: options.recordsOnly ? null : events,
  };
  const lines = [
    field('store', ctx.store.name),
    field('sessions', `${total} (${SESSION_STATUSES.map((s) => `${counts[s]} ${s}`).join(', ')})`),
    field(
      'kinds',
      `${kinds.session} sessions, ${kinds.handle} handles, ${kinds.once} consume-once markers, ${kinds.secret} shared secrets`,
    ),
    field('released', `${released} (active sessions no instance holds: idle, or handed off at a stop)`),
    field('expired by', `${expiries.idle} idle timeout, ${expiries.grace} grace (tombstones kept)`),
    field('due backlog', `${due} (records the sweep would look at now)`),
    field(
      'oldest heartbeat',
      oldestHeartbeatAt === null ? '-' : `${when(oldestHeartbeatAt, ctx.now)} (live sessions)`,
    ),
  ];
  if (!options.recordsOnly) {
    lines.push(field('agent state', `${plural(state.entries, 'entry', 'entries')}, ${bytes(state.bytes)}`));
    lines.push(field('event log', `${plural(events.count, 'event', 'events')}, ${bytes(events.bytes)}`));
  }
  return { json, text: `${lines.join('\n')}\n` };
}

// --- Internal helpers ---

async function eventLogSize(
  ctx: CommandContext,
  sessionId: string,
): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let size = 0;
  let afterSeq = 0;
  for (;;) {
    const page = await ctx.store.readEvents({ sessionId, afterSeq, limit: EVENT_PAGE_SIZE });
    for (const event of page) {
      count++;
      size += byteSize(event.message);
      afterSeq = event.seq;
    }
    if (page.length < EVENT_PAGE_SIZE) return { count, bytes: size };
  }
}

function summaryOf(record: SessionRecord) {
  return {
    id: record.id,
    status: record.status,
    principal: record.principal,
    ownerId: record.ownerId,
    createdAt: record.createdAt,
    lastHeartbeatAt: record.lastHeartbeatAt,
    recoveryAttempts: record.recoveryAttempts,
    dueAt: record.dueAt,
  };
}

/** The size the store's event-trim budget counts: UTF-8 bytes of the JSON text. */
function byteSize(value: Parameters<typeof encodeJson>[0]): number {
  return jsonByteLength(encodeJson(value));
}

function clientName(params: JsonObject | null): string | undefined {
  const info = params?.clientInfo;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) return undefined;
  return typeof info.name === 'string' && info.name.length > 0 ? info.name : undefined;
}

/** How long nobody has used a live session, when its record tells (see `idleSince`). */
function idleMs(record: SessionRecord, now: number): number | null {
  const since = idleSince(record);
  return since === null ? null : Math.max(0, now - since);
}

function idleText(record: SessionRecord, now: number): string {
  const ms = idleMs(record, now);
  if (ms !== null) return duration(ms);
  return record.endedAt === null && record.ownerId !== null ? 'held' : '-';
}

function taskStore(ctx: CommandContext) {
  if (!hasTasks(ctx.store)) throw new StoreError(`the ${ctx.store.name} store keeps no tasks`);
  return ctx.store;
}

function toolName(task: TaskRecord): string | undefined {
  const params = task.request.params;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  return typeof params.name === 'string' ? params.name : undefined;
}

function shortId(id: string): string {
  return id.length <= SHORT_ID_LENGTH + 1 ? id : `${id.slice(0, SHORT_ID_LENGTH)}…`;
}

/** `12 s ago`, `3 min ago`, `in 5 h`. */
export function ago(at: number, now: number): string {
  const ms = now - at;
  const text = duration(Math.abs(ms));
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

/** `12 s`, `3 min`, `5 h`, `2 d`. */
function duration(span: number): string {
  return span < 60_000
    ? `${Math.round(span / 1000)} s`
    : span < 3_600_000
      ? `${Math.round(span / 60_000)} min`
      : span < 86_400_000
        ? `${Math.round(span / 3_600_000)} h`
        : `${Math.round(span / 86_400_000)} d`;
}

function when(at: number, now: number): string {
  return `${new Date(at).toISOString()} (${ago(at, now)})`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `label` padded so that values line up. */
function field(label: string, value: string): string {
  return `${label.padEnd(17)}${value}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
