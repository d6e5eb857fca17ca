/**
 * The sweep: what is due, claimed through the store's index and decided by the lifecycle. Expires
 * sessions past grace or their idle deadline (their state and events deleted), deletes tombstones,
 * purges agent state past its own expiry. Claims are leased, so instances sweeping at once never
 * expire a session twice.
 */
import { type LifecyclePolicy, sweepAction, transition } from './lifecycle';
import { DEFAULT_SWEEP_LEASE_MS } from './options';
import { livenessOf, type SessionRecord, type SessionStore } from './store';

export interface CleanupResult {
  /** Sessions moved to expired (their state and events deleted). */
  expired: number;
  /** Tombstones deleted. */
  deleted: number;
  /** Agent-state entries past their own expiry, deleted. */
  stateEntriesPurged: number;
}

export interface SweepInput {
  store: SessionStore;
  policy: LifecyclePolicy;
  now: number;
  batchSize: number;
  /** Told of each session this sweep expired, once its state and events are deleted. */
  expired(record: SessionRecord): void;
}

export async function sweep({ store, policy, now, batchSize, expired }: SweepInput): Promise<CleanupResult> {
  const result: CleanupResult = { expired: 0, deleted: 0, stateEntriesPurged: 0 };
  for (;;) {
    const due = await store.claimDue({ now, limit: batchSize, leaseMs: DEFAULT_SWEEP_LEASE_MS });
    for (const record of due) {
      const action = sweepAction(record, now, policy);
      if (action === 'delete') {
        if (await store.delete(record.id)) result.deleted++;
      } else if (action === 'expire') {
        const next = transition(record, { type: 'expire' }, now, policy);
        // A lost compare-and-set means another writer (a recovery) got there first: not ours.
        if (!next.ok || !(await store.compareAndSet(record.id, livenessOf(next.record), record.version)))
          continue;
        await store.purgeSessionData(record.id);
        result.expired++;
        expired(next.record);
      }
    }
    if (due.length < batchSize) break;
  }
  result.stateEntriesPurged = await store.purgeExpiredState(now);
  return result;
}
