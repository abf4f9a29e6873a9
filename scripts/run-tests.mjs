#!/usr/bin/env node
// Runs the compiled test suites with node's test runner, one file at a time (kernel
// tests measure timing, so they must not share the two CPUs with each other), by lane:
//   unit     no root, no kernel: TypeScript logic with the native calls faked
//   kernel   root, real BPF on this machine's kernel
//   matrix   the sync timer's suites inside qemu guests on other kernels
//   install  pack both packages, install them in clean Debian roots, run consumers
//   all      every lane, in that order (what `npm test` runs)
// Usage: node scripts/run-tests.mjs [LANE] [<path substring>...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const LANES = ['unit', 'kernel', 'matrix', 'install'];
const roots = ['packages/libbpf/dist/test', 'packages/bpf-sync-timer/dist/test', 'examples', 'scripts/test'];
const UNIT_EXTRA = ['scripts/test/readme.test.mjs'];
const MATRIX = ['scripts/test/kernel-matrix.test.mjs', 'scripts/test/vm-runner.test.mjs'];
const INSTALL = ['scripts/test/install.test.mjs', 'scripts/test/pack.test.mjs', 'scripts/test/unit-as-user.test.mjs'];

let args = process.argv.slice(2);
let lanes = LANES;
if (args[0] === 'all') args = args.slice(1);
else if (LANES.includes(args[0])) { lanes = [args[0]]; args = args.slice(1); }
const filters = args;

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

/** The lane a test file belongs to. */
export function laneOf(f) {
  if (f.includes('/unit/') || UNIT_EXTRA.includes(f)) return 'unit';
  if (MATRIX.includes(f)) return 'matrix';
  if (INSTALL.includes(f)) return 'install';
  return 'kernel';
}

// test/guest/ files run inside VM guests (scripts/test/kernel-matrix.test.mjs drives them).
let files = roots.flatMap(walk).filter((f) => !f.includes('/test/guest/'));
files = files.filter((f) => lanes.includes(laneOf(f)));
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
files.sort((a, b) => LANES.indexOf(laneOf(a)) - LANES.indexOf(laneOf(b)) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`run-tests: no test files for lane(s) ${lanes.join(', ')}${filters.length ? ` matching ${filters.join(', ')}` : ''} (did the build run? try npm run build)`);
  process.exit(1);
}
if (lanes.some((l) => l !== 'unit') && process.getuid?.() !== 0) {
  console.error(`run-tests: the ${lanes.filter((l) => l !== 'unit').join(', ')} lane(s) need root (BPF, chroot, qemu); they fail, never skip, without it: run with sudo.`);
}

const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
