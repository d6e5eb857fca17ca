/**
 * `mcp-sessions <command>`: arguments (Node's `util.parseArgs`), help, the store, one line per
 * error. Exit codes: 0 done, 1 failed (store unreachable, no such session), 2 usage (bad flag,
 * bad store spec).
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import {
  McpSessionsError,
  redactUrl,
  SessionManager,
  type SessionStatus,
  type SessionStore,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import {
  isSessionStatus,
  isValidSessionId,
  LIVE_STATUSES,
  SESSION_STATUSES,
} from '@mcp-sessions/core/adapter';
import {
  type CommandContext,
  type CommandResult,
  closeCommand,
  listCommand,
  showCommand,
  statsCommand,
  sweepCommand,
  tasksCancelCommand,
  tasksListCommand,
  tasksShowCommand,
} from './commands';
import { openStore, parseStoreSpec, STORE_SPEC_FORMS } from './spec';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Relative `sqlite:` paths resolve from here. Default `process.cwd()`. */
  cwd?: string;
}

/** Exit codes of `runCli`. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** `list` shows this many sessions unless `--limit` says otherwise. */
export const DEFAULT_LIST_LIMIT = 50;
/** The progress line appears once a command has run this long (only when stderr is a terminal). */
const PROGRESS_AFTER_MS = 1_000;

const COMMANDS = ['list', 'show', 'close', 'sweep', 'stats', 'tasks'] as const;
type Command = (typeof COMMANDS)[number];

const OPTIONS = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  timeout: { type: 'string' },
  prefix: { type: 'string' },
  schema: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  full: { type: 'boolean' },
  'records-only': { type: 'boolean' },
  'grace-period-ms': { type: 'string' },
  'tombstone-ms': { type: 'string' },
  'stale-after-ms': { type: 'string' },
} as const;
type OptionName = keyof typeof OPTIONS;

const GLOBAL_OPTIONS: readonly OptionName[] = ['store', 'json', 'help', 'timeout', 'prefix', 'schema'];
const POLICY_OPTIONS: readonly OptionName[] = ['grace-period-ms', 'tombstone-ms', 'stale-after-ms'];
const COMMAND_OPTIONS: Record<Command, readonly OptionName[]> = {
  list: ['status', 'limit', 'full'],
  show: [],
  close: [],
  sweep: POLICY_OPTIONS,
  stats: ['records-only'],
  tasks: ['limit', 'full'],
};

/** `mcp-sessions tasks <verb>`. */
const TASK_VERBS = ['list', 'show', 'cancel'] as const;
type TaskVerb = (typeof TASK_VERBS)[number];

/**
 * Runs one command line (without `node` and the script) and resolves to the exit code. Writes
 * results to `io.stdout`, errors and progress to `io.stderr`; never calls `process.exit`.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usage(io, error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  const command = positionals[0] === 'help' ? positionals[1] : positionals[0];
  if (values.help || positionals[0] === 'help') {
    if (command !== undefined && !isCommand(command))
      return usage(io, `unknown command ${JSON.stringify(command)}`);
    io.stdout.write(command === undefined ? HELP : COMMAND_HELP[command]);
    return EXIT_OK;
  }
  if (command === undefined) {
    io.stderr.write(HELP);
    return EXIT_USAGE;
  }
  if (!isCommand(command)) return usage(io, `unknown command ${JSON.stringify(command)}`);
  const allowed = new Set([...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[command]]);
  const stray = (Object.keys(values) as OptionName[]).find((name) => !allowed.has(name));
  if (stray) return usage(io, `${command} takes no --${stray}`);

  const spec = values.store ?? io.env.MCP_SESSIONS_STORE;
  if (spec === undefined || spec === '') {
    return usage(io, 'no store: pass --store <spec> or set MCP_SESSIONS_STORE');
  }
  let request: Request;
  try {
    request = checkRequest(command, values, positionals.slice(1));
    const kind = parseStoreSpec(spec, io.cwd).kind;
    if (kind === 'memory') {
      throw new Error('memory: is the memory of one process; the CLI cannot see a server’s sessions');
    }
  } catch (error) {
    return usage(io, error instanceof Error ? error.message : String(error));
  }

  const progress = new Progress(io.stderr);
  let store: SessionStore | undefined;
  let manager: SessionManager | undefined;
  try {
    store = await openStore(parseStoreSpec(spec, io.cwd), {
      timeoutMs: request.timeoutMs,
      mustExist: true,
      prefix: values.prefix,
      schema: values.schema,
    });
    manager = new SessionManager({
      store,
      timers: false,
      logger: false,
      instanceId: `mcp-sessions-cli:${hostname()}:${process.pid}`,
      ...request.policy,
    });
    const ctx: CommandContext = {
      manager,
      store,
      now: Date.now(),
      progress: (what, n) => progress.update(what, n),
    };
    const result = await run(ctx, request);
    progress.stop();
    if (result === undefined) {
      io.stderr.write(
        `mcp-sessions: no ${request.taskVerb ? 'task' : 'session'} ${JSON.stringify(request.sessionId)} in ${redactUrl(spec)}\n`,
      );
      return EXIT_FAILED;
    }
    io.stdout.write(values.json ? `${JSON.stringify(result.json, null, 2)}\n` : result.text);
    return EXIT_OK;
  } catch (error) {
    progress.stop();
    io.stderr.write(`mcp-sessions: ${describeFailure(error, spec)}\n`);
    return error instanceof McpSessionsError && error.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await manager?.dispose();
    await store?.close().catch(() => undefined);
  }
}

// --- Internal helpers ---

interface Request {
  command: Command;
  /** A session id (`show`, `close`) or a task id (`tasks show`, `tasks cancel`). */
  sessionId?: string;
  taskVerb?: TaskVerb;
  statuses: readonly SessionStatus[];
  limit: number;
  full: boolean;
  recordsOnly: boolean;
  timeoutMs?: number;
  policy: { gracePeriodMs?: number; tombstoneMs?: number; staleAfterMs?: number };
}

