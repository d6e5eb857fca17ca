import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { nodeArgs, ROOT } from './helpers';

/** Marks the fixture's protocol lines; anything else a child prints (a stray log) is ignored. */
export const LINE_PREFIX = '@@ ';

/** A TypeScript fixture run as a child process, spoken to in lines over stdin/stdout. */
export class Child {
  readonly process: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: string[] = [];
  private waiting: Array<(line: string) => void> = [];
  private stderr = '';
  private exited: string | undefined;

  constructor(file: string, ...args: string[]) {
    this.process = spawn(process.execPath, nodeArgs(file, ...args), { cwd: ROOT });
    this.process.stderr.on('data', (d: Buffer) => {
      this.stderr += d;
    });
    this.lines = createInterface({ input: this.process.stdout });
    this.lines.on('line', (raw) => {
      if (!raw.startsWith(LINE_PREFIX)) return;
      const line = raw.slice(LINE_PREFIX.length);
      const waiter = this.waiting.shift();
      if (waiter) waiter(line);
      else this.queue.push(line);
    });
    this.process.on('exit', (code, signal) => {
      this.exited = `child exited (code ${code}, signal ${signal}): ${this.stderr}`;
      for (const waiter of this.waiting.splice(0)) waiter(`!exit ${this.exited}`);
    });
  }

  send(line: string): void {
    this.process.stdin.write(`${line}\n`);
  }

  /** The next stdout line; rejects if the child exits first. */
  async next(): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    if (this.exited) throw new Error(this.exited);
    const line = await new Promise<string>((resolve) => this.waiting.push(resolve));
    if (line.startsWith('!exit ')) throw new Error(line.slice(6));
    return line;
  }

  async expect(line: string): Promise<void> {
    const got = await this.next();
    if (got !== line)
      throw new Error(
        `expected ${JSON.stringify(line)} from child, got ${JSON.stringify(got)}: ${this.stderr}`,
      );
  }

  /** Ends stdin and waits for a clean exit. */
  async end(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.stdin.end();
    await done;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.kill(signal);
    return done;
  }
}
