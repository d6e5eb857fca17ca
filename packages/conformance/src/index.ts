/**
 * `@mcp-sessions/conformance`: the `SessionStore` contract as an executable suite.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { runConformance } from '@mcp-sessions/conformance';
 * import { MySessionStore } from '../src';
 *
 * runConformance({ name: 'mine', describe, it, createStore: () => new MySessionStore() });
 * ```
 */
import { agentState } from './groups/agent-state';
import { bus } from './groups/bus';
import { cas } from './groups/cas';
import { concurrency } from './groups/concurrency';
import { due } from './groups/due';
import { durability } from './groups/durability';
import { eventLog } from './groups/event-log';
import { lifecycle } from './groups/lifecycle';
import { listing } from './groups/listing';
import { once } from './groups/once';
import { records } from './groups/records';
import { tasks } from './groups/tasks';
import { values } from './groups/values';
import { type GroupDefinition, registerGroup, testNames } from './harness';
import type { ConformanceOptions } from './types';

export { type ErrorType, isErrorOf, rejectsWith } from './assert';
export * from './fixtures';
export {
  type ConformanceContext,
  type ConformanceTest,
  type GroupDefinition,
  type Requirement,
  TEST_POLICY,
} from './harness';
export type { ConformanceOptions, DescribeLike, HookLike, ItLike, TestBody } from './types';

/** Every group, in the order `runConformance` registers them. */
export const conformanceGroups: readonly GroupDefinition[] = [
  records,
  cas,
  listing,
  due,
  agentState,
  eventLog,
  concurrency,
  values,
  lifecycle,
  once,
  durability,
  tasks,
  bus,
];

/** Every test's full name (`<group>: <title>`): what `disabled` may list. */
export const conformanceTestNames: readonly string[] = testNames(conformanceGroups);

/**
 * Registers the whole suite under one describe (`mcp-sessions conformance: <name>`). Each test
 * gets a fresh store from `createStore`; tests the store's declared capabilities rule out, and
 * those named in `disabled`, are registered as skipped with a printed reason.
 */
export function runConformance(options: ConformanceOptions): void {
  const known = new Set(conformanceTestNames);
  for (const name of options.disabled ?? []) {
    if (!known.has(name))
      console.warn(`[conformance ${options.name}] disabled test "${name}" does not exist`);
  }
  options.describe(`mcp-sessions conformance: ${options.name}`, () => {
    for (const group of conformanceGroups) {
      // A store without a bus (most custom adapters) gets one line, not a list of skipped tests.
      if (group === bus && !options.createBus) {
        console.warn(`[conformance ${options.name}] skipped the bus group — no createBus option`);
        continue;
      }
      registerGroup(group, options, false);
    }
  });
}

/** `records: ...` — insert, get, delete (cascading), touch, purgeSessionData. */
export const recordTests = (options: ConformanceOptions): void => registerGroup(records, options, true);
/** `cas: ...` — compareAndSet writes liveness only; every write sets a higher version. */
export const casTests = (options: ConformanceOptions): void => registerGroup(cas, options, true);
/** `listing: ...` — keyset pages by createdAt desc, id desc (no heartbeat moves a record); status filters; 10k records. */
export const listingTests = (options: ConformanceOptions): void => registerGroup(listing, options, true);
/** `due: ...` — claimDue order, limit and lease. */
export const dueTests = (options: ConformanceOptions): void => registerGroup(due, options, true);
/** `state: ...` — agent state, expiry by the `now` argument, purge, liveness of the session. */
export const agentStateTests = (options: ConformanceOptions): void =>
  registerGroup(agentState, options, true);
/** `events: ...` — per-session seqs, scoped reads, stream filter, trims that keep the counter. */
export const eventLogTests = (options: ConformanceOptions): void => registerGroup(eventLog, options, true);
/** `concurrency: ...` — races; skipped unless the store declares `atomic`. */
export const concurrencyTests = (options: ConformanceOptions): void =>
  registerGroup(concurrency, options, true);
/** `values: ...` — unicode, prototype keys, 1 MiB, exact round trips, copies, InvalidValueError. */
export const valueTests = (options: ConformanceOptions): void => registerGroup(values, options, true);
/** `tasks: ...` — the tasks facet: exact records, versioned state, leases held by one worker, ttl; skipped unless the store declares `tasks`. */
export const taskTests = (options: ConformanceOptions): void => registerGroup(tasks, options, true);
/** `lifecycle: ...` — DESIGN.md's lifecycle table through a real SessionManager on a moved clock. */
export const lifecycleTests = (options: ConformanceOptions): void => registerGroup(lifecycle, options, true);
/** `once: ...` — atomic insert of one id, consume-once markers and handles through a SessionManager. */
export const onceTests = (options: ConformanceOptions): void => registerGroup(once, options, true);
/** `bus: ...` — the live bus from `createBus`: delivery, order, isolation, unsubscribe, large payloads, close. */
export const busTests = (options: ConformanceOptions): void => registerGroup(bus, options, true);
/** `durability: ...` — close, reopen, read back; needs `reopenStore` and a store declaring `durable`. */
export const durabilityTests = (options: ConformanceOptions): void =>
  registerGroup(durability, options, true);