/**
 * The arguments, parsed. A session or task id may begin with `-` (ids are base64url), and
 * `parseArgs` would read `-0Ab…` as a group of short options: a single-dash word that is no option
 * of ours (only `-h` is) is a positional argument, in its place.
 */
function parse(argv: readonly string[]) {
  const dashed: string[] = [];
  const end = argv.indexOf('--');
  const args = argv.map((arg, i) =>
    (end === -1 || i < end) && /^-[^-]/.test(arg) && arg !== '-h' ? `\0${dashed.push(arg) - 1}` : arg,
  );
  const parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const back = (arg: string) => (arg.startsWith('\0') ? dashed[Number(arg.slice(1))]! : arg);
  parsed.positionals = parsed.positionals.map(back);
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string') (parsed.values as Record<string, unknown>)[name] = back(value);
  }
  return parsed;
}

type Values = ReturnType<typeof parse>['values'];

function checkRequest(command: Command, values: Values, args: string[]): Request {
  let taskVerb: TaskVerb | undefined;
  if (command === 'tasks') {
    const verb = args.shift();
    if (!(TASK_VERBS as readonly (string | undefined)[]).includes(verb)) {
      throw new Error(`tasks takes one of ${TASK_VERBS.join(', ')}`);
    }
    taskVerb = verb as TaskVerb;
  }
  const needsId = command === 'show' || command === 'close' || taskVerb === 'show' || taskVerb === 'cancel';
  if (needsId && args.length !== 1)
    throw new Error(
      `${taskVerb ? `tasks ${taskVerb}` : command} takes one ${taskVerb ? 'task' : 'session'} id`,
    );
  if (!needsId && args.length > 0)
    throw new Error(`${command} takes no argument (got ${JSON.stringify(args[0])})`);
  const sessionId = needsId ? args[0]! : undefined;
  if (sessionId !== undefined && !isValidSessionId(sessionId)) {
    throw new Error('a session id is 1-256 visible ASCII characters');
  }
  const statuses = values.status === undefined ? LIVE_STATUSES : parseStatuses(values.status);
  return {
    command,
    sessionId,
    taskVerb,
    statuses,
    limit: values.limit === undefined ? DEFAULT_LIST_LIMIT : count('limit', values.limit),
    full: values.full === true,
    recordsOnly: values['records-only'] === true,
    timeoutMs: values.timeout === undefined ? undefined : count('timeout', values.timeout),
    policy: {
      gracePeriodMs: optionalCount('grace-period-ms', values['grace-period-ms']),
      tombstoneMs: optionalCount('tombstone-ms', values['tombstone-ms']),
      staleAfterMs: optionalCount('stale-after-ms', values['stale-after-ms']),
    },
  };
}

function run(ctx: CommandContext, request: Request): Promise<CommandResult | undefined> {
  switch (request.command) {
    case 'list':
      return listCommand(ctx, { statuses: request.statuses, limit: request.limit, full: request.full });
    case 'show':
      return showCommand(ctx, request.sessionId!);
    case 'close':
      return closeCommand(ctx, request.sessionId!);
    case 'sweep':
      return sweepCommand(ctx);
    case 'stats':
      return statsCommand(ctx, { recordsOnly: request.recordsOnly });
    case 'tasks':
      if (request.taskVerb === 'show') return tasksShowCommand(ctx, request.sessionId!);
      if (request.taskVerb === 'cancel') return tasksCancelCommand(ctx, request.sessionId!);
      return tasksListCommand(ctx, { limit: request.limit, full: request.full });
  }
}

