import { defineProject } from 'vitest/config';
import { projectTimeouts, sourceAliases } from '../../vitest.workspace.ts';

export default defineProject({
  resolve: { alias: sourceAliases },
  // The conformance suite's 10k-record listing costs several Keyv round trips per record here.
  test: { name: 'keyv', include: ['test/**/*.test.ts'], ...projectTimeouts, testTimeout: 120_000 },
});
