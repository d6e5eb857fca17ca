import { SessionManager } from '@mcp-sessions/core';
import { createClient } from '@redis/client';
import { RedisSessionStore } from './src/index';

const url = 'redis://127.0.0.1:6391';
const raw = createClient({ url });
await raw.connect();
const store = new RedisSessionStore({ url, prefix: `k${Date.now()}:` });
const m = new SessionManager({ store, timers: false });
const ids = Array.from({ length: 100000 }, (_, i) => `tick${i}`);
for (let i = 0; i < ids.length; i += 2000)
  await Promise.all(ids.slice(i, i + 2000).map((id) => m.initialize(id)));
await raw.configResetStat();
for (let r = 0; r < 3; r++) {
  const s = performance.now();
  await m.tick();
  console.log('tick', performance.now() - s);
}
const info = await raw.info('commandstats');
console.log(
  info
    .split('\n')
    .filter((l) => /evalsha|cmdstat_set/.test(l))
    .join('\n'),
);
const s = performance.now();
for (let i = 0; i < ids.length; i += 1000)
  await Promise.all(ids.slice(i, i + 1000).map((id) => raw.set(id, '1')));
console.log('raw', performance.now() - s);
await store.close();
await raw.close();
