/**
 * The fields a heartbeat writes, for every record, in typed arrays indexed by the record's
 * `index`: a 100k-session tick then walks ~4 MB of compact memory instead of 100k scattered
 * objects (measured ~10x faster when the ids arrive in an order unrelated to insertion, as the
 * manager's sorted batches do). Also the per-`dueAt` lists of the due index (`prev`/`next`).
 */
export class HotFields {
  lastHeartbeatAt = new Float64Array(0);
  version = new Float64Array(0);
  dueAt = new Float64Array(0);
  /** Neighbours in the list of records with the same `dueAt`; -1 for none. */
  prev = new Int32Array(0);
  next = new Int32Array(0);
  /** 1 when the record's status is `active`, the only status `touch` writes. */
  active = new Uint8Array(0);
  /** Bumped when an index is freed, so a remembered index of a deleted record is known stale. */
  generation = new Uint32Array(0);
  private size = 0;
  private readonly free: number[] = [];

  /** A free index, growing the arrays when they are full. */
  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.size === this.dueAt.length) this.grow(Math.max(1024, this.size * 2));
    return this.size++;
  }

  release(index: number): void {
    this.generation[index]!++;
    this.active[index] = 0;
    this.prev[index] = this.next[index] = -1;
    this.free.push(index);
  }

  private grow(capacity: number): void {
    const grown = <T extends Float64Array | Int32Array | Uint8Array | Uint32Array>(
      old: T,
      make: (n: number) => T,
    ) => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.lastHeartbeatAt = grown(this.lastHeartbeatAt, (n) => new Float64Array(n));
    this.version = grown(this.version, (n) => new Float64Array(n));
    this.dueAt = grown(this.dueAt, (n) => new Float64Array(n));
    this.prev = grown(this.prev, (n) => new Int32Array(n).fill(-1));
    this.next = grown(this.next, (n) => new Int32Array(n).fill(-1));
    this.active = grown(this.active, (n) => new Uint8Array(n));
    this.generation = grown(this.generation, (n) => new Uint32Array(n));
  }
}
