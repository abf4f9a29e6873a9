#!/usr/bin/env node
// Runs the compiled test suites with node's test runner, one file at a time (kernel
// tests measure timing, so they must not share the two CPUs with each other).
// Usage: node scripts/run-tests.mjs [unit|kernel|<path substring>...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['packages/libbpf/dist/test', 'packages/bpf-sync-timer/dist/test', 'examples', 'scripts/test'];
const filters = process.argv.slice(2);

function walk(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    if (e === 'node_modules') continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (/\.test\.(js|mjs)$/.test(e)) out.push(p);
  }
  return out;
}

// test/guest/ files run inside VM guests (scripts/test/kernel-matrix.test.mjs drives them).
let files = roots.flatMap(walk).filter((f) => !f.includes('/test/guest/')).sort((a, b) => tier(a) - tier(b) || a.localeCompare(b));
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files found (did the build run? try npm run build)');
  process.exit(1);
}

function tier(f) {
  return f.includes('/unit/') ? 0 : 1;
}

const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
