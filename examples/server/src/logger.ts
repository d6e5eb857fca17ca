import type { Logger } from '@mcp-sessions/core';

/** One line per event on stderr: `time level message key=value...`. An example may print. */
export function stderrLogger(prefix: string): Logger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    const rest = Object.entries(fields ?? {})
      .map(([k, v]) => `${k}=${v instanceof Error ? JSON.stringify(v.message) : JSON.stringify(v)}`)
      .join(' ');
    process.stderr.write(
      `${new Date().toISOString()} ${level} [${prefix}] ${message}${rest ? ` ${rest}` : ''}\n`,
    );
  };
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}
