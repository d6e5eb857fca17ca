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

/**
 * `logger`, silent until `started()`: while the process starts, a failure is reported once, in
 * the one line that stops it, not also by every client error on the way there.
 */
export function quietWhileStarting(logger: Logger): { logger: Logger; started(): void } {
  let quiet = true;
  const gate =
    (write: Logger['info']): Logger['info'] =>
    (message, fields) => {
      if (!quiet) write(message, fields);
    };
  return {
    logger: {
      debug: gate(logger.debug),
      info: gate(logger.info),
      warn: gate(logger.warn),
      error: gate(logger.error),
    },
    started: () => {
      quiet = false;
    },
  };
}
