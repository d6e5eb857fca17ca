import { createHash } from 'node:crypto';
import type { IndexKind } from './buckets';

/**
 * Every key name, in one place: `prefix:tag:parts` inside the Keyv's own namespace, hashed when
 * too long for the backend's key column (`maxKeyLength`).
 */
export function keySpace(prefix: string, maxKeyLength: number) {
  /** `prefix:tag:parts`; hashed when too long for the backend's key column. */
  const key = (tag: string, ...parts: string[]): string => {
    const key = `${prefix}:${tag}:${parts.join(':')}`;
    if (key.length <= maxKeyLength) return key;
    return `${prefix}:${tag}#${createHash('sha256').update(key).digest('base64url')}`;
  };
  return {
    /** The layout version and index geometry of the prefix (never hashed). */
    layout: `${prefix}:layout`,
    /** Layout 1's heartbeat index directory: only its presence is read, to recognise layout 1. */
    layout1Index: () => key('ih', 'dir'),
    /** A bucket index's directory (`part` = 'dir') or one of its shards (`bucket:shard`). */
    index: (kind: IndexKind, part: string) => key(INDEX_TAGS[kind], part),
    /** A record's identity, written once by `insert`. */
    identity: (id: string) => key('r', id), // layout 1's whole-record key
    /** A record's liveness: its presence is what makes the record exist. */
    liveness: (id: string) => key('v', id),
    /** The session manifest: event counter, bounds, byte total, agent-state slots. */
    manifest: (id: string) => key('m', id),
    state: (sessionId: string, agentId: string, k: string) =>
      key('s', sessionId, escapePart(agentId), escapePart(k)),
    event: (sessionId: string, seq: number) => key('e', sessionId, String(seq)),
    /** A task's identity, written once by `insertTask`. */
    taskIdentity: (id: string) => key('ti', id),
    /** A task's state: its presence is what makes the task exist. */
    taskState: (id: string) => key('ts', id),
  };
}

export type KeySpace = ReturnType<typeof keySpace>;

// --- Internal helpers ---

const INDEX_TAGS: Record<IndexKind, string> = {
  due: 'id',
  created: 'ic',
  expiry: 'ix',
  taskLease: 'itl',
  taskExpiry: 'itx',
  taskCreated: 'itc',
};

/** Session ids never hold `:` escapes; agent ids and keys may hold anything, so `%` and `:` are escaped. */
function escapePart(part: string): string {
  return part.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}