function parseStatuses(text: string): SessionStatus[] {
  const statuses = text.split(',').map((s) => s.trim());
  const bad = statuses.find((s) => !isSessionStatus(s));
  if (bad !== undefined) {
    throw new Error(`--status ${JSON.stringify(bad)} is not one of ${SESSION_STATUSES.join(', ')}`);
  }
  return statuses as SessionStatus[];
}

function count(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`--${name} must be a whole number above 0 (got ${JSON.stringify(text)})`);
  }
  return n;
}

function optionalCount(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : count(name, text);
}

function isCommand(name: string): name is Command {
  return (COMMANDS as readonly string[]).includes(name);
}

function usage(io: CliIo, message: string): number {
  io.stderr.write(`mcp-sessions: ${oneLine(message)} (mcp-sessions --help)\n`);
  return EXIT_USAGE;
}

/** One line, with the store's secrets out of it (a driver may quote its connection string). */
function describeFailure(error: unknown, spec: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const what =
    error instanceof StoreUnavailableError
      ? `store ${redactUrl(spec)} unreachable: ${message}`
      : error instanceof McpSessionsError
        ? `${message} (${error.code})`
        : message;
  return oneLine(scrub(what, spec));
}

function scrub(text: string, spec: string): string {
  let out = text.split(spec).join(redactUrl(spec));
  const at = spec.lastIndexOf('@');
  const userInfo = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/i.exec(at >= 0 ? spec.slice(0, at) : '')?.[1];
  const colon = userInfo?.indexOf(':') ?? -1;
  if (userInfo !== undefined && colon >= 0) {
    const password = userInfo.slice(colon + 1);
    for (const secret of new Set([password, safeDecode(password)])) {
      if (secret.length > 0) out = out.split(secret).join('***');
    }
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** A line on a terminal's stderr once a command has run for a second: what it has read so far. */
class Progress {
  private what = 'working';
  private count: number | undefined;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  constructor(private readonly stderr: CliIo['stderr']) {
    if (!stderr.isTTY) return;
    this.timer = setTimeout(() => {
      this.timer = setInterval(() => this.render(), 200);
      this.timer.unref();
      this.render();
    }, PROGRESS_AFTER_MS);
    this.timer.unref();
  }

  update(what: string, count: number): void {
    this.what = what;
    this.count = count;
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.shown) this.stderr.write('\r\u001b[K');
    this.shown = false;
  }

  private render(): void {
    const seconds = Math.round((Date.now() - this.started) / 1000);
    const done = this.count === undefined ? '' : ` ${this.count}`;
    this.stderr.write(`\r\u001b[Kmcp-sessions: ${this.what}${done} (${seconds} s)`);
    this.shown = true;
  }
}

const STORE_HELP = `Store (every command): --store <spec>, or the MCP_SESSIONS_STORE environment variable.
  <spec> is one of ${STORE_SPEC_FORMS}
  (postgresql:// too). The adapter package for it must be installed beside the CLI
  (@mcp-sessions/sqlite, @mcp-sessions/redis or @mcp-sessions/postgres). A sqlite: file must exist.`;

const COMMON_HELP = `Every command:
  --store <spec>   the store (see above)
  --json           one JSON document on stdout, for scripts
  --timeout <ms>   bound on connecting and on each command (Redis, Postgres). Default 5000
  --prefix <p>     the store's prefix, if the servers set one: Redis key prefix (default mcps:),
                   SQLite/Postgres table prefix (default mcp_sessions_)
  --schema <name>  Postgres schema of the tables (default public)
  -h, --help       this help, or a command's (mcp-sessions list --help)
Exit codes: 0 done, 1 failed (store unreachable, no such session), 2 usage (bad flag or spec).
Errors are one line on stderr, passwords redacted. Over a second, a progress line shows on
stderr when it is a terminal.`;

const HELP = `mcp-sessions: look at and act on the MCP sessions in a store

Usage: mcp-sessions <command> [options]

Commands:
  list           sessions, newest first (live ones unless --status)
  show <id>      one session: record, initialize params, agent state, event log size
  close <id>     close a session through its lifecycle (tombstone; 404 on every instance)
  sweep          one sweep now: expire what is past grace, delete old tombstones
  stats          counts per status, due backlog, oldest heartbeat, state and event sizes
  tasks list | show <id> | cancel <id>
                 durable tasks (MCP's Tasks extension): list, inspect, cancel

${STORE_HELP}

${COMMON_HELP}

Examples:
  export MCP_SESSIONS_STORE=sqlite:./.data/sessions.db
  mcp-sessions list
  mcp-sessions list --status disconnected,expired --limit 20 --full
  mcp-sessions show Yk3…                 # the id as list --full prints it
  mcp-sessions close Yk3…
  mcp-sessions sweep --grace-period-ms 600000
  mcp-sessions stats --store 'redis://:secret@cache:6379' --json
  mcp-sessions stats --store 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000'
  mcp-sessions list --store postgres://app@db/app --json | jq '.sessions[].id'
`;

const COMMAND_HELP: Record<Command, string> = {
  list: `Usage: mcp-sessions list [--status s1,s2] [--limit N] [--full] [--json]

Sessions, newest first, read a keyset page at a time (never the whole store).
Columns: id (shortened unless --full), status, principal, client name, owner instance, last
heartbeat ("12 s ago"), recovery attempts.

  --status <list>  comma-separated: ${SESSION_STATUSES.join(', ')}. Default active,disconnected
  --limit <n>      at most this many. Default ${DEFAULT_LIST_LIMIT}
  --full           whole session ids

${COMMON_HELP}

Examples:
  mcp-sessions list --store sqlite:./.data/sessions.db
  mcp-sessions list --status expired,closed --limit 500 --json
`,
  show: `Usage: mcp-sessions show <session-id> [--json]

One session: its record (status, principal, owner, heartbeat, grace, recoveries), the client's
initialize params, its agent-state keys with their sizes and expiry, and its event log's length
and size in bytes (JSON text, as the trim budget counts it).

${COMMON_HELP}

Example:
  mcp-sessions show 5rT0cX2k9Qm3vYw8Jd1LzA4b --store postgres://app@db/app
`,
  close: `Usage: mcp-sessions close <session-id> [--json]

Closes the session through its lifecycle, as a DELETE from its client would: the record becomes
a closed tombstone, its agent state and events are deleted, and every instance answers 404 for
it from its next request on.

${COMMON_HELP}

Example:
  mcp-sessions close 5rT0cX2k9Qm3vYw8Jd1LzA4b --store redis://cache:6379
`,
  sweep: `Usage: mcp-sessions sweep [--grace-period-ms N] [--tombstone-ms N] [--stale-after-ms N] [--json]

One sweep now: sessions past their grace period become expired (state and events deleted),
tombstones older than the tombstone period are deleted, agent state past its own expiry is
purged. Prints how many of each. Give the servers' own policy if it differs from the defaults
(grace 10 min, tombstone 1 h, stale after 90 s without heartbeat).

  --grace-period-ms <n>   how long a disconnected session may be recovered
  --tombstone-ms <n>      how long expired and closed records stay
  --stale-after-ms <n>    an active session with no heartbeat this long counts as disconnected

${COMMON_HELP}

Example:
  mcp-sessions sweep --store sqlite:./.data/sessions.db --grace-period-ms 600000
`,
  tasks: `Usage: mcp-sessions tasks list [--limit N] [--full] [--json]
       mcp-sessions tasks show <task-id> [--json]
       mcp-sessions tasks cancel <task-id> [--json]

Durable tasks (MCP's Tasks extension) kept in the store. list: newest first, with status,
principal, tool, the instance running it (worker), last update, runs (more than one after a
lost worker) and expiry. show: one task with its request, result size, error or pending input
requests. cancel: through the task lifecycle, whoever created it; the worker stops at its next
write or lease renewal.

  --limit <n>   list at most this many. Default ${DEFAULT_LIST_LIMIT}
  --full        whole task ids

${COMMON_HELP}

Examples:
  mcp-sessions tasks list --store sqlite:./.data/sessions.db
  mcp-sessions tasks cancel 5rT0cX2k9Qm3vYw8Jd1LzA4b --store postgres://app@db/app
`,
  stats: `Usage: mcp-sessions stats [--records-only] [--json]

Sessions per status, the due backlog (records the sweep would look at now), the oldest heartbeat
of a live session, and the agent-state entries and event-log size of live sessions.
The store contract has no count, so stats pages through every record (500 per round trip,
never all in memory at once) on every backend; the agent-state and event sizes add one
listState and a few readEvents per live session: --records-only skips them on a large store.

  --records-only   counts, backlog and heartbeat only

${COMMON_HELP}

Example:
  mcp-sessions stats --store 'rediss://:secret@cache:6380' --json
`,
};
