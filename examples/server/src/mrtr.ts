/**
 * Single-use `requestState` for the 2026-07-28 Multi Round-Trip Request tool `forget`: the state is
 * sealed with SDK v2's request-state codec (HMAC) under a key every instance shares, so the retry
 * may land on any instance; its nonce is consumed once in the shared store, so a replayed state is
 * refused on every instance.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequestStateCodec, type RequestStateCodec } from '@modelcontextprotocol/server';
import { DEFAULT_STORE } from './store';

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

/**
 * The codec's HMAC key: `MCP_SESSIONS_STATE_KEY` (at least 32 bytes), the same on every instance.
 * Without it the example derives one from the store spec, so instances sharing a store agree
 * with no setup. Production must set MCP_SESSIONS_STATE_KEY to a secret: the store spec is no
 * secret, and anyone who knows it could forge state.
 */
export function requestStateKey(env: NodeJS.ProcessEnv = process.env): Uint8Array | string {
  const key = env.MCP_SESSIONS_STATE_KEY;
  if (key !== undefined && key !== '') {
    if (Buffer.byteLength(key, 'utf8') < 32) {
      throw new RangeError('MCP_SESSIONS_STATE_KEY must be at least 32 bytes');
    }
    return key;
  }
  const spec = env.MCP_SESSIONS_STORE || DEFAULT_STORE;
  return createHash('sha256').update(`mcp-sessions example requestState key\0${spec}`).digest();
}

let codec: RequestStateCodec<ForgetState> | undefined;

/** The process's codec (one per process: every per-request server shares it). */
export function forgetStateCodec(): RequestStateCodec<ForgetState> {
  codec ??= createRequestStateCodec<ForgetState>({
    key: requestStateKey(),
    ttlSeconds: REQUEST_STATE_TTL_SECONDS,
  });
  return codec;
}
