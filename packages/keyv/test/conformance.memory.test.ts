import { runConformance } from '@mcp-sessions/conformance';
import { KeyvSessionBus, KeyvSessionStore } from '@mcp-sessions/keyv';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { memoryKeyv } from './backends';

runConformance({
  name: 'keyv (Map)',
  describe,
  it,
  beforeEach,
  afterEach,
  createStore: () => new KeyvSessionStore(memoryKeyv()),
  createBus: () => new KeyvSessionBus(),
});
