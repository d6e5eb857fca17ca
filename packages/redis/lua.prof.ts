import { SessionManager } from '@mcp-sessions/core';
import { createClient } from '@redis/client';
import { RedisSessionStore } from './src/index';

const url = 'redis://127.0.0.1:6391';
const raw = createClient({ url });
await raw.connect();
const prefix = `L${Date.now()}:`;
const store = new RedisSessionStore({ url, prefix, shards: 1 });
const m = new SessionManager({ store, timers: false });
const ids = Array.from({ length: 20000 }, (_, i) => `tick${i}`);
for (let i = 0; i < ids.length; i += 2000)
  await Promise.all(ids.slice(i, i + 2000).map((id) => m.initialize(id)));
const tag = `{${prefix}s0}:`;
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const variants: Record<string, string> = {
  hmget_only: `for i = 3, #KEYS do redis.call('HMGET', KEYS[i], 's', 'v') end return 1`,
  hmget_hset: `for i = 3, #KEYS do local f = redis.call('HMGET', KEYS[i], 's', 'v'); redis.call('HSET', KEYS[i], 'v', tonumber(f[2]) + 1, 'hb', ARGV[1], 'due', ARGV[2]) end return 1`,
  hincrby: `for i = 3, #KEYS do redis.call('HINCRBY', KEYS[i], 'v', 1) end return 1`,
  zmscore: `redis.call('ZMSCORE', KEYS[2], unpack(ARGV, 3)) return 1`,
  zadd_bulk: `local hb = {} for i = 3, #ARGV do hb[#hb+1] = ARGV[1]; hb[#hb+1] = ARGV[i] end redis.call('ZADD', KEYS[2], unpack(hb)) redis.call('ZADD', KEYS[1], unpack(hb)) return 1`,
};
for (const [name, src] of Object.entries(variants)) {
  await raw.configResetStat();
  let t = Date.now();
  const s = performance.now();
  for (let i = 0; i < ids.length; i += 1000) {
    const batch = ids.slice(i, i + 1000);
    t += 1;
    await raw.sendCommand([
      'EVAL',
      src,
      String(batch.length + 2),
      `${tag}due`,
      `${tag}hb:active`,
      ...batch.map((id) => `${tag}r:${b64(id)}`),
      String(t),
      String(t + 5),
      ...batch,
    ]);
  }
  const info = await raw.info('commandstats');
  console.log(
    name.padEnd(12),
    (performance.now() - s).toFixed(0),
    'ms',
    info
      .split('\n')
      .find((l) => l.includes('cmdstat_eval:'))
      ?.split(',')[2],
  );
}
await store.close();
await raw.close();
