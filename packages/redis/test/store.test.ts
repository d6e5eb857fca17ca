/**
 * What the conformance suite cannot see from outside: key names (glob/brace-safe, one hash tag
 * per shard), native expiry, script reloading, error wrapping, who closes which client.
 */
import { createServer, type Socket } from 'node:net';
import {
  InvalidArgumentError,
  type SessionRecord,
  StoreError,
  StoreUnavailableError,
} from '@mcp-sessions/core';
import { createRecord, createTask, type TaskRecord } from '@mcp-sessions/core/adapter';
import { createClient } from '@redis/client';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../src/index';
import { fnv1a } from '../src/keys';
import { hashTag, rawClient, SINGLE_URL, targets, uniquePrefix } from './support';

const POLICY = {
  gracePeriodMs: 600_000,
  staleAfterMs: 90_000,
  maxRecoveryAttempts: 3,
  tombstoneMs: 3_600_000,
};
const NOW = Date.now();

function record(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return { ...createRecord({ id, ownerId: 'test' }, NOW, POLICY), ...overrides };
}

const TASK_POLICY = { leaseMs: 30_000, defaultTtlMs: 3_600_000 };

/** A running task created at `at`: its lease lapses at `at + 30 s`, its ttl at `at + 1 h`. */
function task(id: string, at = NOW): TaskRecord {
  return createTask({ id, request: { method: 'tools/call' }, workerId: 'w1' }, at, TASK_POLICY);
}

/** Ids and names that are globs, hash-tag braces, or look like other keys' tags. */
const NASTY = ['{', '}', '{}', '}{', '{a}', 'a', '*', '?', '[a]', 'a*', '\\*', '{mcps:s1}', 'x}y{z', 'a:b'];

