// Prints the README's `## Use` TypeScript block as it stands (the code users paste), or fails.
import { readFileSync } from 'node:fs';

const [readme, lang = 'ts'] = process.argv.slice(2);
const text = readFileSync(readme, 'utf8');
const section = text.split(/^## /m).find((part) => part.startsWith('Use\n'));
if (!section) throw new Error(`${readme}: no "## Use" section`);
const blocks = [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang);
if (blocks.length !== 1)
  throw new Error(`${readme}: "## Use" should hold one \`\`\`${lang} block, found ${blocks.length}`);
process.stdout.write(blocks[0][2]);
