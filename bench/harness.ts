/**
 * The bench harness: every row is measured against a baseline measured in the same run, and
 * reported as a ratio, so figures compare across machines and loads. No timed assertions.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Bench } from 'tinybench';

export interface BenchCase {
  name: string;
  fn: () => unknown;
}

export interface BenchGroup {
  /** What is measured, such as `heartbeat`. */
  name: string;
  /** The same work done the plain way (a bare Map, a raw driver call, the seed's shape). */
  baseline: BenchCase;
  subjects: BenchCase[];
  /** The target, in words, printed beside the row (`ratio <= 1.5`). */
  goal?: string;
  /** For slow cases (a 100k tick): a fixed number of rounds, every case once per round. */
  iterations?: number;
}

export interface BenchSuite {
  /** Shown as the table's section, such as `memory` or `sqlite`. */
  name: string;
  /** Why the suite cannot run here, if it cannot (a missing server); printed, not hidden. */
  unavailable?(): string | undefined;
  groups(): Promise<BenchGroup[]>;
  teardown?(): Promise<void>;
}

export interface BenchRow {
  suite: string;
  group: string;
  name: string;
  opsPerSec: number;
  medianUs: number;
  /** subject median / baseline median: 1.0 = as fast as the baseline, 2.0 = twice as slow. */
  ratio: number;
  baseline: boolean;
  goal?: string;
}

export async function runGroup(suite: string, group: BenchGroup): Promise<BenchRow[]> {
  const cases = [group.baseline, ...group.subjects];
  const medians = group.iterations
    ? await interleaved(cases, group.iterations, `${suite}/${group.name}`)
    : await timeBudgeted(cases, `${suite}/${group.name}`);
  const base = medians[0]!.medianMs;
  return medians.map((m, i) => ({
    suite,
    group: group.name,
    name: cases[i]!.name,
    opsPerSec: m.opsPerSec,
    medianUs: m.medianMs * 1000,
    ratio: m.medianMs / base,
    baseline: i === 0,
    goal: i === 0 ? undefined : group.goal,
  }));
}

interface Measured {
  medianMs: number;
  opsPerSec: number;
}

/** Fast cases: tinybench, each case for a time budget in turn. */
async function timeBudgeted(cases: BenchCase[], where: string): Promise<Measured[]> {
  const bench = new Bench({ time: 400, warmupTime: 100 });
  for (const c of cases) bench.add(c.name, c.fn);
  await bench.run();
  return bench.tasks.map((t) => {
    const r = t.result;
    if (!r || r.error) throw new Error(`${where}/${t.name} failed`, { cause: r?.error });
    return { medianMs: r.latency.p50 ?? r.latency.mean, opsPerSec: r.throughput.mean };
  });
}

/**
 * Slow cases (a recovery, a 100k tick, an HTTP round trip): every case `runs` times, in 50
 * rounds (fewer when `runs` is smaller), each round a block of calls of every case in turn, the
 * order rotated each round. A drift of the machine during the run (another process, a
 * checkpoint, autovacuum) lands on every case alike instead of on whichever ran during it, and
 * each block still runs warm. One warm-up call of every case first.
 */
async function interleaved(cases: BenchCase[], runs: number, where: string): Promise<Measured[]> {
  const call = async (c: BenchCase) => {
    try {
      await c.fn();
    } catch (error) {
      throw new Error(`${where}/${c.name} failed`, { cause: error });
    }
  };
  for (const c of cases) await call(c); // warm-up, not recorded
  const rounds = Math.min(runs, 50);
  const times = cases.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    // This round's block: the blocks of all rounds add up to `runs`.
    const block = Math.floor((runs * (round + 1)) / rounds) - Math.floor((runs * round) / rounds);
    for (let k = 0; k < cases.length; k++) {
      const i = (k + round) % cases.length;
      for (let n = 0; n < block; n++) {
        const start = performance.now();
        await call(cases[i]!);
        times[i]!.push(performance.now() - start);
      }
    }
  }
  return times.map((t) => {
    const sorted = [...t].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const medianMs = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return { medianMs, opsPerSec: (1000 * t.length) / t.reduce((a, b) => a + b, 0) };
  });
}

export function formatTable(rows: BenchRow[]): string {
  const header = ['suite', 'group', 'case', 'ops/s', 'median', 'x baseline', 'goal'];
  const lines = rows.map((r) => [
    r.suite,
    r.group,
    r.baseline ? `${r.name} (baseline)` : r.name,
    formatNumber(r.opsPerSec),
    formatDuration(r.medianUs),
    r.baseline ? '1.00' : r.ratio.toFixed(2),
    r.goal ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

function formatDuration(us: number): string {
  if (us < 1000) return `${us.toFixed(2)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** A Node HTTP server on a loopback port; its `/mcp` URL. Closing it is pushed onto `closers`. */
export async function listenHttp(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  closers: (() => Promise<unknown>)[],
): Promise<string> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}
