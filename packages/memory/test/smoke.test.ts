import { SessionManager } from '@mcp-sessions/core';
import { MemorySessionStore } from '@mcp-sessions/memory';
import { expect, it } from 'vitest';

it('smoke', async () => {
  let now = 1_000_000;
  const m = new SessionManager({ store: new MemorySessionStore(), timers: false, clock: { now: () => now } });
  await m.initialize('abc');
  await m.saveAgentState('a', 'abc', 'k', { x: 1 });
  await m.markDisconnected('abc');
  now += 1000;
  await m.recover('abc');
  expect(await m.loadAgentState('a', 'abc', 'k')).toEqual({ x: 1 });
  expect((await m.getActiveSessions()).sessions).toHaveLength(1);
});
