// The README's commands and examples stay true: the example blocks are the files the
// tests run, and .ci/run calls the test command the README gives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { render } from '../sync-readme.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

test('README example blocks match the example files', () => {
  assert.ok(/<!-- example:/.test(readme), 'README has example blocks');
  assert.equal(render(readme), readme, 'run: node scripts/sync-readme.mjs');
});

test('.ci/run calls the README test command, and the README quick start has start and test', () => {
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
  assert.match(ci, /^npm test$/m);
  assert.match(readme, /sudo npm test/);
  assert.match(readme, /sudo npm start/);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.test, /bootstrap\.sh/);
  assert.match(pkg.scripts.start, /bootstrap\.sh/);
});
