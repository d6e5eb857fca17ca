/**
 * A bus in a child process, for the cross-process bus tests. argv[2] is JSON naming the bus:
 * `{ "kind": "sqlite", "filename": ... }`, `{ "kind": "redis", "url": ... }`,
 * `{ "kind": "redis-cluster", "clusterUrls": [...] }`, `{ "kind": "postgres", "connectionString": ... }`.
 * stdin lines: `sub <id>` (prints `subscribed <id>` once live), `pub <id> <count>` (publishes
 * `{ from: 'child', n }` for n < count without waiting between them, prints `published <id>`).
 * Every delivery prints `msg <id> <json>`; every failure prints `error <message>`.
 */
import { createInterface } from 'node:readline';
import type { SessionBus } from '../packages/core/src/index';
import { PostgresSessionBus } from '../packages/postgres/src/index';
import { RedisSessionBus } from '../packages/redis/src/index';
import { SqliteSessionBus } from '../packages/sqlite/src/index';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  kind: string;
  filename?: string;
  url?: string;
  clusterUrls?: string[];
  connectionString?: string;
};
const print = (line: string) => process.stdout.write(`@@ ${line}\n`);

function open(): SessionBus {
  switch (config.kind) {
    case 'sqlite':
      return new SqliteSessionBus({ filename: config.filename ?? '' });
    case 'redis':
      return new RedisSessionBus({ url: config.url ?? '' });
    case 'redis-cluster':
      return new RedisSessionBus({ clusterUrls: config.clusterUrls ?? [] });
    case 'postgres':
      return new PostgresSessionBus({ connectionString: config.connectionString ?? '' });
    default:
      throw new Error(`unknown bus kind ${config.kind}`);
  }
}

const bus = open();
print('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const [command, id, count] = line.split(' ');
  try {
    if (command === 'sub') {
      await bus.subscribe(id!, (message) => print(`msg ${id} ${JSON.stringify(message)}`));
      print(`subscribed ${id}`);
    } else if (command === 'pub') {
      await Promise.all(
        Array.from({ length: Number(count) }, (_, n) => bus.publish(id!, { from: 'child', n })),
      );
      print(`published ${id}`);
    }
  } catch (error) {
    print(`error ${String(error)}`);
  }
}
await bus.close();