for (const target of targets) {
  describe.skipIf(target.missing !== undefined)(`${target.name} store`, () => {
    const open: RedisSessionStore[] = [];
    const store = (options: Parameters<typeof target.store>[0] = {}) => {
      const s = target.store(options);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('ids and agent keys with glob and brace characters round-trip and never reach other sessions', async () => {
      const prefix = `g${Date.now()}:`;
      const s = store({ prefix });
      for (const id of NASTY) {
        await s.insert(record(id, { metadata: { id } }));
        await s.setState({
          sessionId: id,
          agentId: id,
          key: id,
          value: { id },
          updatedAt: NOW,
          expiresAt: null,
        });
        await s.setState({
          sessionId: id,
          agentId: '*',
          key: '[?]',
          value: id,
          updatedAt: NOW,
          expiresAt: NOW + 1,
        });
        await s.appendEvent({ sessionId: id, streamId: id, message: { id }, createdAt: NOW });
      }
      // list reads records by ids taken from its index: the script builds their key names itself.
      const listed = await s.list({ statuses: ['active'], limit: 100 });
      expect(listed.map((r) => r.id)).toEqual([...NASTY].sort(binary).reverse());
      for (const id of NASTY) {
        expect((await s.get(id))?.metadata).toEqual({ id });
        expect(await s.getState({ sessionId: id, agentId: id, key: id }, NOW)).toMatchObject({
          value: { id },
        });
        const state = await s.listState(id, undefined, NOW);
        expect(state.map((e) => [e.sessionId, e.agentId, e.key])).toEqual(
          [
            [id, '*', '[?]'],
            [id, id, id],
          ].sort((x, y) => binary(x[1]!, y[1]!) || binary(x[2]!, y[2]!)),
        );
        const events = await s.readEvents({ sessionId: id, afterSeq: 0 });
        expect(events.map((e) => [e.seq, e.streamId, e.message])).toEqual([[1, id, { id }]]);
      }

      // Deleting the glob-looking sessions leaves the ones their patterns would match.
      expect(await s.delete('*')).toBe(true);
      expect(await s.delete('{')).toBe(true);
      await s.purgeSessionData('?');
      for (const id of NASTY.filter((i) => !['*', '{', '?'].includes(i))) {
        expect(await s.get(id)).toBeDefined();
        expect(await s.listState(id, undefined, NOW)).toHaveLength(2);
        expect(await s.readEvents({ sessionId: id, afterSeq: 0 })).toHaveLength(1);
      }
      expect(await s.listState('?', undefined, NOW)).toEqual([]);
      expect(await s.readEvents({ sessionId: '?', afterSeq: 0 })).toEqual([]);
      // Expired-state purge keys off encoded names too: exactly the survivors' `[?]` entries go.
      expect(await s.purgeExpiredState(NOW + 1)).toBe(NASTY.length - 3);

      // On the wire: every key is `{<prefix>s<n>}:` + kind + base64url names, so nothing in an id
      // can change the hash tag (one slot per shard) or act as a glob.
      const raw = await rawClient(target);
      try {
        const keys = await raw.keys(`{${prefix}s*`);
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) {
          expect(hashTag(key)).toMatch(new RegExp(`^${prefix}s\\d+$`));
          expect(key.slice(key.indexOf('}:') + 2)).toMatch(/^[a-z]+(:[A-Za-z0-9_-]+)*$/);
        }
        expect(new Set(keys.map(hashTag)).size).toBeGreaterThan(1);
      } finally {
        await raw.close();
      }
    });

    it('a client passed in is used as it is and stays connected after close()', async () => {
      const raw = await rawClient(target);
      try {
        const s = new RedisSessionStore({ client: raw.client, prefix: `c${Date.now()}:` });
        await s.insert(record('mine'));
        expect((await s.get('mine'))?.id).toBe('mine');
        await s.close();
        expect(raw.client.isOpen).toBe(true);
        expect(await raw.keys('*')).not.toHaveLength(0);
        await expect(s.get('mine')).rejects.toBeInstanceOf(StoreUnavailableError);
      } finally {
        await raw.close();
      }
    });

    it('a client passed in that is not open yet is connected on first use', async () => {
      if (target.name !== 'redis') return; // same code path for a cluster client
      const client = createClient({ url: SINGLE_URL });
      client.on('error', () => {});
      const s = new RedisSessionStore({ client, prefix: `c${Date.now()}:` });
      await s.insert(record('mine'));
      expect(client.isOpen).toBe(true);
      await s.close();
      expect(await client.ping()).toBe('PONG');
      await client.close();
    });

    it('scripts flushed from the server are loaded again (NOSCRIPT → EVAL)', async () => {
      const s = store();
      await s.insert(record('n1'));
      const raw = await rawClient(target);
      try {
        if ('masters' in raw.client) {
          for (const master of raw.client.masters) await (await raw.client.nodeClient(master)).scriptFlush();
        } else await raw.client.scriptFlush();
      } finally {
        await raw.close();
      }
      expect(await s.touch(['n1'], { now: NOW + 1, dueAt: NOW + 2 })).toEqual(['n1']);
      expect((await s.get('n1'))?.version).toBe(2);
    });

    it('a state entry gets a native expiry only where it cannot hide an entry the caller still sees', async () => {
      const prefix = `x${Date.now()}:`;
      const s = store({ prefix, shards: 1, nativeExpiryMarginMs: 60_000 });
      await s.insert(record('s'));
      const future = Date.now() + 3_600_000;
      await s.setState({
        sessionId: 's',
        agentId: 'a',
        key: 'later',
        value: 1,
        updatedAt: NOW,
        expiresAt: future,
      });
      // An injected clock far behind the server: the entry is live for the caller, so no PXAT.
      await s.setState({
        sessionId: 's',
        agentId: 'a',
        key: 'past',
        value: 2,
        updatedAt: 500,
        expiresAt: 1_000,
      });
      const raw = await rawClient(target);
      try {
        const key = (k: string) => `{${prefix}s0}:st:${b64('s')}:${b64('a')}:${b64(k)}`;
        const ttl = await raw.client.pTTL(key('later'));
        expect(ttl).toBeGreaterThan(3_600_000);
        expect(ttl).toBeLessThanOrEqual(3_660_000);
        expect(await raw.client.pTTL(key('past'))).toBe(-1);
      } finally {
        await raw.close();
      }
      expect(await s.getState({ sessionId: 's', agentId: 'a', key: 'past' }, 999)).toMatchObject({
        value: 2,
      });
      expect(await s.getState({ sessionId: 's', agentId: 'a', key: 'past' }, 1_000)).toBeUndefined();
      expect(await s.purgeExpiredState(1_000)).toBe(1);
      expect(await s.listState('s', undefined, 999)).toMatchObject([{ key: 'later' }]);

      // Redis drops `later` natively (as at expiresAt + margin); rewritten without expiry, the
      // lingering expiry-index member must not let a purge delete the new entry.
      const raw2 = await rawClient(target);
      try {
        await raw2.client.del(`{${prefix}s0}:st:${b64('s')}:${b64('a')}:${b64('later')}`);
      } finally {
        await raw2.close();
      }
      await s.setState({
        sessionId: 's',
        agentId: 'a',
        key: 'later',
        value: 3,
        updatedAt: NOW,
        expiresAt: null,
      });
      expect(await s.purgeExpiredState(future + 1)).toBe(0);
      expect(await s.getState({ sessionId: 's', agentId: 'a', key: 'later' }, future + 1)).toMatchObject({
        value: 3,
        expiresAt: null,
      });
    });

    it('an error reply that is not about reachability is a StoreError with the reply as cause', async () => {
      const prefix = `w${Date.now()}:`;
      const s = store({ prefix, shards: 1 });
      const raw = await rawClient(target);
      try {
        await raw.client.set(`{${prefix}s0}:r:${b64('wrong')}`, 'not a hash');
      } finally {
        await raw.close();
      }
      const error = await s.get('wrong').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(String((error as Error).cause)).toMatch(/WRONGTYPE/);
    });

    it('the event byte total: counted once for a log written without it, gone with the log', async () => {
      const prefix = `b${Date.now()}:`;
      const s = store({ prefix, shards: 1 });
      await s.insert(record('s'));
      for (const message of ['x'.repeat(98), 'é'.repeat(49), { e: `${'😀'.repeat(22)}abcd` }]) {
        await s.appendEvent({ sessionId: 's', streamId: 'st', message, createdAt: NOW });
      }
      const totalKey = `{${prefix}s0}:eb:${b64('s')}`;
      const raw = await rawClient(target);
      try {
        expect(await raw.client.get(totalKey)).toBe('300');
        // A log from before the total existed: appends leave it missing, the next trim counts it.
        await raw.client.del(totalKey);
        await s.appendEvent({ sessionId: 's', streamId: 'st', message: 'x'.repeat(98), createdAt: NOW });
        expect(await raw.client.get(totalKey)).toBeNull();
        expect(await s.trimEvents({ sessionId: 's', maxBytes: 400 })).toBe(0);
        expect(await raw.client.get(totalKey)).toBe('400');
        expect(await s.trimEvents({ sessionId: 's', maxBytes: 399 })).toBe(1);
        expect(await raw.client.get(totalKey)).toBe('300');
        expect(await s.trimEvents({ sessionId: 'none', maxBytes: 0 })).toBe(0);
        expect(await s.trimEvents({ sessionId: 's', maxEvents: 0 })).toBe(3);
        expect(await raw.client.get(totalKey)).toBeNull();
        await s.appendEvent({ sessionId: 's', streamId: 'st', message: 'x'.repeat(98), createdAt: NOW });
        await s.purgeSessionData('s');
        expect(await raw.keys(`{${prefix}s0}:e*`)).toEqual([]);
      } finally {
        await raw.close();
      }
    });

    it('list keeps the wanted statuses past more other records than one script call looks at', async () => {
      const s = store({ shards: 2 });
      const live = ['old1', 'old2', 'old3'];
      for (const [i, id] of live.entries()) await s.insert(record(id, { createdAt: NOW - 10 + i }));
      const ended = Array.from({ length: 2_500 }, (_, i) => `t${i}`);
      for (let i = 0; i < ended.length; i += 500) {
        await Promise.all(
          ended
            .slice(i, i + 500)
            .map((id) => s.insert(record(id, { status: 'closed', endedAt: NOW, createdAt: NOW + i }))),
        );
      }
      const first = await s.list({ statuses: ['active'], limit: 2 });
      expect(first.map((r) => r.id)).toEqual(['old3', 'old2']);
      const rest = await s.list({ statuses: ['active'], limit: 2, after: first[1] });
      expect(rest.map((r) => r.id)).toEqual(['old1']);
      const tombstones = await s.list({ statuses: ['closed'], limit: 3_000 });
      expect(tombstones).toHaveLength(ended.length);
    });

    it('claimDue takes the earliest due records over all shards and leases exactly the limit', async () => {
      const s = store();
      const ids = Array.from({ length: 60 }, (_, i) => `d${String(i).padStart(2, '0')}`);
      await Promise.all(ids.map((id, i) => s.insert(record(id, { dueAt: NOW + i * 10 }))));
      const first = await s.claimDue({ now: NOW + 10_000, limit: 25, leaseMs: 60_000 });
      expect(first.map((r) => r.id)).toEqual(ids.slice(0, 25));
      expect(first.every((r) => r.dueAt === NOW + 70_000 && r.version === 2)).toBe(true);
      const second = await s.claimDue({ now: NOW + 10_000, limit: 100, leaseMs: 60_000 });
      expect(second.map((r) => r.id)).toEqual(ids.slice(25));
    });

    it('task ids with glob and brace characters: each task and its index entries in its own shard', async () => {
      const prefix = uniquePrefix();
      const s = store({ prefix });
      for (const id of NASTY) expect(await s.insertTask(task(id))).toBe(true);
      for (const id of NASTY) expect((await s.getTask(id))?.id).toBe(id);
      expect((await s.listTasks({ limit: 100 })).map((t) => t.id).sort()).toEqual([...NASTY].sort());
      const raw = await rawClient(target);
      try {
        const keys = await raw.keys(`{${prefix}s*`);
        for (const key of keys) {
          expect(hashTag(key)).toMatch(new RegExp(`^${prefix}s\\d+$`));
          expect(key.slice(key.indexOf('}:') + 2)).toMatch(/^[a-z]+(:[A-Za-z0-9_-]+)*$/);
        }
        for (const id of NASTY) {
          const tag = `{${prefix}s${fnv1a(id) % 16}}:`;
          expect(keys).toContain(`${tag}task:${Buffer.from(id).toString('base64url')}`);
          for (const index of ['taskcreated', 'tasklease', 'taskexpiry']) {
            expect(await raw.client.zScore(`${tag}${index}`, id)).not.toBeNull();
          }
        }
      } finally {
        await raw.close();
      }
    });

    it('claimLapsedTasks and deleteExpiredTasks take the earliest over all shards, exactly the limit', async () => {
      const s = store();
      const ids = Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      await Promise.all(ids.map((id, i) => s.insertTask(task(id, NOW + i * 10))));
      const at = NOW + 40_000;
      const first = await s.claimLapsedTasks({ now: at, limit: 25, workerId: 'w2', leaseUntil: at + 60_000 });
      expect(first.map((t) => t.id)).toEqual(ids.slice(0, 25));
      expect(first.every((t) => t.workerId === 'w2' && t.version === 2)).toBe(true);
      const second = await s.claimLapsedTasks({ now: at, limit: 100, workerId: 'w3', leaseUntil: at });
      expect(second.map((t) => t.id)).toEqual(ids.slice(25));
      // One renewal call over every shard: the holder's ids back, in input order.
      const mixed = [...ids].reverse();
      expect(await s.renewTaskLeases(mixed, 'w2', at + 120_000)).toEqual(
        mixed.filter((id) => ids.indexOf(id) < 25),
      );
      expect(await s.deleteExpiredTasks(NOW + 3_600_000 + 600, 25)).toBe(25);
      expect(await s.getTask(ids[24]!)).toBeUndefined();
      expect(await s.getTask(ids[25]!)).toBeDefined();
      expect(await s.deleteExpiredTasks(NOW + 7_200_000, 100)).toBe(35);
      expect(await s.listTasks({ limit: 10 })).toEqual([]);
      expect(
        await s.claimLapsedTasks({ now: NOW + 9_999_999, limit: 10, workerId: 'w', leaseUntil: 1 }),
      ).toEqual([]);
    });
  });
}

