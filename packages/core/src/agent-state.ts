/**
 * The manager's agent-state facet: `(sessionId, agentId, key) -> JSON value` with an optional
 * expiry, names and values checked before anything is written. A session's and a handle's state
 * are the same thing here; the HTTP layer binds one to a tool call (`agentState` in
 * `@mcp-sessions/core/http`), handles bind one to a handle.
 */
import { InvalidArgumentError } from './errors';
import { assertName, assertSessionId } from './ids';
import { encodeJson, type JsonValue } from './json';
import { type Clock, positiveNumber } from './options';
import type { AgentStateEntry, SessionStore } from './store';

/** Per-agent state of one session (or handle), for one agent: what a tool handler needs. */
export interface AgentState {
  readonly sessionId: string;
  readonly agentId: string;
  load(key: string): Promise<JsonValue | undefined>;
  save(key: string, value: JsonValue, options?: SaveStateOptions): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** This agent's unexpired entries, ordered by key. */
  list(): Promise<AgentStateEntry[]>;
}

export type SaveStateOptions =
  | { ttlMs?: number; expiresAt?: never }
  | { expiresAt?: number | Date; ttlMs?: never };

export class AgentStates {
  /** `used`: told of every save, so that a write counts as use of the session (see `Activity`). */
  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    private readonly used: (sessionId: string, now: number) => void,
  ) {}

  async save(
    agentId: string,
    sessionId: string,
    key: string,
    value: JsonValue,
    options: SaveStateOptions = {},
  ): Promise<void> {
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    encodeJson(value);
    const now = this.clock.now();
    this.used(sessionId, now);
    await this.store.setState({
      sessionId,
      agentId,
      key,
      value,
      updatedAt: now,
      expiresAt: expiry(options, now),
    });
  }

  async load(agentId: string, sessionId: string, key: string): Promise<JsonValue | undefined> {
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    const entry = await this.store.getState({ sessionId, agentId, key }, this.clock.now());
    return entry?.value;
  }

  async delete(agentId: string, sessionId: string, key: string): Promise<boolean> {
    assertName('agentId', agentId);
    assertSessionId(sessionId);
    assertName('key', key);
    return this.store.deleteState({ sessionId, agentId, key });
  }

  async list(sessionId: string, agentId?: string): Promise<AgentStateEntry[]> {
    assertSessionId(sessionId);
    if (agentId !== undefined) assertName('agentId', agentId);
    return this.store.listState(sessionId, agentId, this.clock.now());
  }

  /** One agent's state under one id, as an object a tool handler is given. */
  bind(sessionId: string, agentId: string): AgentState {
    return {
      sessionId,
      agentId,
      load: (key) => this.load(agentId, sessionId, key),
      save: (key, value, options) => this.save(agentId, sessionId, key, value, options),
      delete: (key) => this.delete(agentId, sessionId, key),
      list: () => this.list(sessionId, agentId),
    };
  }
}

// --- Internal helpers ---

function expiry(options: SaveStateOptions, now: number): number | null {
  if (options.ttlMs !== undefined && options.expiresAt !== undefined) {
    throw new InvalidArgumentError('ttlMs', 'give ttlMs or expiresAt, not both');
  }
  if (options.ttlMs !== undefined) return now + positiveNumber('ttlMs', options.ttlMs, 0);
  if (options.expiresAt === undefined) return null;
  const at = options.expiresAt instanceof Date ? options.expiresAt.getTime() : options.expiresAt;
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new InvalidArgumentError('expiresAt', 'must be a valid time');
  }
  return at;
}
