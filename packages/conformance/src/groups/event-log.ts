import assert from 'node:assert/strict';
import { type JsonValue, SessionNotFoundError, type SessionStore } from '@mcp-sessions/core';
import { encodeJson, jsonByteLength } from '@mcp-sessions/core/adapter';
import { rejectsWith } from '../assert';
import { bump, compareAndSetRecord, MINUTE, makeRecord, recordWithStatus, rpcMessage } from '../fixtures';
import type { GroupDefinition } from '../harness';

/** The event log: per-session seqs from 1, never reused; reads scoped to one session. */
export const eventLog: GroupDefinition = {
  id: 'events',
  tests: [
    {
      title: 'seq starts at 1 and increases with every append',
      async run({ store, clock }) {
        await store.insert(makeRecord('s', clock.now()));
        const seqs = await appendMany(store, 's', 'stream', 5, clock.now());
        assert.equal(seqs[0], 1, "a session's first seq is 1");
        for (let i = 1; i < seqs.length; i++)
          assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}`);
      },
    },
    {
      title: 'readEvents returns the events after afterSeq, whole and in seq order',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('s', t));
        const seqs: number[] = [];
        for (let i = 0; i < 5; i++) {
          seqs.push(
            await store.appendEvent({
              sessionId: 's',
              streamId: `st${i % 2}`,
              message: rpcMessage(i),
              createdAt: t + i,
            }),
          );
        }
        const all = await store.readEvents({ sessionId: 's', afterSeq: 0 });
        assert.deepStrictEqual(
          all,
          seqs.map((seq, i) => ({
            sessionId: 's',
            streamId: `st${i % 2}`,
            seq,
            message: rpcMessage(i),
            createdAt: t + i,
          })),
          'readEvents returns whole events after afterSeq, in seq order',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: seqs[2]! })).map((e) => e.seq),
          seqs.slice(3),
          'readEvents returns only events with seq > afterSeq',
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 's', afterSeq: seqs[4]! }),
          [],
          'readEvents after the last seq is empty',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: 0, limit: 2 })).map((e) => e.seq),
          seqs.slice(0, 2),
          'readEvents returns at most limit events, the first in seq order',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: seqs[0]!, limit: 2 })).map((e) => e.seq),
          seqs.slice(1, 3),
          'readEvents applies limit after afterSeq',
        );
      },
    },
    {
      title: "sessions have their own seqs and never see each other's events",
      async run({ store, clock }) {
        const t = clock.now();
        for (const id of ['a', 'b', 'a2']) await store.insert(makeRecord(id, t));
        const a: number[] = [];
        const b: number[] = [];
        for (let i = 0; i < 4; i++) {
          a.push(
            await store.appendEvent({
              sessionId: 'a',
              streamId: 'x',
              message: { from: 'a', i },
              createdAt: t,
            }),
          );
          b.push(
            await store.appendEvent({
              sessionId: 'b',
              streamId: 'x',
              message: { from: 'b', i },
              createdAt: t,
            }),
          );
        }
        b.push(
          await store.appendEvent({
            sessionId: 'b',
            streamId: 'only-b',
            message: { from: 'b' },
            createdAt: t,
          }),
        );
        assert.equal(a[0], 1, "session a's first seq");
        assert.equal(b[0], 1, "session b's first seq");
        const readA = await store.readEvents({ sessionId: 'a', afterSeq: 0 });
        assert.deepStrictEqual(
          readA.map((e) => [e.sessionId, e.seq]),
          a.map((seq) => ['a', seq]),
          "readEvents returns only the asked session's events, each with its own seqs",
        );
        assert.ok(
          readA.every((e) => (e.message as { from: string }).from === 'a'),
          "a's read holds only a's messages",
        );
        assert.ok(
          (await store.readEvents({ sessionId: 'b', afterSeq: 0 })).every((e) => e.sessionId === 'b'),
          "readEvents of session b returns only b's events",
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 'a2', afterSeq: 0 }),
          [],
          'readEvents of an id that is a prefix of another returns none of its events',
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 'a', afterSeq: 0, streamId: 'only-b' }),
          [],
          "readEvents never returns another session's stream",
        );
        assert.equal(await store.getEventStream('a', b[4]!), undefined, "b's last seq is not in a's log");
        assert.equal(
          await store.getEventStream('a2', 1),
          undefined,
          'getEventStream of a session with no events returns undefined',
        );
      },
    },
    {
      title: 'streamId filters the read',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('s', t));
        const byStream: Record<string, number[]> = { one: [], two: [] };
        for (let i = 0; i < 6; i++) {
          const streamId = i % 3 === 0 ? 'one' : 'two';
          byStream[streamId]!.push(
            await store.appendEvent({ sessionId: 's', streamId, message: rpcMessage(i), createdAt: t }),
          );
        }
        const read = async (streamId: string, afterSeq = 0) =>
          (await store.readEvents({ sessionId: 's', afterSeq, streamId })).map((e) => [e.streamId, e.seq]);
        assert.deepStrictEqual(
          await read('one'),
          byStream.one!.map((seq) => ['one', seq]),
          "readEvents with a streamId returns only that stream's events",
        );
        assert.deepStrictEqual(
          await read('two', byStream.two![1]!),
          byStream.two!.slice(2).map((seq) => ['two', seq]),
          "readEvents with a streamId and afterSeq returns that stream's events after afterSeq",
        );
        assert.deepStrictEqual(await read('three'), [], 'readEvents of a stream with no events is empty');
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: 0, streamId: 'two', limit: 1 })).map(
            (e) => e.seq,
          ),
          byStream.two!.slice(0, 1),
          "readEvents with a streamId and limit returns that stream's first events",
        );
      },
    },
    {
      title: 'getEventStream names the stream of a stored event',
      async run({ store, clock }) {
        await store.insert(makeRecord('s', clock.now()));
        const first = await store.appendEvent({
          sessionId: 's',
          streamId: 'alpha',
          message: 1,
          createdAt: clock.now(),
        });
        const second = await store.appendEvent({
          sessionId: 's',
          streamId: 'beta',
          message: 2,
          createdAt: clock.now(),
        });
        assert.equal(
          await store.getEventStream('s', first),
          'alpha',
          'getEventStream names the stream the event was appended to',
        );
        assert.equal(
          await store.getEventStream('s', second),
          'beta',
          'getEventStream names the stream the event was appended to',
        );
        assert.equal(
          await store.getEventStream('s', second + 1000),
          undefined,
          'getEventStream of a seq never handed out returns undefined',
        );
        assert.equal(
          await store.getEventStream('s', 0),
          undefined,
          'getEventStream of seq 0 returns undefined',
        );
        assert.equal(
          await store.getEventStream('nobody', first),
          undefined,
          "getEventStream of another session's seq returns undefined",
        );
      },
    },
    {
      title: 'trim by count keeps the newest events and the seq counter',
      async run({ store, clock }) {
        await store.insert(makeRecord('s', clock.now()));
        const seqs = await appendMany(store, 's', 'x', 10, clock.now());
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxEvents: 3 }),
          7,
          'trimEvents with maxEvents returns how many it deleted',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).map((e) => e.seq),
          seqs.slice(7),
          'trimEvents with maxEvents keeps the newest events',
        );
        assert.equal(await store.getEventStream('s', seqs[0]!), undefined, 'a trimmed event is gone');
        const next = await store.appendEvent({
          sessionId: 's',
          streamId: 'x',
          message: 'n',
          createdAt: clock.now(),
        });
        assert.ok(next > seqs[9]!, `seq ${next} reused after trim (last was ${seqs[9]})`);
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxEvents: 10 }),
          0,
          'trimEvents under maxEvents deletes nothing',
        );
      },
    },
    {
      title: 'trim by age deletes events created before the cutoff',
      async run({ store, clock }) {
        const t = clock.now();
        await store.insert(makeRecord('s', t));
        await store.insert(makeRecord('other', t));
        const seqs: number[] = [];
        for (let i = 0; i < 10; i++) {
          seqs.push(
            await store.appendEvent({ sessionId: 's', streamId: 'x', message: i, createdAt: t + i * 1000 }),
          );
        }
        await store.appendEvent({ sessionId: 'other', streamId: 'x', message: 'old', createdAt: t });
        assert.equal(
          await store.trimEvents({ sessionId: 's', createdBefore: t + 5000 }),
          5,
          'trimEvents with createdBefore deletes events created before it',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).map((e) => e.seq),
          seqs.slice(5),
          'the event created exactly at the cutoff stays',
        );
        assert.equal(
          (await store.readEvents({ sessionId: 'other', afterSeq: 0 })).length,
          1,
          "trimEvents deletes only the given session's events",
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', createdBefore: t + 7000, maxEvents: 1 }),
          4,
          'count and age together: an event goes when either says so',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).map((e) => e.seq),
          seqs.slice(9),
          'trimEvents deletes an event when either bound says so',
        );
      },
    },
    {
      title: 'trim by bytes keeps the newest events whose UTF-8 JSON sizes sum to at most maxBytes',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        const seqs: number[] = [];
        for (let i = 0; i < 10; i++) {
          const message = hundredBytes(i);
          assert.equal(
            jsonByteLength(encodeJson(message)),
            100,
            "the test's message is 100 UTF-8 JSON bytes",
          );
          seqs.push(await store.appendEvent({ sessionId: 's', streamId: 'x', message, createdAt: now }));
        }
        const stored = async () =>
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).map((e) => e.seq);
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 1000 }),
          0,
          'trimEvents exactly at maxBytes deletes nothing',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 999 }),
          1,
          'trimEvents one byte over maxBytes deletes the oldest event',
        );
        assert.deepStrictEqual(
          await stored(),
          seqs.slice(1),
          'trimEvents by maxBytes deletes the oldest first',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 350 }),
          6,
          'trimEvents counts sizes in UTF-8 bytes of the JSON text',
        );
        assert.deepStrictEqual(
          await stored(),
          seqs.slice(7),
          'trimEvents by maxBytes keeps the newest events',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 10_000, maxEvents: 2 }),
          1,
          'trimEvents deletes an event when either bound (maxEvents) says so',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 150, maxEvents: 10 }),
          1,
          'trimEvents deletes an event when either bound (maxBytes) says so',
        );
        assert.deepStrictEqual(
          await stored(),
          seqs.slice(9),
          'trimEvents by maxBytes keeps the newest events',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 99 }),
          1,
          'trimEvents by maxBytes deletes an event larger than the budget',
        );
        assert.deepStrictEqual(
          await stored(),
          [],
          'trimEvents by maxBytes deletes an event larger than the budget, even the newest',
        );
        const next = await store.appendEvent({ sessionId: 's', streamId: 'x', message: 'n', createdAt: now });
        assert.ok(next > seqs[9]!, `seq ${next} reused after a trim by bytes`);
      },
    },
    {
      title: 'trim by bytes counts exactly the events stored now, of that session only',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        await store.insert(makeRecord('other', now));
        const append = (sessionId: string, i: number, createdAt = now) =>
          store.appendEvent({ sessionId, streamId: 'x', message: hundredBytes(i), createdAt });
        for (let i = 0; i < 10; i++) {
          await append('s', i, now + i);
          await append('other', i);
        }
        // Trims by count and by age change what is stored; the byte count must follow.
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxEvents: 7 }),
          3,
          'trimEvents with maxEvents returns how many it deleted',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', createdBefore: now + 5 }),
          2,
          'trimEvents with createdBefore returns how many it deleted',
        );
        for (let i = 0; i < 5; i++) await append('s', i, now + 20);
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 1000 }),
          0,
          'trimEvents by maxBytes counts only the events stored now (10 of 100 bytes)',
        );
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxBytes: 901 }),
          1,
          'trimEvents by maxBytes counts the bytes stored now and deletes the oldest over budget',
        );
        assert.equal(
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).length,
          9,
          '9 events remain after the trim by maxBytes',
        );
        assert.equal(
          (await store.readEvents({ sessionId: 'other', afterSeq: 0 })).length,
          10,
          "trimEvents deletes only the given session's events",
        );
        assert.equal(
          await store.trimEvents({ sessionId: 'other', maxBytes: 1000 }),
          0,
          "trimEvents by maxBytes counts only that session's events",
        );
        assert.equal(
          await store.trimEvents({ sessionId: 'other', maxBytes: 500 }),
          5,
          "trimEvents by maxBytes counts only that session's events",
        );
        assert.equal(
          await store.trimEvents({ sessionId: 'missing', maxBytes: 0 }),
          0,
          'trimEvents of a missing session deletes nothing',
        );
      },
    },
    {
      title:
        'the seq counter survives compareAndSet, touch and purgeSessionData; compareAndSet keeps state and events',
      async run({ store, clock }) {
        const now = clock.now();
        const record = makeRecord('s', now);
        await store.insert(record);
        const seqs = await appendMany(store, 's', 'x', 3, now);
        await store.setState({
          sessionId: 's',
          agentId: 'a',
          key: 'k',
          value: 1,
          updatedAt: now,
          expiresAt: null,
        });
        const moved = bump(record, { ownerId: 'other-instance', recoveryAttempts: 1 });
        assert.ok(
          await compareAndSetRecord(store, moved, record.version),
          'compareAndSet at the stored version writes',
        );
        assert.equal(
          (await store.readEvents({ sessionId: 's', afterSeq: 0 })).length,
          3,
          "compareAndSet writes the record's liveness only: events stay",
        );
        assert.equal(
          (await store.getState({ sessionId: 's', agentId: 'a', key: 'k' }, now))?.value,
          1,
          "compareAndSet writes the record's liveness only: agent state stays",
        );
        const third = await store.appendEvent({ sessionId: 's', streamId: 'x', message: 4, createdAt: now });
        assert.ok(third > seqs[2]!, `seq ${third} after compareAndSet (last was ${seqs[2]})`);
        assert.deepStrictEqual(
          await store.touch(['s'], { now: now + 1, dueAt: now + MINUTE }),
          ['s'],
          'touch updates the active record',
        );
        const fourth = await store.appendEvent({ sessionId: 's', streamId: 'x', message: 4, createdAt: now });
        assert.ok(fourth > third, `seq ${fourth} after touch (last was ${third})`);
        const changed = await store.get('s');
        assert.ok(changed, 'get returns the touched record');
        // Expire, purge, then (as a store-level step core never takes) make it live again.
        const expired = bump(changed, { status: 'expired', endedAt: now });
        assert.ok(
          await compareAndSetRecord(store, expired, changed.version),
          'compareAndSet at the stored version writes',
        );
        await store.purgeSessionData('s');
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 's', afterSeq: 0 }),
          [],
          "purgeSessionData deletes the session's events",
        );
        assert.ok(
          await compareAndSetRecord(
            store,
            bump(expired, { status: 'active', endedAt: null }),
            expired.version,
          ),
          'compareAndSet at the stored version writes',
        );
        const next = await store.appendEvent({ sessionId: 's', streamId: 'x', message: 5, createdAt: now });
        assert.ok(next > fourth, `seq ${next} reused after purgeSessionData (last was ${fourth})`);
      },
    },
    {
      title: 'readEvents limit counts the events of the filtered stream, not the events scanned',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('s', now));
        const seqs: number[] = [];
        for (let i = 0; i < 30; i++) {
          seqs.push(
            await store.appendEvent({
              sessionId: 's',
              streamId: i % 3 === 0 ? 'a' : 'b',
              message: i,
              createdAt: now,
            }),
          );
        }
        const a = await store.readEvents({ sessionId: 's', afterSeq: 0, streamId: 'a', limit: 4 });
        assert.deepStrictEqual(
          a.map((e) => e.seq),
          [seqs[0], seqs[3], seqs[6], seqs[9]],
          'readEvents limit counts the events of the filtered stream, not the events scanned',
        );
        const rest = await store.readEvents({
          sessionId: 's',
          afterSeq: seqs[9]!,
          streamId: 'a',
          limit: 100,
        });
        assert.equal(rest.length, 6, "readEvents with a streamId returns that stream's remaining events");
        assert.equal(
          (await store.readEvents({ sessionId: 's', afterSeq: 0, limit: 4 })).length,
          4,
          'readEvents without a streamId returns at most limit events',
        );
      },
    },
    {
      title: 'trimming everything keeps the seq counter',
      async run({ store, clock }) {
        await store.insert(makeRecord('s', clock.now()));
        const seqs = await appendMany(store, 's', 'x', 3, clock.now());
        assert.equal(
          await store.trimEvents({ sessionId: 's', maxEvents: 0 }),
          3,
          'trimEvents with maxEvents 0 deletes every event',
        );
        assert.deepStrictEqual(
          await store.readEvents({ sessionId: 's', afterSeq: 0 }),
          [],
          'trimEvents with maxEvents 0 leaves no event',
        );
        const next = await store.appendEvent({
          sessionId: 's',
          streamId: 'x',
          message: 'again',
          createdAt: clock.now(),
        });
        assert.ok(next > seqs[2]!, `seq ${next} reused after trimming all (last was ${seqs[2]})`);
        assert.equal(
          await store.trimEvents({ sessionId: 'nobody', maxEvents: 0 }),
          0,
          'trimEvents of a missing session deletes nothing',
        );
      },
    },
    {
      title: 'appendEvent needs a live session: missing, expired and closed are SessionNotFoundError',
      async run({ store, clock }) {
        const now = clock.now();
        for (const status of ['active', 'disconnected', 'expired', 'closed'] as const) {
          await store.insert(recordWithStatus(status, now, status));
        }
        for (const id of ['missing', 'expired', 'closed']) {
          await rejectsWith(
            store.appendEvent({ sessionId: id, streamId: 'x', message: 1, createdAt: now }),
            SessionNotFoundError,
            `appendEvent on a ${id} session`,
          );
          assert.deepStrictEqual(
            await store.readEvents({ sessionId: id, afterSeq: 0 }),
            [],
            'a refused appendEvent writes nothing',
          );
        }
        for (const id of ['active', 'disconnected']) {
          assert.equal(
            await store.appendEvent({ sessionId: id, streamId: 'x', message: 1, createdAt: now }),
            1,
            `the first appendEvent on a ${id} session returns seq 1`,
          );
        }
      },
    },
  ],
};

async function appendMany(
  store: SessionStore,
  sessionId: string,
  streamId: string,
  n: number,
  createdAt: number,
): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    seqs.push(await store.appendEvent({ sessionId, streamId, message: rpcMessage(i), createdAt }));
  }
  return seqs;
}

/**
 * A message of exactly 100 bytes as UTF-8 JSON, whose UTF-16 length differs with `i`
 * (ASCII, 2-byte and 4-byte characters), so a store counting the wrong unit is caught.
 */
function hundredBytes(i: number): JsonValue {
  switch (i % 3) {
    case 0:
      return 'x'.repeat(98); // "x…x": 100 bytes, 100 units
    case 1:
      return 'é'.repeat(49); // 2 + 98 bytes, 51 units
    default:
      return { e: `${'😀'.repeat(22)}abcd` }; // {"e":"…"}: 8 + 88 + 4 = 100 bytes
  }
}
