import { MemorySessionBus, MemorySessionStore } from '@mcp-sessions/memory';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { runConformance } from '../src/index';

runConformance({
  name: 'memory',
  describe,
  it,
  beforeEach,
  afterEach,
  createStore: () => new MemorySessionStore(),
  createBus: () => new MemorySessionBus(),
});
