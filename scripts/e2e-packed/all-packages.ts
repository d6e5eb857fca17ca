// Every package's declarations, loaded the way a user's build loads them (skipLibCheck off): a type
// its .d.ts imports from a package the user does not get installed fails here (TS7016).
import type * as conformance from '@mcp-sessions/conformance';
import type * as core from '@mcp-sessions/core';
import type * as adapter from '@mcp-sessions/core/adapter';
import type * as http from '@mcp-sessions/core/http';
import type * as keyv from '@mcp-sessions/keyv';
import type * as memory from '@mcp-sessions/memory';
import type * as postgres from '@mcp-sessions/postgres';
import type * as redis from '@mcp-sessions/redis';
import type * as sqlite from '@mcp-sessions/sqlite';

export type Packages = [
  typeof conformance,
  typeof core,
  typeof adapter,
  typeof http,
  typeof keyv,
  typeof memory,
  typeof postgres,
  typeof redis,
  typeof sqlite,
];
