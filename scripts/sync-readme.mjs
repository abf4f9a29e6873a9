#!/usr/bin/env node
// Copies example files into README.md between `<!-- example:PATH -->` and `<!-- /example -->`,
// so the README shows exactly the code the tests run. `--check` exits 1 when out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readmePath = join(root, 'README.md');

/** README text with every example block filled from its file. */
export function render(readme, read = (p) => readFileSync(join(root, p), 'utf8')) {
  return readme.replace(/<!-- example:(\S+) -->\n[\s\S]*?<!-- \/example -->/g, (_, file) => {
    const lang = { '.ts': 'ts', '.c': 'c', '.mjs': 'js', '.js': 'js' }[extname(file)] ?? '';
    return `<!-- example:${file} -->\n\`${file}\`:\n\n\`\`\`${lang}\n${read(file).trimEnd()}\n\`\`\`\n<!-- /example -->`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const current = readFileSync(readmePath, 'utf8');
  const next = render(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md is out of date with the example files: run node scripts/sync-readme.mjs');
      process.exit(1);
    }
  } else if (next !== current) {
    writeFileSync(readmePath, next);
    console.log('README.md updated');
  }
}
