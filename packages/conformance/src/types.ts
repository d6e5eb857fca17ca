import type { SessionBus, SessionStore } from '@mcp-sessions/core';

/**
 * A test body as the suite hands it to the runner. The runner's own context (vitest's `ctx`,
 * node:test's `t`) comes in as `context`; the suite only uses its `skip(reason)` when present.
 */
export type TestBody = (context?: unknown) => Promise<void>;

/** The runner's `it`/`test`: vitest's and node:test's both fit. `skip` registers a skipped test. */
export interface ItLike {
  (name: string, fn: TestBody): unknown;
  skip?: (name: string, fn: TestBody) => unknown;
}

/** The runner's `describe`. */
export type DescribeLike = (name: string, fn: () => void) => unknown;

/** The runner's `beforeEach` / `afterEach`. */
export type HookLike = (fn: () => Promise<void>) => unknown;

export interface ConformanceOptions {
  /** Shown in the describe titles and in skip warnings, e.g. `sqlite`. */
  name: string;
  describe: DescribeLike;
  it: ItLike;
  /** When given, each test's store is created here (store errors show as hook failures). */
  beforeEach?: HookLike;
  /** When given, each test's store is destroyed here. */
  afterEach?: HookLike;
  /** A fresh, EMPTY store for every test. */
  createStore(): SessionStore | Promise<SessionStore>;
  /** Releases a test's store (drop tables, delete files, flush keys...). Default: `store.close()`. */
  destroyStore?(store: SessionStore): Promise<void>;
  /**
   * Enables the durability tests: the suite calls `store.close()`, then this, and expects a store
   * over the same backing data (same file, database, key prefix). The returned store replaces the
   * test's store: `destroyStore` later gets the reopened one, never the closed one.
   */
  reopenStore?(store: SessionStore): Promise<SessionStore>;
  /**
   * Enables the `bus` group: a new, independent bus on the test backend per call (as another
   * process would open), e.g. `() => new RedisSessionBus({ url })`. Without it the group is skipped.
   */
  createBus?(): SessionBus | Promise<SessionBus>;
  /** Full test names to skip, e.g. `'records: insert rejects a duplicate id'`. */
  disabled?: readonly string[];
  /**
   * Base time source; each test starts its own controllable clock here and moves it forward.
   * Default `Date.now`. Keep it near the real time: adapters may also set native TTLs.
   */
  clock?: { now(): number };
  /** Multiplier for the big counts (10k-record pagination, batches). Default 1 = the required sizes. */
  scale?: number;
}
