import assert from 'node:assert/strict';
import { InvalidArgumentError, InvalidValueError, type JsonObject, type JsonValue } from '@mcp-sessions/core';
import { compareNames, livenessOf, MAX_JSON_DEPTH } from '@mcp-sessions/core/adapter';
import { rejectsWith } from '../assert';
import { bump, MINUTE, makeRecord } from '../fixtures';
import type { GroupDefinition } from '../harness';
import { entry, key } from './agent-state';

const MIB = 1024 * 1024;

/** Values are JSON: they come back deep-equal, as copies; what JSON cannot hold is refused unwritten. */
export const values: GroupDefinition = {
  id: 'values',
  tests: [
    {
      title: 'unicode agent ids, keys and values round-trip',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('u', now, { metadata: { name: 'Zoë 🦊', rtl: 'مرحبا' } }));
        const agents = ['助手', 'агент', '🤖 bot', 'é', 'e\u0301', 'Agent', 'agent'];
        const keys = ['ключ', '鍵', '🔑', 'ünïcödé', 'a😀b', 'Key', 'key', 'שלום'];
        for (const a of agents) {
          for (const k of keys)
            await store.setState(entry('u', a, k, { a, k, text: `${a}→${k} ✓` }, now, null));
        }
        for (const a of agents) {
          for (const k of keys) {
            assert.deepStrictEqual(
              (await store.getState(key('u', a, k), now))?.value,
              { a, k, text: `${a}→${k} ✓` },
              `${a}/${k}: unicode agent ids, keys and values round-trip`,
            );
          }
          const listed = await store.listState('u', a, now);
          assert.deepStrictEqual(
            new Set(listed.map((e) => e.key)),
            new Set(keys),
            `listState of agent ${a} lists each unicode key`,
          );
          assert.ok(
            listed.every((e) => e.agentId === a),
            `listState with agentId ${a} lists only that agent's entries`,
          );
        }
        const all = await store.listState('u', undefined, now);
        assert.equal(
          all.length,
          agents.length * keys.length,
          'names are kept exactly: é and e + combining accent are different ids',
        );
        assert.deepStrictEqual(
          (await store.get('u'))?.metadata,
          { name: 'Zoë 🦊', rtl: 'مرحبا' },
          'record metadata with unicode round-trips',
        );
      },
    },
    {
      title: '__proto__, constructor and prototype keys round-trip as plain data',
      async run({ store, clock }) {
        const now = clock.now();
        const tricky = JSON.parse(
          '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},' +
            '"prototype":{"polluted":"yes"},"toString":"not a function","hasOwnProperty":1,' +
            '"nested":[{"__proto__":{"polluted":"yes"}}]}',
        ) as JsonObject;
        await store.insert(makeRecord('proto', now, { metadata: tricky, initializeParams: tricky }));
        for (const agentId of ['__proto__', 'constructor', 'prototype']) {
          for (const k of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty']) {
            await store.setState(entry('proto', agentId, k, tricky, now, null));
          }
        }
        await store.appendEvent({
          sessionId: 'proto',
          streamId: '__proto__',
          message: tricky,
          createdAt: now,
        });

        const got = await store.getState(key('proto', '__proto__', '__proto__'), now);
        assertPlainTricky(got?.value, tricky, 'state value');
        assertPlainTricky((await store.get('proto'))?.metadata, tricky, 'record metadata');
        assertPlainTricky((await store.get('proto'))?.initializeParams, tricky, 'record initializeParams');
        const [event] = await store.readEvents({ sessionId: 'proto', afterSeq: 0 });
        assertPlainTricky(event?.message, tricky, 'event message');
        assert.equal(event?.streamId, '__proto__', "an event's streamId __proto__ round-trips as plain data");
        const listed = await store.listState('proto', undefined, now);
        assert.deepStrictEqual(
          listed.map((e) => `${e.agentId}/${e.key}`),
          ['__proto__', 'constructor', 'prototype']
            .sort()
            .flatMap((a) =>
              ['__proto__', 'constructor', 'hasOwnProperty', 'prototype'].map((k) => `${a}/${k}`),
            ),
          'listState orders __proto__-like names by agentId, then key (code point order)',
        );
        const byAgent = await store.listState('proto', 'constructor', now);
        assert.equal(byAgent.length, 4, 'listState of agent constructor lists its four entries');
        for (const e of listed)
          assertPlainTricky(e.value, tricky, `listState value of ${e.agentId}/${e.key}`);
        assert.equal(Reflect.get({}, 'polluted'), undefined, 'Object.prototype is not polluted');
        assert.equal(
          Reflect.get(Object.prototype, 'polluted'),
          undefined,
          'Object.prototype is not polluted',
        );
      },
    },
    {
      title: '1 MiB values round-trip',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('big', now));
        const blob = '0123456789abcdef'.repeat(MIB / 16);
        const value = {
          blob,
          unicode: 'ünï😀'.repeat(1000),
          list: Array.from({ length: 1000 }, (_, i) => ({ i })),
        };
        await store.setState(entry('big', 'a', 'k', value, now, null));
        assert.deepStrictEqual(
          (await store.getState(key('big', 'a', 'k'), now))?.value,
          value,
          'a 1 MiB state value round-trips',
        );
        await store.setState(entry('big', 'a', 'plain', blob, now, null));
        assert.equal(
          (await store.getState(key('big', 'a', 'plain'), now))?.value,
          blob,
          'a 1 MiB string state value round-trips',
        );
        await store.appendEvent({ sessionId: 'big', streamId: 's', message: { blob }, createdAt: now });
        const [event] = await store.readEvents({ sessionId: 'big', afterSeq: 0 });
        assert.deepStrictEqual(event?.message, { blob }, 'a 1 MiB event message round-trips');
      },
    },
    {
      title: 'nested JSON round-trips exactly',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('n', now, { metadata: { doc: nestedDocument() } }));
        await store.setState(entry('n', 'a', 'k', nestedDocument(), now, null));
        await store.appendEvent({ sessionId: 'n', streamId: 's', message: nestedDocument(), createdAt: now });
        assert.deepStrictEqual(
          (await store.getState(key('n', 'a', 'k'), now))?.value,
          nestedDocument(),
          'a nested state value round-trips exactly',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'n', afterSeq: 0 }))[0]?.message,
          nestedDocument(),
          'a nested event message round-trips exactly',
        );
        assert.deepStrictEqual(
          (await store.get('n'))?.metadata,
          { doc: nestedDocument() },
          'nested record metadata round-trips exactly',
        );
      },
    },
    {
      title: 'top-level primitives round-trip, and a null value is not a missing one',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('p', now));
        const primitives: JsonValue[] = [null, 0, 42, -3.25, '', 'text', true, false, [], {}];
        for (const [i, v] of primitives.entries())
          await store.setState(entry('p', 'a', `k${i}`, v, now, null));
        for (const [i, v] of primitives.entries()) {
          const got = await store.getState(key('p', 'a', `k${i}`), now);
          assert.ok(got, `entry k${i} (${JSON.stringify(v)}) is present`);
          assert.deepStrictEqual(got.value, v, `state value ${JSON.stringify(v)} round-trips`);
        }
        for (const [i, v] of primitives.entries()) {
          await store.appendEvent({ sessionId: 'p', streamId: 's', message: v, createdAt: now + i });
        }
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'p', afterSeq: 0 })).map((e) => e.message),
          primitives,
          'top-level primitive event messages round-trip, in seq order',
        );
      },
    },
    {
      title: 'strings with NUL and control characters round-trip',
      async run({ store, clock }) {
        const now = clock.now();
        const text = 'a\u0000b\u0001c\u001f\u007f\ud83d\ude00\u2028\u2029\ufeff end';
        await store.insert(makeRecord('ctl', now, { metadata: { text } }));
        await store.setState(entry('ctl', 'a', 'k', { text, [text]: 1 }, now, null));
        await store.appendEvent({ sessionId: 'ctl', streamId: 's', message: [text], createdAt: now });
        assert.deepStrictEqual(
          (await store.getState(key('ctl', 'a', 'k'), now))?.value,
          { text, [text]: 1 },
          'a state value with NUL and control characters round-trips',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'ctl', afterSeq: 0 }))[0]?.message,
          [text],
          'an event message with NUL and control characters round-trips',
        );
        assert.deepStrictEqual(
          (await store.get('ctl'))?.metadata,
          { text },
          'record metadata with NUL and control characters round-trips',
        );
      },
    },
    {
      title: 'returned values are copies: mutating them changes nothing stored',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('copy', now, { metadata: { list: [1] }, dueAt: now + 1 }));
        await store.setState(entry('copy', 'a', 'k', { list: [1] }, now, null));
        await store.appendEvent({ sessionId: 'copy', streamId: 's', message: { list: [1] }, createdAt: now });

        mutate((await store.getState(key('copy', 'a', 'k'), now))?.value);
        mutate((await store.listState('copy', undefined, now))[0]?.value);
        mutate((await store.readEvents({ sessionId: 'copy', afterSeq: 0 }))[0]?.message);
        mutate((await store.get('copy'))?.metadata);
        mutate((await store.list({ statuses: ['active'], limit: 1 }))[0]?.metadata);
        mutate((await store.claimDue({ now: now + 1, limit: 1, leaseMs: MINUTE }))[0]?.metadata);
        const record = await store.get('copy');
        if (record) (record as { status: string }).status = 'closed';

        assert.deepStrictEqual(
          (await store.getState(key('copy', 'a', 'k'), now))?.value,
          { list: [1] },
          'mutating a returned state value changes nothing stored',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'copy', afterSeq: 0 }))[0]?.message,
          {
            list: [1],
          },
          'mutating a returned event message changes nothing stored',
        );
        const stored = await store.get('copy');
        assert.deepStrictEqual(
          stored?.metadata,
          { list: [1] },
          'mutating returned record metadata changes nothing stored',
        );
        assert.equal(stored?.status, 'active', 'mutating a returned record changes nothing stored');
      },
    },
    {
      title: 'inputs are copied: mutating them after a write changes nothing stored',
      async run({ store, clock }) {
        const now = clock.now();
        const metadata = { list: [1] };
        const record = makeRecord('in', now, { metadata });
        await store.insert(record);
        mutate(metadata);
        (record as { status: string }).status = 'closed';
        const value = { list: [1] };
        await store.setState(entry('in', 'a', 'k', value, now, null));
        mutate(value);
        const message = { list: [1] };
        await store.appendEvent({ sessionId: 'in', streamId: 's', message, createdAt: now });
        mutate(message);
        const current = await store.get('in');
        assert.ok(current, 'get returns the inserted record');
        assert.equal(
          current.status,
          'active',
          'mutating an inserted record afterwards changes nothing stored',
        );
        assert.deepStrictEqual(
          current.metadata,
          { list: [1] },
          'mutating inserted metadata afterwards changes nothing stored',
        );
        const liveness = livenessOf(bump(current, { ownerId: 'writer' }));
        assert.equal(
          await store.compareAndSet('in', liveness, current.version),
          true,
          'compareAndSet at the stored version writes',
        );
        (liveness as { ownerId: string }).ownerId = 'mutated';
        assert.equal(
          (await store.get('in'))?.ownerId,
          'writer',
          'mutating the liveness given to compareAndSet afterwards changes nothing stored',
        );
        assert.deepStrictEqual(
          (await store.getState(key('in', 'a', 'k'), now))?.value,
          { list: [1] },
          'mutating a state value after setState changes nothing stored',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'in', afterSeq: 0 }))[0]?.message,
          {
            list: [1],
          },
          'mutating an event message after appendEvent changes nothing stored',
        );
      },
    },
    {
      title: 'unstorable state values are rejected with InvalidValueError and nothing is written',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('bad', now));
        const previous = entry('bad', 'a', 'k', { ok: true }, now, now + MINUTE);
        await store.setState(previous);
        for (const [what, value] of unstorable()) {
          await rejectsWith(
            store.setState(entry('bad', 'a', 'k', value, now + 1, null)),
            InvalidValueError,
            `setState of ${what}`,
          );
          assert.deepStrictEqual(
            await store.getState(previous, now),
            previous,
            `a refused setState of ${what} keeps the previous value`,
          );
          await rejectsWith(
            store.setState(entry('bad', 'a', 'fresh', value, now, null)),
            InvalidValueError,
            `setState of ${what} under a new key`,
          );
          assert.equal(
            await store.getState(key('bad', 'a', 'fresh'), now),
            undefined,
            `a refused setState of ${what} writes nothing`,
          );
        }
        assert.equal(
          (await store.listState('bad', undefined, now)).length,
          1,
          'a refused setState adds no entry',
        );
      },
    },
    {
      title: 'unstorable event messages are rejected with InvalidValueError and nothing is appended',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('bad', now));
        const first = await store.appendEvent({
          sessionId: 'bad',
          streamId: 's',
          message: 'ok',
          createdAt: now,
        });
        for (const [what, message] of unstorable()) {
          await rejectsWith(
            store.appendEvent({ sessionId: 'bad', streamId: 's', message, createdAt: now }),
            InvalidValueError,
            `appendEvent of ${what}`,
          );
        }
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'bad', afterSeq: 0 })).map((e) => e.seq),
          [first],
          'a refused appendEvent appends nothing',
        );
        const next = await store.appendEvent({
          sessionId: 'bad',
          streamId: 's',
          message: 'ok',
          createdAt: now,
        });
        assert.ok(next > first, 'appendEvent after refused ones hands out a higher seq');
      },
    },
    {
      title:
        'records with unstorable metadata or initializeParams are rejected with InvalidValueError and nothing is written',
      async run({ store, clock }) {
        const now = clock.now();
        // JSON reaches a record through insert only: compareAndSet carries liveness, no JSON.
        for (const [what, value] of unstorable()) {
          if (value === undefined) continue; // an undefined property is dropped, as JSON.stringify does
          const json = { value } as unknown as JsonObject;
          await rejectsWith(
            store.insert(makeRecord('bad', now, { metadata: json })),
            InvalidValueError,
            `insert with metadata of ${what}`,
          );
          await rejectsWith(
            store.insert(makeRecord('bad', now, { initializeParams: json })),
            InvalidValueError,
            `insert with initializeParams of ${what}`,
          );
          assert.equal(await store.get('bad'), undefined, `a refused insert of ${what} writes nothing`);
        }
        assert.deepStrictEqual(
          await store.list({ statuses: ['active'], limit: 10 }),
          [],
          'a refused insert leaves nothing to list',
        );
        const good = makeRecord('bad', now, { metadata: { ok: true } });
        await store.insert(good);
        assert.deepStrictEqual(await store.get('bad'), good, 'a refused insert does not take the id');
      },
    },
    {
      title: `values nested deeper than ${MAX_JSON_DEPTH} levels are refused with InvalidValueError, unwritten`,
      async run({ store, clock }) {
        const now = clock.now();
        const good = makeRecord('deep', now, { metadata: { ok: true } });
        await store.insert(good);
        const previous = entry('deep', 'a', 'k', { ok: true }, now, null);
        await store.setState(previous);
        const first = await store.appendEvent({
          sessionId: 'deep',
          streamId: 's',
          message: 1,
          createdAt: now,
        });
        // 100k levels: a recursive check or serialiser overflows the stack (RangeError) long before.
        const tooDeep: [string, JsonValue][] = [
          ['100k nested arrays', nestedArrays(100_000)],
          ['100k nested objects', nestedObjects(100_000)],
          [`${MAX_JSON_DEPTH + 1} nested arrays`, nestedArrays(MAX_JSON_DEPTH + 1)],
        ];
        for (const [what, value] of tooDeep) {
          await rejectsWith(
            store.setState(entry('deep', 'a', 'k', value, now + 1, null)),
            InvalidValueError,
            `setState of ${what}`,
          );
          await rejectsWith(
            store.setState(entry('deep', 'a', 'fresh', value, now, null)),
            InvalidValueError,
            `setState of ${what} under a new key`,
          );
          await rejectsWith(
            store.appendEvent({ sessionId: 'deep', streamId: 's', message: value, createdAt: now }),
            InvalidValueError,
            `appendEvent of ${what}`,
          );
          const metadata = { value } as JsonObject;
          await rejectsWith(
            store.insert(makeRecord('deep-2', now, { metadata })),
            InvalidValueError,
            `insert with metadata of ${what}`,
          );
          await rejectsWith(
            store.insert(makeRecord('deep-2', now, { initializeParams: metadata })),
            InvalidValueError,
            `insert with initializeParams of ${what}`,
          );
        }
        assert.deepStrictEqual(
          await store.getState(previous, now),
          previous,
          'a refused setState keeps the previous value',
        );
        assert.equal(
          await store.getState(key('deep', 'a', 'fresh'), now),
          undefined,
          'a refused setState adds no entry',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'deep', afterSeq: 0 })).map((e) => e.seq),
          [first],
          'a refused appendEvent appends nothing',
        );
        assert.equal(await store.get('deep-2'), undefined, 'a refused insert writes nothing');
        assert.deepStrictEqual(await store.get('deep'), good, 'refused writes leave the record as inserted');
      },
    },
    {
      title: `values nested exactly ${MAX_JSON_DEPTH} levels deep round-trip`,
      async run({ store, clock }) {
        const now = clock.now();
        // The metadata object is the first level.
        const metadata = { doc: nestedObjects(MAX_JSON_DEPTH - 1) } as JsonObject;
        await store.insert(makeRecord('deep', now, { metadata, initializeParams: metadata }));
        const arrays = nestedArrays(MAX_JSON_DEPTH);
        const objects = nestedObjects(MAX_JSON_DEPTH);
        await store.setState(entry('deep', 'a', 'arrays', arrays, now, null));
        await store.setState(entry('deep', 'a', 'objects', objects, now, null));
        await store.appendEvent({ sessionId: 'deep', streamId: 's', message: arrays, createdAt: now });
        assert.deepStrictEqual(
          (await store.getState(key('deep', 'a', 'arrays'), now))?.value,
          arrays,
          'nested arrays at the depth limit round-trip as state',
        );
        assert.deepStrictEqual(
          (await store.getState(key('deep', 'a', 'objects'), now))?.value,
          objects,
          'nested objects at the depth limit round-trip as state',
        );
        assert.deepStrictEqual(
          (await store.readEvents({ sessionId: 'deep', afterSeq: 0 })).map((e) => e.message),
          [arrays],
          'nested arrays at the depth limit round-trip as an event message',
        );
        const record = await store.get('deep');
        assert.deepStrictEqual(record?.metadata, metadata, 'metadata at the depth limit round-trips');
        assert.deepStrictEqual(
          record?.initializeParams,
          metadata,
          'initializeParams at the depth limit round-trip',
        );
      },
    },
    {
      title: 'edge-case agent ids and keys are stored, listed in order and deleted exactly',
      async run({ store, clock }) {
        const now = clock.now();
        await store.insert(makeRecord('names', now));
        const names = edgeNames();
        const pairs: [string, string][] = [
          ...names.map((n): [string, string] => [n, 'k']),
          ...names.map((n): [string, string] => ['a', n]),
          // Pairs that collide when a store joins agent id and key with a separator.
          ...SEPARATORS.flatMap((sep): [string, string][] => [
            [`x${sep}y`, 'z'],
            ['x', `y${sep}z`],
          ]),
        ];
        const unique = [...new Map(pairs.map((p) => [JSON.stringify(p), p])).values()];
        for (const [a, k] of unique) await store.setState(entry('names', a, k, { a, k }, now, null));
        for (const [a, k] of unique) {
          assert.deepStrictEqual(
            (await store.getState(key('names', a, k), now))?.value,
            { a, k },
            `getState of agent ${JSON.stringify(a)}, key ${JSON.stringify(k)}`,
          );
        }
        const expected = unique
          .slice()
          .sort(([a1, k1], [a2, k2]) => compareNames(a1, a2) || compareNames(k1, k2))
          .map((p) => JSON.stringify(p));
        const listed = (await store.listState('names', undefined, now)).map((e) =>
          JSON.stringify([e.agentId, e.key]),
        );
        assert.deepStrictEqual(listed, expected, 'listState lists every name once, by agentId then key');
        for (const agentId of new Set(unique.map(([a]) => a))) {
          const own = expected.filter((p) => (JSON.parse(p) as string[])[0] === agentId);
          const got = (await store.listState('names', agentId, now)).map((e) =>
            JSON.stringify([e.agentId, e.key]),
          );
          assert.deepStrictEqual(
            got,
            own,
            `listState of agent ${JSON.stringify(agentId)} (no pattern matching)`,
          );
        }
        for (const [a, k] of unique) {
          assert.equal(
            await store.deleteState(key('names', a, k)),
            true,
            `deleteState of ${JSON.stringify([a, k])} deletes exactly that entry`,
          );
        }
        assert.deepStrictEqual(
          await store.listState('names', undefined, now),
          [],
          'deleteState of every name leaves none',
        );
      },
    },
    {
      title: 'session ids with pattern and separator characters keep their data apart',
      async run({ store, clock }) {
        const now = clock.now();
        const ids = [
          's',
          's%',
          's_',
          's*',
          's?',
          's[a]',
          's{t}',
          '{s}',
          's\\',
          's"',
          "s'",
          's:',
          's:x',
          's|',
          's/',
          's.',
          '%',
          '_',
          '*',
          'S',
        ];
        for (const id of ids) {
          await store.insert(makeRecord(id, now));
          await store.setState(entry(id, 'a', 'k', id, now, null));
          await store.appendEvent({ sessionId: id, streamId: 'st', message: id, createdAt: now });
        }
        for (const id of ids) {
          assert.equal(
            (await store.get(id))?.id,
            id,
            `get of ${JSON.stringify(id)} returns that exact record`,
          );
          assert.deepStrictEqual(
            (await store.listState(id, undefined, now)).map((e) => e.value),
            [id],
            `listState of ${JSON.stringify(id)} lists only its own state (no pattern matching)`,
          );
          assert.deepStrictEqual(
            (await store.readEvents({ sessionId: id, afterSeq: 0 })).map((e) => e.message),
            [id],
            `readEvents of ${JSON.stringify(id)} returns only its own events`,
          );
        }
        assert.equal(await store.delete('s'), true, 'delete of a stored record returns true');
        for (const id of ids.slice(1)) {
          assert.equal(
            (await store.getState(key(id, 'a', 'k'), now))?.value,
            id,
            `delete of one session keeps ${JSON.stringify(id)}'s state`,
          );
          assert.equal(
            (await store.readEvents({ sessionId: id, afterSeq: 0 })).length,
            1,
            `delete of one session keeps ${JSON.stringify(id)}'s events`,
          );
        }
        const listed = await store.list({ statuses: ['active'], limit: 100 });
        assert.deepStrictEqual(
          new Set(listed.map((r) => r.id)),
          new Set(ids.slice(1)),
          'list returns every other session, exactly',
        );
      },
    },
    {
      title: 'U+0000 in agent ids and keys is refused by core before the store sees it',
      async run({ store, clock, manager }) {
        const sessions = manager();
        await sessions.initialize('nul');
        for (const [agentId, k] of [
          ['a\u0000b', 'k'],
          ['a', 'k\u0000'],
          ['\u0000', '\u0000'],
        ] as const) {
          await rejectsWith(
            sessions.saveAgentState(agentId, 'nul', k, 1),
            InvalidArgumentError,
            `saveAgentState(${JSON.stringify(agentId)}, ${JSON.stringify(k)})`,
          );
          await rejectsWith(
            sessions.loadAgentState(agentId, 'nul', k),
            InvalidArgumentError,
            `loadAgentState(${JSON.stringify(agentId)}, ${JSON.stringify(k)})`,
          );
        }
        assert.deepStrictEqual(
          await store.listState('nul', undefined, clock.now()),
          [],
          'a refused name writes no agent state',
        );
      },
    },
  ],
};

