/**
 * Loggers: what the manager, the HTTP handler and the stores accept (`LoggerLike`), the default
 * that makes warnings and errors visible on stderr, and `redactUrl` so that connection strings can
 * be logged without their secrets.
 */
import { InvalidArgumentError } from './errors';
import { type Logger, silentLogger } from './options';

/** Extra data of a log call, as key/value pairs. */
export type LogFields = Record<string, unknown>;

/**
 * pino and bunyan: the fields object first, then the message (`logger.warn({ sessionId }, 'msg')`).
 * Recognised by their own methods (pino's `bindings()`, bunyan's `streams`); any other object is
 * called console-style, `(message, fields)`, as `Logger` says.
 */
export interface PinoStyleLogger {
  debug(fields: LogFields, message?: string): void;
  info(fields: LogFields, message?: string): void;
  warn(fields: LogFields, message?: string): void;
  error(fields: LogFields, message?: string): void;
}

/** Any logger the SDK accepts: console-style (`console` itself fits), pino, bunyan. */
export type LoggerLike = Logger | PinoStyleLogger;

type Level = keyof Logger;
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/**
 * A logger that writes `warn` and `error` as one line each through `write` (without the newline's
 * help: the line ends in `\n`) and drops `debug` and `info`. The default logger is this on stderr.
 *
 * @example
 * const lines: string[] = [];
 * const logger = createLineLogger((line) => lines.push(line));
 * logger.warn('store slow', { ms: 812 }); // lines: ['mcp-sessions warn store slow ms=812\n']
 */
export function createLineLogger(write: (line: string) => void): Logger {
  const emit = (level: Level) => (message: string, fields?: LogFields) =>
    write(formatLogLine(level, message, fields));
  return { debug: noop, info: noop, warn: emit('warn'), error: emit('error') };
}

/** The default: warnings and errors on stderr, one line each; debug and info dropped. */
export const stderrLogger: Logger = createLineLogger((line) => {
  process.stderr.write(line);
});

/**
 * The `Logger` to use for a `logger` option: `undefined` → `stderrLogger` (warnings and errors
 * are never invisible), `false` or `silentLogger` → silent, a pino or bunyan logger → called
 * `(fields, message)`, any other logger → itself. An object without the four methods is refused.
 *
 * @example
 * const logger = resolveLogger(options.logger); // pino(), console, false, or nothing
 * logger.warn('store unavailable, retrying', { sessionId, error });
 */
export function resolveLogger(logger: LoggerLike | false | undefined): Logger {
  if (logger === undefined) return stderrLogger;
  if (logger === false || logger === silentLogger) return silentLogger;
  if (typeof logger !== 'object' || logger === null) {
    throw new InvalidArgumentError('logger', 'must be a logger object (console, pino, bunyan), or false');
  }
  const missing = LEVELS.filter(
    (level) => typeof (logger as unknown as Record<string, unknown>)[level] !== 'function',
  );
  if (missing.length > 0) {
    throw new InvalidArgumentError('logger', `has no ${missing.join(', ')} method`);
  }
  if (!isFieldsFirst(logger)) return logger as Logger;
  const target = logger as PinoStyleLogger;
  const call = (level: Level) => (message: string, fields?: LogFields) =>
    target[level](fields ?? {}, message);
  return { debug: call('debug'), info: call('info'), warn: call('warn'), error: call('error') };
}

/**
 * The line the default logger writes: `mcp-sessions <level> <message> key=value…\n`. Strings with
 * spaces, quotes or `=` are JSON-quoted; an error is its message, plus `key.code` and
 * `key.cause` (the cause's message) when it has them; objects are JSON.
 */
export function formatLogLine(level: Level, message: string, fields?: LogFields): string {
  let line = `mcp-sessions ${level} ${oneLine(message)}`;
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (value === undefined) continue;
    if (value instanceof Error) {
      line += ` ${key}=${quoted(value.message)}`;
      const code = (value as Error & { code?: unknown }).code;
      if (typeof code === 'string' || typeof code === 'number') line += ` ${key}.code=${code}`;
      if (value.cause instanceof Error) line += ` ${key}.cause=${quoted(value.cause.message)}`;
    } else {
      line += ` ${key}=${formatValue(value)}`;
    }
  }
  return `${line}\n`;
}

