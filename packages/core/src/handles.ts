/**
 * The manager's records that are not sessions (stateless era, SEP-2567): handles (state that
 * spans requests, reached by an explicit id), consume-once markers (single-use `requestState`)
 * and shared secrets. Each is a record kind of `lifecycle.ts`, kept in the same store.
 */
import { createHash } from 'node:crypto';
import type { AgentState, AgentStates } from './agent-state';
import {
  HandleExpiredError,
  InvalidArgumentError,
  type McpSessionsError,
  SessionExistsError,
  SessionNotFoundError,
} from './errors';
import { assertName, generateSessionId, isValidSessionId } from './ids';
import {
  createHandleRecord,
  createOnceRecord,
  type HandleRefusal,
  handleDeadline,
  handleRefusal,
  type LifecycleEvent,
} from './lifecycle';
import { type Clock, DEFAULT_HANDLE_TTL_MS, type PrincipalOptions, positiveNumber } from './options';
import { sharedSecret } from './secrets';
import type { SessionRecord, SessionStore } from './store';

export interface MintHandleOptions {
  /** The authenticated subject the handle is bound to; null or absent for none (the id is then the only secret). */
  principal?: string | null;
  /** Lifetime from now. Default `DEFAULT_HANDLE_TTL_MS` (1 hour). */
  ttlMs?: number;
}

export interface TouchHandleOptions extends PrincipalOptions {
  /** The handle then lives at least this long from now (never shortened). Default `DEFAULT_HANDLE_TTL_MS`. */
  ttlMs?: number;
}

export interface HandleInfo {
  handle: string;
  /** Epoch ms after which the handle is refused with `HandleExpiredError`. */
  expiresAt: number;
}

export interface ConsumeOnceOptions {
  /** How long the key stays consumed. Required: at least the lifetime of what the key names. */
  ttlMs: number;
}

/** The manager's read, decide, compare-and-set (`SessionManager.apply`). */
export type ApplyEvent = (id: string, event: LifecycleEvent) => Promise<{ record: SessionRecord }>;

export class Handles {
  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    private readonly apply: ApplyEvent,
    private readonly state: AgentStates,
  ) {}

  async mint(options: MintHandleOptions = {}): Promise<HandleInfo> {
    const ttlMs = positiveNumber('ttlMs', options.ttlMs, DEFAULT_HANDLE_TTL_MS);
    const record = createHandleRecord(
      { id: generateSessionId(), principal: options.principal ?? null, ttlMs },
      this.clock.now(),
    );
    await this.store.insert(record);
    return { handle: record.id, expiresAt: record.dueAt };
  }

  async check(handle: string, options: PrincipalOptions = {}): Promise<HandleInfo> {
    assertHandle(handle);
    const record = await this.store.get(handle);
    const refusal = handleRefusal(record, options.principal, this.clock.now());
    if (refusal || !record) throw handleError(handle, refusal ?? 'not_found');
    return { handle, expiresAt: handleDeadline(record) ?? record.dueAt };
  }

  async touch(handle: string, options: TouchHandleOptions = {}): Promise<HandleInfo> {
    assertHandle(handle);
    const ttlMs = positiveNumber('ttlMs', options.ttlMs, DEFAULT_HANDLE_TTL_MS);
    const { record } = await this.apply(handle, {
      type: 'extend_handle',
      principal: options.principal,
      ttlMs,
    });
    return { handle, expiresAt: handleDeadline(record) ?? record.dueAt };
  }

  async agentState(handle: string, agentId: string, options: PrincipalOptions = {}): Promise<AgentState> {
    assertName('agentId', agentId);
    await this.check(handle, options);
    return this.state.bind(handle, agentId);
  }

  async consumeOnce(key: string, options: ConsumeOnceOptions): Promise<boolean> {
    if (typeof key !== 'string' || key.length === 0 || !key.isWellFormed()) {
      throw new InvalidArgumentError('key', 'must be a non-empty, well-formed string');
    }
    const ttlMs = positiveNumber('ttlMs', options?.ttlMs, Number.NaN);
    try {
      await this.store.insert(createOnceRecord(onceRecordId(key), this.clock.now(), ttlMs));
      return true;
    } catch (error) {
      if (error instanceof SessionExistsError) return false;
      throw error;
    }
  }

  sharedSecret(name: string): Promise<Buffer> {
    return sharedSecret(this.store, name, { now: this.clock.now() });
  }
}

/** The error for a handle refused: expired, or unknown to this caller. */
export function handleError(handle: string, refusal: HandleRefusal): McpSessionsError {
  return refusal === 'expired' ? new HandleExpiredError(handle) : new SessionNotFoundError(handle);
}

// --- Internal helpers ---

function assertHandle(handle: unknown): asserts handle is string {
  if (!isValidSessionId(handle)) {
    throw new InvalidArgumentError('handle', 'must be 1-256 visible ASCII characters');
  }
}

/** `once:` + base64url(SHA-256(key)): 48 characters, a valid session id for any key length. */
function onceRecordId(key: string): string {
  return `once:${createHash('sha256').update(key, 'utf8').digest('base64url')}`;
}
