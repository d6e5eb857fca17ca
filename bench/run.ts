/**
 * `pnpm bench [suite...]`: runs every suite in ./suites (or the named ones) and prints one table.
 * Suites needing a server read MCP_SESSIONS_TEST_REDIS_URL / MCP_SESSIONS_TEST_POSTGRES_URL,
 * or start their own when the binaries are installed.
 */
import { readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { type BenchRow, type BenchSuite, formatTable, runGroup } from './harness';

const wanted = process.argv.slice(2);
const dir = new URL('./suites/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')));

const rows: BenchRow[] = [];
process.stdout.write(
  `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
);
for (const file of files) {
  const suite = (await import(new URL(file, dir).href)).default as BenchSuite;
  const reason = suite.unavailable?.();
  if (reason) {
    process.stdout.write(`!!! skipped ${suite.name}: ${reason}\n`);
    continue;
  }
  process.stderr.write(`running ${suite.name}...\n`);
  try {
    for (const group of await suite.groups()) rows.push(...(await runGroup(suite.name, group)));
  } finally {
    await suite.teardown?.();
  }
}
process.stdout.write(`${formatTable(rows)}\n`);
