import { defineProject } from 'vitest/config';
import { projectTimeouts, sourceAliases } from '../../vitest.workspace.ts';

export default defineProject({
  resolve: { alias: sourceAliases },
  test: { name: 'cli', include: ['test/**/*.test.ts'], ...projectTimeouts },
});