/** Values JSON would silently change or cannot hold. Built fresh per call (cycles, instances). */
function unstorable(): [string, JsonValue][] {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const deepCycle: unknown[] = [{ x: [] }];
  ((deepCycle[0] as { x: unknown[] }).x as unknown[]).push(deepCycle);
  class Point {
    x = 1;
  }
  const bad: [string, unknown][] = [
    ['a cycle', cycle],
    ['a nested cycle', deepCycle],
    ['a BigInt', 10n],
    ['a nested BigInt', { n: [1n] }],
    ['a function', () => 1],
    ['a nested function', { f: () => 1 }],
    ['undefined at the top', undefined],
    ['undefined in an array', [1, undefined]],
    ['NaN', Number.NaN],
    ['a nested Infinity', { x: Number.POSITIVE_INFINITY }],
    ['a Date', new Date(0)],
    ['a nested Date', { at: new Date(0) }],
    ['a Map', new Map([['k', 1]])],
    ['a symbol', Symbol('s')],
    ['a class instance', new Point()],
  ];
  return bad as [string, JsonValue][];
}

function nestedDocument(): JsonObject {
  let deepObject: JsonValue = { leaf: 'bottom' };
  let deepArray: JsonValue = ['bottom'];
  for (let i = 0; i < 50; i++) {
    deepObject = { level: i, child: deepObject };
    deepArray = [i, deepArray];
  }
  return {
    numbers: [
      0,
      1,
      -1,
      1.5,
      -0.000001,
      1e21,
      1e-7,
      0.1 + 0.2,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
    ],
    strings: [
      '',
      ' ',
      'quote "',
      "apostrophe '",
      'back\\slash',
      'new\nline',
      'tab\t',
      '</script>',
      'null',
      '0',
    ],
    empty: { object: {}, array: [], string: '' },
    nulls: [null, { n: null }],
    bools: [true, false],
    mixed: [1, 'a', null, true, { k: [{}] }, [[], [[]]]],
    'key with spaces': 1,
    '': 'empty key',
    '0': 'numeric-looking key',
    deepObject,
    deepArray,
  };
}

