import type { AgentStateKey } from '@mcp-sessions/core/adapter';

/**
 * Every key name, in one place. Shard n's keys all carry the hash tag `{<prefix>s<n>}` (one
 * cluster slot); a session's keys use its shard's tag, and so does a task's (the shard of the task's
 * own id). Ids, agent ids and state keys appear in key names only base64url-encoded, so `{`, `}`,
 * `*`, `?`, `[` in them can neither move a key to another slot nor match another session's keys in
 * a pattern.
 */
export function keySpace(prefix: string, shards: number) {
  const tags = Array.from({ length: shards }, (_, n) => `{${prefix}s${n}}:`);
  const shardOf = (id: string) => fnv1a(id) % shards;
  const session = (kind: string, id: string) => `${tags[shardOf(id)]}${kind}:${encodeName(id)}`;
  const stateMember = (k: { agentId: string; key: string }) =>
    `${encodeName(k.agentId)}:${encodeName(k.key)}`;
  return {
    allShards: tags.map((_, n) => n),
    shardOf,
    /** `{<prefix>s<n>}:`, the start of every key of shard n. */
    tag: (shard: number) => tags[shard]!,
    /** Hash: the record (`j` identity JSON, the liveness fields, `seq`); see scripts.ts. */
    record: (id: string) => session('r', id),
    /** Sorted set: ids of shard n scored by createdAt (the list order; written by insert only). */
    created: (shard: number) => `${tags[shard]}created`,
    /** Sorted set: ids of shard n scored by dueAt. */
    due: (shard: number) => `${tags[shard]}due`,
    /** Layout 1's "by heartbeat" index of one status, read only to migrate it. */
    layout1Index: (shard: number, status: string) => `${tags[shard]}hb:${status}`,
    /** Set: the session's state members (`<agent>:<key>`, encoded). */
    stateIndex: (id: string) => session('sk', id),
    /** String: one state entry, `updatedAt|expiresAt|json`. */
    stateEntry: (k: AgentStateKey) => `${session('st', k.sessionId)}:${stateMember(k)}`,
    stateEntryPrefix: (id: string) => `${session('st', id)}:`,
    /** Sorted set: `<session>:<agent>:<key>` (encoded) of shard n scored by expiresAt. */
    stateExpiry: (shard: number) => `${tags[shard]}sx`,
    stateExpiryPrefix: (id: string) => `${encodeName(id)}:`,
    stateMember,
    parseStateMember: (member: string): [agentId: string, key: string] => {
      const sep = member.indexOf(':');
      return [decodeName(member.slice(0, sep)), decodeName(member.slice(sep + 1))];
    },
    /** Sorted set: the session's events scored by seq, members `seq:createdAt:stream:json`. */
    events: (id: string) => session('ev', id),
    /** String: the byte total of the session's event messages (for `trimEvents` `maxBytes`). */
    eventBytes: (id: string) => session('eb', id),
    /** Pub/sub channel of the session's live bus: its shard's hash tag, so it stays in that slot. */
    busChannel: (id: string) => session('bus', id),
    /** Hash: a task (`j` identity JSON, one field per state value); in its own id's shard. */
    task: (id: string) => session('task', id),
    /** Sorted set: task ids of shard n scored by createdAt (the `listTasks` order). */
    taskCreated: (shard: number) => `${tags[shard]}taskcreated`,
    /** Sorted set: task ids of shard n that hold a lease, scored by leaseUntil (the lapsed claim). */
    taskLease: (shard: number) => `${tags[shard]}tasklease`,
    /** Sorted set: task ids of shard n that have a ttl, scored by expiresAt (the expiry sweep). */
    taskExpiry: (shard: number) => `${tags[shard]}taskexpiry`,
  };
}

export type KeySpace = ReturnType<typeof keySpace>;

/** Names in key names and channels: base64url of the UTF-8 bytes, so no character of a name is special. */
export function encodeName(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function decodeName(encoded: string): string {
  return Buffer.from(encoded, 'base64url').toString('utf8');
}

/** FNV-1a over UTF-16 code units: the shard of a session, for its keys and its bus channel alike. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
