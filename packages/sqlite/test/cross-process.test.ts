import { RecoveryRefusedError, SessionManager } from '@mcp-sessions/core';
import { SqliteSessionStore } from '@mcp-sessions/sqlite';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Child } from './child';
import { fixture, tempDir } from './helpers';

const CHILDREN = 4;
const RACES = 200;
const SESSIONS = 50;
const LIMIT = 4;

let tmp: ReturnType<typeof tempDir>;
let children: Child[] = [];
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await Promise.all(children.map((c) => c.kill()));
  children = [];
  tmp.cleanup();
});

interface Outcome {
  type: 'race' | 'error' | 'summary';
  race?: number;
  won?: boolean;
  reason?: string;
  attempts?: number;
  ticks?: number;
}

it(`${CHILDREN} processes race recover() ${RACES} times while heartbeating: one winner each, limit kept, no SQLITE_BUSY`, async () => {
  const filename = tmp.file();
  const store = new SqliteSessionStore({ filename });
  const manager = new SessionManager({
    store,
    timers: false,
    maxRecoveryAttempts: LIMIT,
    instanceId: 'parent',
  });
  children = Array.from(
    { length: CHILDREN },
    (_, i) => new Child(fixture('racer.ts'), filename, `child-${i}`),
  );
  for (const child of children) await child.expect('"ready"');

  const winners: number[] = [];
  for (let race = 0; race < RACES; race++) {
    const id = `race-${race % SESSIONS}`;
    const round = Math.floor(race / SESSIONS);
    if (round === 0) await manager.initialize(id);
    await manager.markDisconnected(id);
    for (const child of children) child.send(`race ${race} ${id}`);
    const outcomes = (await Promise.all(children.map((c) => c.next()))).map((l) => JSON.parse(l) as Outcome);
    for (const o of outcomes)
      expect(o, `race ${race}: ${JSON.stringify(o)}`).toMatchObject({ type: 'race', race });
    const won = outcomes.filter((o) => o.won);
    expect(won, `race ${race}`).toHaveLength(1);
    expect(won[0]!.attempts).toBe(round + 1);
    for (const lost of outcomes.filter((o) => !o.won)) expect(lost.reason).toBe('still_active');
    const stored = await store.get(id);
    expect(stored).toMatchObject({ status: 'active', recoveryAttempts: round + 1 });
    winners.push(outcomes.indexOf(won[0]!));
  }

  // Every session has used its attempts: the next recovery is refused, and the count stays.
  for (let s = 0; s < SESSIONS; s++) {
    await manager.markDisconnected(`race-${s}`);
    const refused = await manager.recover(`race-${s}`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RecoveryRefusedError);
    expect((refused as RecoveryRefusedError).reason).toBe('attempts_exhausted');
    expect((await store.get(`race-${s}`))!.recoveryAttempts).toBe(LIMIT);
  }

  for (const child of children) child.send('done');
  const summaries = (await Promise.all(children.map((c) => c.next()))).map((l) => JSON.parse(l) as Outcome);
  for (const s of summaries) expect(s).toMatchObject({ type: 'summary' });
  for (const s of summaries) expect(s.ticks).toBeGreaterThan(0);
  // More than one process won races: the contention was real.
  expect(new Set(winners).size).toBeGreaterThan(1);
  await Promise.all(children.map((c) => c.end()));
  await manager.dispose();
  await store.close();
}, 180_000);
