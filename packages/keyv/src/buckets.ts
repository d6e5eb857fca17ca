/**
 * Secondary indexes (due records, records by creation, expiring agent state; task leases, task
 * expiries, tasks by creation) kept as ordinary Keyv entries, since Keyv has none. An index is a
 * set of `(ids..., time)` entries cut into time buckets of `bucketMs`, each bucket split into
 * `shards` values by a hash of the first id (so a single-session or single-task write rewrites
 * one small value), plus one directory value listing the non-empty buckets with their entry
 * counts. A lookup up to an instant reads the directory and then only the buckets up to it: never
 * a scan of the whole keyspace.
 *
 * Only the owning store writes these values, one `apply` at a time, so a write-through cache of
 * them stays exact in this process; it is dropped after any failed write.
 */
import { StoreError } from '@mcp-sessions/core';

export type IndexKind = 'due' | 'created' | 'expiry' | 'taskLease' | 'taskExpiry' | 'taskCreated';

/** Ids then the indexed time: `[sessionId, at]`, `[sessionId, agentId, key, at]` or `[taskId, at]`. */
export type IndexEntry = readonly [string, ...string[], number];

export interface IndexChange {
  readonly kind: IndexKind;
  readonly entry: IndexEntry;
  readonly add: boolean;
}

/** Backend access for one operation (its errors already mapped by the store). */
export interface KvIo {
  getMany(keys: string[]): Promise<Array<string | undefined>>;
  setMany(entries: Array<{ key: string; value: string }>): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
}

type Directory = Map<number, number>;
type Shard = Map<string, IndexEntry>;

export class BucketIndex {
  private readonly cache = new Map<string, Directory | Shard>();
  private readonly dirKeys = new Set<string>();
  /** The running `apply`: the next one waits, so writes of one value land in order. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    /** Builds the Keyv key of a directory (`part` = 'dir') or of a shard (`bucket:shard`). */
    private readonly keyOf: (kind: IndexKind, part: string) => string,
    readonly bucketMs: number,
    readonly shards: number,
  ) {}

  bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs);
  }

  /** Adds and removes entries (adding one present, or removing one absent, is a no-op). */
  apply(io: KvIo, changes: readonly IndexChange[]): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    const run = this.tail.then(() => this.write(io, changes));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Non-empty buckets, ascending, up to and including `maxBucket`. */
  async bucketsUpTo(io: KvIo, kind: IndexKind, maxBucket: number): Promise<number[]> {
    return [...(await this.directory(io, kind)).keys()].filter((b) => b <= maxBucket).sort((a, b) => a - b);
  }

  /** Non-empty buckets, descending, from `startBucket` down. */
  async bucketsDownFrom(io: KvIo, kind: IndexKind, startBucket: number): Promise<number[]> {
    return [...(await this.directory(io, kind)).keys()].filter((b) => b <= startBucket).sort((a, b) => b - a);
  }

  /** Every entry of one bucket (all shards, one round trip when not cached). Unordered. */
  async entries(io: KvIo, kind: IndexKind, bucket: number): Promise<IndexEntry[]> {
    const keys = Array.from({ length: this.shards }, (_, s) => this.shardKey(kind, bucket, s));
    return (await this.load(io, keys)).flatMap((shard) => [...shard.values()]) as IndexEntry[];
  }

  /** Forgets the cache (the next access reads the backend again). */
  reset(): void {
    this.cache.clear();
  }

  // --- Internal helpers ---

  private async write(io: KvIo, changes: readonly IndexChange[]): Promise<void> {
    const keys = new Set<string>();
    for (const c of changes) {
      keys.add(this.dirKey(c.kind));
      keys.add(this.shardKey(c.kind, this.bucketOf(timeOf(c.entry)), shardOf(c.entry[0], this.shards)));
    }
    await this.load(io, [...keys]);
    const dirty = new Set<string>();
    try {
      for (const c of changes) {
        const bucket = this.bucketOf(timeOf(c.entry));
        const dirKey = this.dirKey(c.kind);
        const shardKey = this.shardKey(c.kind, bucket, shardOf(c.entry[0], this.shards));
        const dir = this.cache.get(dirKey) as Directory;
        const shard = this.cache.get(shardKey) as Shard;
        const id = identity(c.entry);
        if (c.add === shard.has(id)) continue;
        if (c.add) shard.set(id, c.entry);
        else shard.delete(id);
        const count = (dir.get(bucket) ?? 0) + (c.add ? 1 : -1);
        if (count > 0) dir.set(bucket, count);
        else dir.delete(bucket);
        dirty.add(dirKey);
        dirty.add(shardKey);
      }
      const sets: Array<{ key: string; value: string }> = [];
      const deletes: string[] = [];
      for (const key of dirty) {
        const value = this.cache.get(key)!;
        if (value.size === 0) deletes.push(key);
        else sets.push({ key, value: serialize(value) });
      }
      if (sets.length > 0) await io.setMany(sets);
      if (deletes.length > 0) await io.deleteMany(deletes);
    } catch (error) {
      this.cache.clear(); // the backend may hold some of these writes and not others
      throw error;
    }
  }

  private async directory(io: KvIo, kind: IndexKind): Promise<Directory> {
    return (await this.load(io, [this.dirKey(kind)]))[0] as Directory;
  }

  /** The values of `keys`, read from the backend when not cached (a failed write clears the cache). */
  private async load(io: KvIo, keys: string[]): Promise<Array<Directory | Shard>> {
    const missing = keys.filter((k) => !this.cache.has(k));
    const values = missing.length === 0 ? [] : await io.getMany(missing);
    missing.forEach((key, i) => {
      if (this.cache.has(key)) return;
      const text = values[i];
      this.cache.set(key, this.dirKeys.has(key) ? parseDirectory(key, text) : parseShard(key, text));
    });
    return keys.map((k) => this.cache.get(k)!);
  }

  private dirKey(kind: IndexKind): string {
    const key = this.keyOf(kind, 'dir');
    this.dirKeys.add(key);
    return key;
  }

  private shardKey(kind: IndexKind, bucket: number, shard: number): string {
    return this.keyOf(kind, `${bucket}:${shard}`);
  }
}

