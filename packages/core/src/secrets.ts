/**
 * Shared secrets: a random key that every instance sharing a store agrees on with no setup, such
 * as the HMAC key sealing a stateless `requestState`. Kept in the store as a record of its own
 * kind (`createSecretRecord`), created once: of instances racing to create it, one `insert` wins
 * (a taken id is `SessionExistsError` on every store) and the others read the winner's. The record
 * is never due, so the sweep never removes it, and is never a session or a handle (a request
 * naming its id gets 404). Nothing here logs the value.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ConflictError, InvalidArgumentError, SessionExistsError, StoreError } from './errors';
import { createSecretRecord, recordKind, SECRET_VALUE_KEY } from './lifecycle';
import type { SessionRecord, SessionStore } from './store';

/** Random bytes in a new shared secret: 256 bits, a full-strength HMAC-SHA-256 key. */
export const SHARED_SECRET_BYTES = 32;

export interface SharedSecretOptions {
  /** Creation time written on the record (epoch ms). Default `Date.now()`. */
  now?: number;
}

/**
 * The secret named `name` in `store`: `SHARED_SECRET_BYTES` random bytes, created by the first
 * caller on any instance and the same for every caller afterwards, across restarts, for as long
 * as the store keeps its data (a memory store: the process). Names share one space per store:
 * prefix them by purpose. Any non-empty well-formed string; only its SHA-256 names the record.
 * Keep the value out of logs; anyone who can read the store can read it.
 *
 * @example
 * ```ts
 * import { createRequestStateCodec } from '@modelcontextprotocol/server';
 * import { sharedSecret } from '@mcp-sessions/core';
 *
 * // Every instance on this store seals and opens the same requestState.
 * const key = process.env.STATE_KEY ?? (await sharedSecret(store, 'myapp:requestState'));
 * const codec = createRequestStateCodec({ key, ttlSeconds: 600 });
 * ```
 */
export async function sharedSecret(
  store: SessionStore,
  name: string,
  options: SharedSecretOptions = {},
): Promise<Buffer> {
  if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed()) {
    throw new InvalidArgumentError('name', 'must be a non-empty, well-formed string');
  }
  const id = secretRecordId(name);
  // Read first: after the first start every call is one `get`, and no random bytes are wasted.
  for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
    const existing = await store.get(id);
    if (existing) return secretOf(existing, name);
    const value = randomBytes(SHARED_SECRET_BYTES);
    try {
      await store.insert(createSecretRecord(id, value.toString('base64url'), options.now ?? Date.now()));
      return value;
    } catch (error) {
      // Another instance created it between our read and our insert: read theirs.
      if (!(error instanceof SessionExistsError)) throw error;
    }
  }
  // Taken on insert yet gone on read, every time: something deletes it as fast as it is made.
  throw new ConflictError(id, CREATE_ATTEMPTS);
}

// --- Internal helpers ---

/** Insert-or-read rounds before giving up: one normally, two when a racer wins. */
const CREATE_ATTEMPTS = 3;

/** `secret:` + base64url(SHA-256(name)): 50 characters, a valid record id for any name. */
function secretRecordId(name: string): string {
  return `secret:${createHash('sha256').update(name, 'utf8').digest('base64url')}`;
}

/** The stored value, checked: a record of another kind or a short value is never used as a key. */
function secretOf(record: SessionRecord, name: string): Buffer {
  const encoded = recordKind(record) === 'secret' ? record.metadata?.[SECRET_VALUE_KEY] : undefined;
  const value = typeof encoded === 'string' ? Buffer.from(encoded, 'base64url') : undefined;
  if (value === undefined || value.length < SHARED_SECRET_BYTES) {
    // The name, not the value: the message may be logged.
    throw new StoreError(
      `record ${record.id} is not a shared secret of at least ${SHARED_SECRET_BYTES} bytes (name ${JSON.stringify(name)})`,
    );
  }
  return value;
}
