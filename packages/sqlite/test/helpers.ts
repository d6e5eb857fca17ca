import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionRecord } from '@mcp-sessions/core';

/** The workspace root, for spawning children with the source condition. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** Arguments for `spawn(process.execPath, ...)` running a TypeScript fixture against sources. */
export function nodeArgs(file: string, ...args: string[]): string[] {
  return ['--import', 'tsx', '--conditions=@mcp-sessions/source', file, ...args];
}

/** A fresh temp directory; `cleanup()` removes it. */
export function tempDir(): { dir: string; file: (name?: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-sessions-sqlite-'));
  return {
    dir,
    file: (name = 'sessions.db') => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function record(id: string, patch: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    status: 'active',
    version: 1,
    principal: null,
    ownerId: 'test',
    createdAt: 1000,
    lastHeartbeatAt: 1000,
    disconnectedAt: null,
    graceExpiresAt: null,
    recoveryAttempts: 0,
    recoveredAt: null,
    endedAt: null,
    dueAt: 100_000,
    workingDirectory: null,
    metadata: null,
    initializeParams: null,
    ...patch,
  };
}
