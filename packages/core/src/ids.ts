import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError } from './errors';
import { MAX_AGENT_KEY_LENGTH, MAX_SESSION_ID_LENGTH } from './options';

const SESSION_ID = /^[\x21-\x7e]+$/;

/** A new session id: 192 random bits, URL-safe (the lifecycle asks for at least 128). */
export function generateSessionId(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * A short, non-reversible name for a session (64 bits of SHA-256, base64url): what logs print,
 * since a session id is a bearer credential when no principal is bound. The same tag ends every
 * event id of the session, so an operator can match log lines, event ids and `sessionTag(id)`.
 */
export function sessionTag(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest().subarray(0, 8).toString('base64url');
}

/** True for an id the MCP transport allows: 1–256 visible ASCII characters. Cheap; no I/O. */
export function isValidSessionId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_SESSION_ID_LENGTH && SESSION_ID.test(id);
}

export function assertSessionId(id: unknown): asserts id is string {
  if (!isValidSessionId(id)) {
    throw new InvalidArgumentError(
      'sessionId',
      `must be 1-${MAX_SESSION_ID_LENGTH} visible ASCII characters`,
    );
  }
}

/**
 * Agent ids and state keys: any non-empty string (unicode welcome) up to 1024 UTF-16 units,
 * without U+0000. Stores receive only names that pass this check.
 */
export function assertName(argument: 'agentId' | 'key', value: unknown): asserts value is string {
  // Lone surrogates cannot be stored as text (UTF-8) and would come back as U+FFFD; Postgres
  // text cannot hold U+0000, and other backends use it as a separator: refused everywhere alike.
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_AGENT_KEY_LENGTH ||
    !value.isWellFormed() ||
    value.includes('\u0000')
  ) {
    throw new InvalidArgumentError(
      argument,
      `must be a non-empty, well-formed string of at most ${MAX_AGENT_KEY_LENGTH} characters, without U+0000`,
    );
  }
}

/**
 * The order every store sorts ids, agent ids and keys in: by Unicode code point, which is UTF-8
 * byte order (SQLite's BINARY, Postgres' `COLLATE "C"`, Redis). JavaScript's `<` compares UTF-16
 * code units, which puts U+10000 and above before U+E000–U+FFFF.
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  return codePointRank(a.charCodeAt(i)) - codePointRank(b.charCodeAt(i));
}

/** Moves surrogates (U+D800–DFFF, which start code points above U+FFFF) after U+E000–U+FFFF. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;
}
