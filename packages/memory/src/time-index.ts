/** Stale keys tolerated in a slot (and stale instants in the heap) beyond twice the live ones. */
const SLACK = 64;

/** The keys that were given one instant, with how many of them still have it. */
interface Slot<K> {
  keys: K[];
  /** Keys before this position are known stale. */
  head: number;
  live: number;
}

interface RecentSlot<K> {
  at: number;
  slot: Slot<K> | undefined;
}

function noSlot<K>(): RecentSlot<K> {
  return { at: Number.NaN, slot: undefined };
}

/**
 * Keys by instant, earliest first: the memory store's index of records by `dueAt` and of agent
 * state by `expiresAt`. Giving a key an instant is an array push and taking it away only counts
 * it out, so a heartbeat batch costs a few writes per record. A slot's stale keys (moved away
 * since) are skipped when read, using `holds`, and dropped with the slot once no key has its
 * instant; slots and the heap of instants are compacted once stale entries outnumber live ones.
 */
export class TimeIndex<K> {
  private readonly slots = new Map<number, Slot<K>>();
  /** The slots' instants; an instant whose slot was dropped is skipped and popped lazily. */
  private readonly times = new MinHeap();
  /** The slots last added to and removed from: a heartbeat batch moves every key from one instant to one other. */
  private readonly recent = { add: noSlot<K>(), remove: noSlot<K>() };

  /** `holds(key, at)`: whether `key` still has instant `at` in the caller's data. */
  constructor(private readonly holds: (key: K, at: number) => boolean) {}

  /** `key` now has instant `at` (it had none, or `remove` was called for its previous one). */
  add(key: K, at: number): void {
    let slot = this.slotAt(at, this.recent.add);
    if (slot === undefined) {
      slot = { keys: [], head: 0, live: 0 };
      this.slots.set(at, slot);
      this.times.push(at);
      if (this.times.size > 2 * this.slots.size + SLACK) this.times.rebuild([...this.slots.keys()]);
    }
    slot.keys.push(key);
    slot.live++;
    if (slot.keys.length > 2 * slot.live + SLACK) slot.keys = this.current(slot, at);
  }

  /** A key no longer has instant `at`. */
  remove(at: number): void {
    const slot = this.slotAt(at, this.recent.remove);
    if (slot !== undefined && --slot.live === 0) {
      this.slots.delete(at);
      this.recent.add = noSlot();
      this.recent.remove = noSlot();
    }
  }

  /** `slots.get(at)`, remembered in `recent` (the instant last asked for). */
  private slotAt(at: number, recent: RecentSlot<K>): Slot<K> | undefined {
    if (recent.at !== at || recent.slot === undefined) {
      recent.at = at;
      recent.slot = this.slots.get(at);
    }
    return recent.slot;
  }

  /**
   * At most `limit` distinct keys whose instant is `<= now`, earliest first. Changes nothing: the
   * caller moves or removes what it takes.
   */
  take(now: number, limit: number): K[] {
    const out: K[] = [];
    const seen = new Set<K>(); // a key that left an instant and came back sits in its slot twice
    const popped: number[] = [];
    while (out.length < limit) {
      const at = this.times.peek();
      if (at === undefined || at > now) break;
      const slot = this.slots.get(at);
      // A dropped slot's instant, or an instant pushed twice (its slot dropped and made again).
      if (slot !== undefined && popped[popped.length - 1] !== at) {
        let i = slot.head;
        for (; i < slot.keys.length && out.length < limit; i++) {
          const key = slot.keys[i]!;
          if (!this.holds(key, at)) {
            if (i === slot.head) slot.head++;
          } else if (!seen.has(key)) {
            seen.add(key);
            out.push(key);
          }
        }
        if (i < slot.keys.length) break; // the limit cut this slot: it stays first
      }
      popped.push(this.times.pop()!);
    }
    // The caller has not moved the keys yet: slots still in use keep their instant in the heap.
    for (let k = 0; k < popped.length; k++) {
      const at = popped[k]!;
      if (at !== popped[k - 1] && this.slots.has(at)) this.times.push(at);
    }
    return out;
  }

  /** The slot's keys that still have its instant, each once. */
  private current(slot: Slot<K>, at: number): K[] {
    const keys = new Set<K>();
    for (let i = slot.head; i < slot.keys.length; i++) {
      if (this.holds(slot.keys[i]!, at)) keys.add(slot.keys[i]!);
    }
    slot.head = 0;
    return [...keys];
  }
}

/** A binary min-heap of instants. */
class MinHeap {
  private items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): number | undefined {
    return this.items[0];
  }

  push(item: number): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! <= item) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): number | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Replaces the contents in O(n). */
  rebuild(items: number[]): void {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(start: number): void {
    const items = this.items;
    const item = items[start]!;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && items[child + 1]! < items[child]!) child++;
      if (items[child]! >= item) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = item;
  }
}