/** Query parameters whose values are hidden: any name containing one of these (case-insensitive). */
const SECRET_PARAM = /pass|pwd|token|secret|auth|key/i;
const REDACTED = '***';

/**
 * `spec` with its secrets replaced by `***`: the password of the user-info
 * (`postgres://app:***@db/x`, even when the password holds a raw `@`), and the values of
 * password-like query or fragment parameters (`password`, `pass`, `pwd`, `token`, `secret`,
 * `auth`, `key`, case-insensitive, also inside longer names such as `access_token`). A spec that
 * does not parse as a URL keeps only its scheme (`redis://***`), or becomes `***`; one without
 * `//` loses everything before its last `@` (`u:S3cret@db:5432` → `u:***@db:5432`).
 *
 * @example
 * redactUrl('redis://:s3cr@t@cache:6379/0?tls=true'); // 'redis://:***@cache:6379/0?tls=true'
 */
export function redactUrl(spec: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(spec)?.[0];
  if (scheme === undefined) return REDACTED;
  let rest = spec.slice(scheme.length);
  let prefix = scheme;
  if (rest.startsWith('//')) {
    prefix += '//';
    rest = rest.slice(2);
    // The host never holds an `@`, so the user-info runs to the last one: a password may hold raw
    // `@`, `/`, `?` or `#` (which would fool a URL parser into leaking part of it). A user name
    // cannot hold `/?#`: with one, that `@` is in the path or query, and there is no user-info.
    const at = rest.lastIndexOf('@');
    const userInfo = at >= 0 ? rest.slice(0, at) : '';
    const colon = userInfo.indexOf(':');
    if (at >= 0 && !/[/?#]/.test(colon >= 0 ? userInfo.slice(0, colon) : userInfo)) {
      prefix += colon >= 0 ? `${userInfo.slice(0, colon)}:${REDACTED}@` : `${userInfo}@`;
      rest = rest.slice(at + 1);
    }
    if (!parses(`${scheme}//${rest}`)) return `${scheme}//${REDACTED}`;
  } else if (!parses(spec)) {
    return `${scheme}${REDACTED}`;
  } else if (rest.includes('@')) {
    // No `//`: `user:password@host` typed without a scheme reads as scheme `user:`. Whatever it
    // is, what comes before an `@` may be a password.
    return `${scheme}${REDACTED}@${rest.slice(rest.lastIndexOf('@') + 1)}`;
  }
  const hash = rest.indexOf('#');
  const beforeHash = hash >= 0 ? rest.slice(0, hash) : rest;
  const fragment = hash >= 0 ? `#${redactParams(rest.slice(hash + 1))}` : '';
  const question = beforeHash.indexOf('?');
  const query = question >= 0 ? `?${redactParams(beforeHash.slice(question + 1))}` : '';
  return prefix + (question >= 0 ? beforeHash.slice(0, question) : beforeHash) + query + fragment;
}

// --- Internal helpers ---

function noop(): void {}

/** pino (`bindings()` and `levels`) or bunyan (`streams` and `fields`): fields go first. */
function isFieldsFirst(logger: object): boolean {
  const l = logger as Record<string, unknown>;
  const pino = typeof l['bindings'] === 'function' && typeof l['levels'] === 'object';
  const bunyan = Array.isArray(l['streams']) && typeof l['fields'] === 'object';
  return pino || bunyan;
}

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** `a=1&password=x` → `a=1&password=***`, leaving every other byte as it was. */
function redactParams(params: string): string {
  return params
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      return SECRET_PARAM.test(decodeLoosely(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
}

function decodeLoosely(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

function quoted(text: string): string {
  const flat = oneLine(text);
  return flat === '' || /[\s"'=]/.test(flat) ? JSON.stringify(flat) : flat;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return quoted(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value === null) return 'null';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // Cycles and BigInt inside objects: a log line must never throw.
    return quoted(String(value));
  }
}