/** Separators a store might join names with (and pattern characters of LIKE, GLOB, SCAN). */
const SEPARATORS = [':', '|', '/', '.', '-', '\u0001', '\u001f', ' ', '%', '_', '*', '\\'];

/**
 * Names at the edges of what core accepts (1-1024 UTF-16 units, well formed, no U+0000): length,
 * astral and RTL text, pattern and quoting characters, spaces, U+FFFF.
 */
function edgeNames(): string[] {
  return [
    'x'.repeat(1024),
    '🦊'.repeat(512),
    `${'y'.repeat(1023)}é`,
    '🦊',
    '𝄞 music',
    '%',
    '_',
    '*',
    '%_*',
    '{}',
    '{',
    '}',
    '[',
    ']',
    '[a-z]',
    '?',
    '\\',
    '\\\\',
    '"',
    "'",
    '`',
    ' ',
    ' lead',
    'trail ',
    '.',
    '..',
    'مرحبا بالعالم',
    '\u202eRTL override',
    '\uffff',
    '\ufffd',
    '\ufeffbom',
    'a\nb',
    '\t',
    '\u0001',
    '\u007f',
    'k',
    'K',
    'e\u0301',
    'é',
  ];
}

/** `depth` arrays inside one another around a string, built without recursion. */
function nestedArrays(depth: number): JsonValue {
  let value: JsonValue = 'bottom';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `depth` objects inside one another around a string, built without recursion. */
function nestedObjects(depth: number): JsonValue {
  let value: JsonValue = 'bottom';
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

/** Mutates a returned JSON container in place (the store must not notice). */
function mutate(value: unknown): void {
  assert.ok(typeof value === 'object' && value !== null, 'expected an object to mutate');
  const target = value as { list?: unknown[]; extra?: unknown };
  target.list?.push(99);
  target.extra = 'mutated';
}

function assertPlainTricky(actual: unknown, expected: JsonObject, what: string): void {
  assert.deepStrictEqual(actual, expected, what);
  assert.ok(typeof actual === 'object' && actual !== null, what);
  assert.ok(Object.hasOwn(actual, '__proto__'), `${what}: __proto__ is an own data key`);
  assert.equal(Object.getPrototypeOf(actual), Object.prototype, `${what}: a plain object`);
  assert.equal(Reflect.get(actual, 'polluted'), undefined, `${what}: __proto__ did not become the prototype`);
}
