import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The example's directory (the server runs with it as cwd, so relative store paths land there). */
export const EXAMPLE_DIR = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Every stderr line so far. */
  lines: string[];
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

/** Starts `src/main.ts` (or another entry with its log line) in a child process; resolves once it listens. */
export function startServer(
  env: Record<string, string>,
  onLine: (line: string) => void = () => {},
  entry: string = MAIN,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@mcp-sessions/source', entry], {
    cwd: EXAMPLE_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl = buffered.indexOf('\n');
      while (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        onLine(line);
        const listening = /listening url="([^"]+)"/.exec(line);
        if (listening) resolve({ child, url: listening[1]!, lines, exited });
        nl = buffered.indexOf('\n');
      }
    });
    child.once('exit', (code, signal) =>
      reject(
        new Error(`server exited before listening (code ${code}, signal ${signal}):\n${lines.join('\n')}`),
      ),
    );
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