describe('redis store options and reachability', () => {
  it('rejects a prefix that would break hash tags, a bad shard count, an empty cluster', () => {
    expect(() => new RedisSessionStore({ url: 'redis://127.0.0.1:1', prefix: 'a{b}' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new RedisSessionStore({ url: 'redis://127.0.0.1:1', shards: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new RedisSessionStore({ clusterUrls: [] })).toThrow(InvalidArgumentError);
  });

  it('refuses missing options, unknown keys and URLs that are not redis URLs at construction', async () => {
    const refusal = (make: () => unknown): InvalidArgumentError => {
      try {
        make();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return error as InvalidArgumentError;
      }
      throw new Error('expected InvalidArgumentError');
    };
    const Store = RedisSessionStore as unknown as new (options?: unknown) => RedisSessionStore;
    expect(refusal(() => new Store()).argument).toBe('options');
    expect(refusal(() => new Store({})).argument).toBe('options');
    const typo = refusal(() => new Store({ url: 'redis://127.0.0.1:1', commandTimeout: 5 }));
    expect(typo.argument).toBe('commandTimeout');
    expect(typo.message).toContain('did you mean "commandTimeoutMs"');
    for (const url of [
      '127.0.0.1:6379',
      'reddis://127.0.0.1:6379',
      'http://127.0.0.1',
      'redis://h:port',
      'redis://h/db',
      '',
    ]) {
      const error = refusal(() => new Store({ url }));
      expect(error.argument, url).toBe('url');
    }
    const secret = refusal(() => new Store({ url: 'redis://:s3cret@host:port' }));
    expect(secret.message).not.toContain('s3cret');
    expect(refusal(() => new Store({ clusterUrls: ['redis://127.0.0.1:1', 'nope'] })).argument).toBe(
      'clusterUrls',
    );
    await new RedisSessionStore({ url: 'rediss://user:p%40ss@cache.example:6380/2' }).close();
  });

  it('a server nobody listens on gives StoreUnavailableError, bounded by the connect timeout', async () => {
    const port = await closedPort();
    const s = new RedisSessionStore({
      url: `redis://127.0.0.1:${port}`,
      connectTimeoutMs: 300,
      commandTimeoutMs: 300,
    });
    try {
      const error = await s.get('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      await expect(s.insert(record('x'))).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await s.close();
    }
  });

  it('a refused port and a wrong password each say what happened, not "connect timed out"', async () => {
    const port = await closedPort();
    const refused = new RedisSessionStore({ url: `redis://127.0.0.1:${port}`, logger: false });
    try {
      const error = await refused.get('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/^redis connect: .*ECONNREFUSED/);
      expect((error as Error).message).not.toMatch(/timed out/);
    } finally {
      await refused.close();
    }
    if (!SINGLE_URL) return;
    const url = new URL(SINGLE_URL);
    url.username = 'nobody';
    url.password = 'hunter2';
    const denied = new RedisSessionStore({ url: url.href, logger: false });
    try {
      const error = await denied.get('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/^redis connect: WRONGPASS/);
      expect((error as Error).message).not.toContain('hunter2');
    } finally {
      await denied.close();
    }
  });

  it('a server that accepts and never answers: the timeout says the connection was accepted', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const s = new RedisSessionStore({
      url: `redis://127.0.0.1:${port}`,
      connectTimeoutMs: 300,
      commandTimeoutMs: 300,
      logger: false,
    });
    try {
      const error = await s.get('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toBe(
        'redis connect timed out after 300 ms: the server accepted the connection but never answered',
      );
    } finally {
      await s.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it.skipIf(!SINGLE_URL)(
    'refuses data written with another shards count, instead of finding nothing',
    async () => {
      const prefix = uniquePrefix();
      const writer = new RedisSessionStore({ url: SINGLE_URL!, prefix, shards: 16 });
      const misconfigured = new RedisSessionStore({ url: SINGLE_URL!, prefix, shards: 4 });
      const same = new RedisSessionStore({ url: SINGLE_URL!, prefix, shards: 16 });
      try {
        await writer.insert(record('x'));
        const error = await misconfigured.get('x').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(String((error as Error).message)).toMatch(/shards=16.*shards=4/);
        expect((await same.get('x'))?.id).toBe('x');
      } finally {
        await Promise.all([writer.close(), misconfigured.close(), same.close()]);
      }
    },
  );

  it('capabilities say what was configured', () => {
    const a = new RedisSessionStore({ url: 'redis://127.0.0.1:1' });
    const b = new RedisSessionStore({ url: 'redis://127.0.0.1:1', durable: true });
    expect(a.capabilities).toEqual({ atomic: true, durable: false, crossProcess: true, tasks: true });
    expect(b.capabilities.durable).toBe(true);
  });
});

function binary(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
