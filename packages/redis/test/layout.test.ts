/**
 * Data written by layout 1 (before contract v2): the record as one JSON blob `j` (liveness as of
 * its last compare-and-set) with `v` and `s` beside it, lastHeartbeatAt only as the score of a
 * per-status "by heartbeat" index. A store of this version migrates it on first use; a layout it
 * does not know is refused. The layout-1 keys are written here by hand, as that version wrote them.
 */
import { SessionNotFoundError, type SessionRecord, StoreError } from '@mcp-sessions/core';
import { createTask } from '@mcp-sessions/core/adapter';
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisSessionStore } from '../src/index';
import { fnv1a } from '../src/keys';
import { rawClient, targets, uniquePrefix } from './support';

const NOW = 1_764_000_000_000;

function record(id: string, overrides: Partial<SessionRecord>): SessionRecord {
  return {
    id,
    status: 'active',
    version: 1,
    principal: null,
    ownerId: 'old-host',
    createdAt: NOW,
    lastHeartbeatAt: NOW,
    disconnectedAt: null,
    graceExpiresAt: null,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: null,
    dueAt: NOW + 600_000,
    workingDirectory: null,
    metadata: null,
    initializeParams: null,
    ...overrides,
  };
}

for (const target of targets) {
  describe.skipIf(target.missing !== undefined)(`${target.name} layout`, () => {
    const open: RedisSessionStore[] = [];
    const store = (prefix: string, shards: number) => {
      const s = target.store({ prefix, shards, logger: false });
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    /** Writes records as layout 1 did; `stored` is what the store must read back after migrating. */
    async function writeLayout1(
      prefix: string,
      shards: number,
      rows: Array<{ stored: SessionRecord; blob: SessionRecord; seq?: number }>,
    ) {
      const raw = await rawClient(target);
      try {
        await raw.client.set(`${prefix}layout`, `shards=${shards}`);
        for (const { stored, blob, seq } of rows) {
          const tag = `{${prefix}s${fnv1a(stored.id) % shards}}:`;
          const key = `${tag}r:${Buffer.from(stored.id).toString('base64url')}`;
          await raw.client.hSet(key, {
            j: JSON.stringify(blob),
            v: String(stored.version),
            s: stored.status,
          });
          if (seq !== undefined) await raw.client.hSet(key, 'seq', String(seq));
          await raw.client.zAdd(`${tag}hb:${stored.status}`, {
            score: stored.lastHeartbeatAt,
            value: stored.id,
          });
          await raw.client.zAdd(`${tag}due`, { score: stored.dueAt, value: stored.id });
        }
      } finally {
        await raw.close();
      }
    }

    it('migrates layout 1 on first use: liveness from the fields and index scores, identity from the blob', async () => {
      const prefix = uniquePrefix();
      const active = record('a/1', {
        version: 7,
        ownerId: 'host:1/"quoted"',
        lastHeartbeatAt: NOW + 5_000,
        dueAt: NOW + 605_000,
        principal: 'user-1',
        workingDirectory: '/srv/ü',
        metadata: { path: 'a/b', emoji: '😀', empty: {}, list: [], n: 0.1 },
        initializeParams: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c' } },
      });
      const disconnected = record('d', {
        status: 'disconnected',
        version: 4,
        ownerId: null,
        createdAt: NOW + 1,
        disconnectedAt: NOW + 2_000,
        graceExpiresAt: NOW + 602_000,
        recoveryAttempts: 2,
        recoveredAt: NOW + 1_000,
        dueAt: NOW + 602_000,
      });
      const closed = record('c', {
        status: 'closed',
        version: 9,
        createdAt: NOW + 2,
        endedAt: NOW + 3_000,
        dueAt: NOW + 3_603_000,
      });
      await writeLayout1(prefix, 4, [
        // Layout 1 overrode the blob's version and status with `v`/`s`, and kept hb and due in scores.
        { stored: active, blob: { ...active, version: 6, lastHeartbeatAt: NOW, dueAt: NOW }, seq: 3 },
        { stored: disconnected, blob: { ...disconnected, status: 'active' } },
        { stored: closed, blob: closed },
      ]);

      const s = store(prefix, 4);
      expect(await s.get('a/1')).toEqual(active);
      expect(await s.get('d')).toEqual(disconnected);
      expect(await s.get('c')).toEqual(closed);
      const all = await s.list({ statuses: ['active', 'disconnected', 'expired', 'closed'], limit: 10 });
      expect(all.map((r) => r.id)).toEqual(['c', 'd', 'a/1']);
      expect((await s.list({ statuses: ['active', 'disconnected'], limit: 10 })).map((r) => r.id)).toEqual([
        'd',
        'a/1',
      ]);

      // Live is endedAt null, the event counter carried on, touch and CAS work on migrated records.
      expect(await s.appendEvent({ sessionId: 'a/1', streamId: 's', message: 1, createdAt: NOW })).toBe(4);
      await s.setState({ sessionId: 'd', agentId: 'x', key: 'k', value: 1, updatedAt: NOW, expiresAt: null });
      await expect(
        s.setState({ sessionId: 'c', agentId: 'x', key: 'k', value: 1, updatedAt: NOW, expiresAt: null }),
      ).rejects.toBeInstanceOf(SessionNotFoundError);
      expect(await s.touch(['a/1', 'd'], { now: NOW + 9_000, dueAt: NOW + 700_000 })).toEqual(['a/1']);
      expect(await s.get('a/1')).toEqual({
        ...active,
        version: 8,
        lastHeartbeatAt: NOW + 9_000,
        dueAt: NOW + 700_000,
      });
      const claimed = await s.claimDue({ now: NOW + 602_000, limit: 10, leaseMs: 1_000 });
      expect(claimed.map((r) => r.id)).toEqual(['d']);

      const raw = await rawClient(target);
      try {
        expect(await raw.client.get(`${prefix}layout`)).toBe('shards=4 layout=2');
        expect(await raw.keys(`{${prefix}s*}:hb:*`)).toEqual([]);
      } finally {
        await raw.close();
      }
      // Another instance opening the migrated data finds layout 2 and reads the same.
      expect(await store(prefix, 4).get('d')).toEqual({ ...claimed[0] });
    });

    it('migrates in batches: more records than one migration script moves', async () => {
      const prefix = uniquePrefix();
      const ids = Array.from({ length: 1_234 }, (_, i) => `m${String(i).padStart(4, '0')}`);
      await writeLayout1(
        prefix,
        1,
        ids.map((id, i) => {
          const r = record(id, { createdAt: NOW + i, dueAt: NOW + i });
          return { stored: r, blob: r };
        }),
      );
      const s = store(prefix, 1);
      const seen: string[] = [];
      let after: { createdAt: number; id: string } | undefined;
      for (;;) {
        const page = await s.list({ statuses: ['active'], limit: 500, after });
        seen.push(...page.map((r) => r.id));
        if (page.length < 500) break;
        after = page[page.length - 1];
      }
      expect(seen).toEqual([...ids].reverse());
      expect((await s.claimDue({ now: NOW + 9, limit: 100, leaseMs: 1 })).map((r) => r.id)).toEqual(
        ids.slice(0, 10),
      );
    });

    it('layout 2 data gains tasks as new keys, with no migration: the layout stays 2', async () => {
      const prefix = uniquePrefix();
      const session = record('s1', {});
      await store(prefix, 4).insert(session);
      const s = store(prefix, 4);
      const task = createTask({ id: 't1', request: { method: 'tools/call' }, workerId: 'w1' }, NOW, {
        leaseMs: 30_000,
        defaultTtlMs: 3_600_000,
      });
      expect(await s.insertTask(task)).toBe(true);
      expect(await s.getTask('t1')).toEqual(task);
      expect(await s.get('s1')).toEqual(session);
      // Tasks are not a session's data: deleting the session leaves them.
      expect(await s.delete('s1')).toBe(true);
      expect(await s.getTask('t1')).toEqual(task);
      const raw = await rawClient(target);
      try {
        expect(await raw.client.get(`${prefix}layout`)).toBe('shards=4 layout=2');
      } finally {
        await raw.close();
      }
    });

    it('refuses a layout newer than it knows, or one it cannot read, naming the fix', async () => {
      const newer = uniquePrefix();
      const garbage = uniquePrefix();
      const raw = await rawClient(target);
      try {
        await raw.client.set(`${newer}layout`, 'shards=16 layout=3');
        await raw.client.set(`${garbage}layout`, 'something else');
      } finally {
        await raw.close();
      }
      const error = await store(newer, 16)
        .get('x')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(String((error as Error).message)).toMatch(/layout 3.*upgrade/);
      await expect(store(garbage, 16).get('x')).rejects.toBeInstanceOf(StoreError);
    });
  });
}
