/**
 * Single-use `requestState` for the 2026-07-28 Multi Round-Trip Request tool `forget`: the state is
 * sealed with SDK v2's request-state codec (HMAC) under a key every instance shares (set, or a
 * random secret kept in the store), so the retry may land on any instance; its nonce is consumed
 * once in the shared store, so a replayed state is refused on every instance.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, type SessionManager } from '@mcp-sessions/core';
import { createRequestStateCodec, type RequestStateCodec } from '@modelcontextprotocol/server';

/** How long a confirmation stays open; the consumed nonce is remembered as long. */
export const REQUEST_STATE_TTL_SECONDS = 600;

/** What `forget` seals into its `requestState`: the call it confirms, and a one-time nonce. */
export interface ForgetState {
  readonly nonce: string;
  readonly handle: string;
  readonly key: string;
}

/** A fresh 128-bit nonce: the consume-once key of one confirmation. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The name of the shared secret used as the key when `MCP_SESSIONS_STATE_KEY` is not set. */
export const STATE_KEY_SECRET = 'mcp-sessions-example:requestState';

/** The shortest `MCP_SESSIONS_STATE_KEY` accepted: an HMAC-SHA-256 key of full strength. */
export const MIN_STATE_KEY_BYTES = 32;

/**
 * The codec's HMAC key, the same on every instance: `MCP_SESSIONS_STATE_KEY` when set (at least
 * 32 bytes, else `InvalidArgumentError`, so a short key fails at start rather than on every
 * request), else a random secret kept in the shared store (`manager.sharedSecret`), created by
 * the first instance to start and read by the others: no setup, and no one can derive it.
 */
export async function requestStateKey(
  manager: SessionManager,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Uint8Array | string> {
  const key = env.MCP_SESSIONS_STATE_KEY;
  if (key === undefined || key === '') return manager.sharedSecret(STATE_KEY_SECRET);
  if (Buffer.byteLength(key, 'utf8') < MIN_STATE_KEY_BYTES) {
    throw new InvalidArgumentError(
      'MCP_SESSIONS_STATE_KEY',
      `must be at least ${MIN_STATE_KEY_BYTES} bytes (unset it to use a random secret kept in the store)`,
    );
  }
  return key;
}

/** The codec `forget` seals its state with; one per process, shared by every per-request server. */
export function forgetStateCodec(key: Uint8Array | string): RequestStateCodec<ForgetState> {
  return createRequestStateCodec<ForgetState>({ key, ttlSeconds: REQUEST_STATE_TTL_SECONDS });
}
