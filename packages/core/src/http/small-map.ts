/**
 * A map for the few entries a held session has at once (its running requests): the first entry in
 * two fields, a `Map` only while there are more. An empty `Map` keeps a ~150 B table, and every held
 * session would keep two for its life, empty between requests. Keys compare with `===` (no NaN).
 */
export class SmallMap<K, V> {
  private key: K | typeof NONE = NONE;
  private value: V | undefined = undefined;
  /** The other entries; made by a second entry at once, dropped once empty. */
  private more: Map<K, V> | undefined = undefined;

  get(key: K): V | undefined {
    return this.key === key ? this.value : this.more?.get(key);
  }

  has(key: K): boolean {
    return this.key === key || (this.more?.has(key) ?? false);
  }

  set(key: K, value: V): void {
    if (this.key === key || (this.key === NONE && !this.more?.has(key))) {
      this.key = key;
      this.value = value;
      return;
    }
    this.more ??= new Map();
    this.more.set(key, value);
  }

  /** False when the key was not there. */
  delete(key: K): boolean {
    if (this.key === key) {
      this.key = NONE;
      this.value = undefined;
      return true;
    }
    if (!this.more?.delete(key)) return false;
    if (this.more.size === 0) this.more = undefined;
    return true;
  }
}

const NONE: unique symbol = Symbol('none');
