import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from './errors';
import { MAX_AGENT_KEY_LENGTH, MAX_SESSION_ID_LENGTH } from './options';

const SESSION_ID = /^[\x21-\x7e]+$/;

/** A new session id: 192 random bits, URL-safe (the lifecycle asks for at least 128). */
export function generateSessionId(): string {
  return randomBytes(24).toString('base64url');
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

/** Agent ids and state keys: any non-empty string (unicode welcome) up to 1024 UTF-16 units. */
export function assertName(argument: 'agentId' | 'key', value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_AGENT_KEY_LENGTH) {
    throw new InvalidArgumentError(
      argument,
      `must be a non-empty string of at most ${MAX_AGENT_KEY_LENGTH} characters`,
    );
  }
}