export function timeOf(entry: IndexEntry): number {
  return entry[entry.length - 1] as number;
}

function identity(entry: IndexEntry): string {
  return JSON.stringify(entry);
}

/** FNV-1a of the entry's first id: spreads one bucket's entries over its shards. */
function shardOf(sessionId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    h ^= sessionId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

function serialize(value: Directory | Shard): string {
  return JSON.stringify([...value.entries()].map(([k, v]) => (typeof k === 'number' ? [k, v] : v)));
}

function parseDirectory(key: string, text: string | undefined): Directory {
  const dir: Directory = new Map();
  if (text === undefined) return dir;
  for (const item of parseArray(key, text)) {
    if (!Array.isArray(item) || typeof item[0] !== 'number' || typeof item[1] !== 'number') corrupt(key);
    dir.set(item[0], item[1]);
  }
  return dir;
}

function parseShard(key: string, text: string | undefined): Shard {
  const shard: Shard = new Map();
  if (text === undefined) return shard;
  for (const item of parseArray(key, text)) {
    if (
      !Array.isArray(item) ||
      item.length < 2 ||
      typeof item[item.length - 1] !== 'number' ||
      !item.slice(0, -1).every((p) => typeof p === 'string')
    ) {
      corrupt(key);
    }
    const entry = item as unknown as IndexEntry;
    shard.set(identity(entry), entry);
  }
  return shard;
}

function parseArray(key: string, text: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new StoreError(`corrupt index value at ${key}`, { cause });
  }
  if (!Array.isArray(value)) corrupt(key);
  return value;
}

function corrupt(key: string): never {
  throw new StoreError(`corrupt index value at ${key}`);
}
