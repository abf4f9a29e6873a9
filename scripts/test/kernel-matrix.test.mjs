// The kernel matrix: the sync timer's guest suites run inside qemu guests on Debian's 6.1
// (legacy mode, hotplug) and 6.1 PREEMPT_RT kernels (refusal), through scripts/vm/run.sh.
// Run alone with `npm run test:matrix`; also part of `npm test`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUN = resolve(root, 'scripts/vm/run.sh');
const GUEST = 'packages/bpf-sync-timer/dist/test/guest';

function inGuest(kernel, file) {
  return new Promise((done, fail) => {
    const child = spawn(RUN, ['--kernel', kernel, '--cpus', '4', '--timeout', '400', '--', 'node', '--test', '--test-reporter=tap', `${GUEST}/${file}`],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, out }));
  });
}

function tapCounts(out) {
  const n = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, 'm').exec(out) ?? [])[1] ?? NaN);
  return { pass: n('pass'), fail: n('fail') };
}

for (const [kernel, file, tests] of [['6.1', 'kernel-6.1.test.js', 5], ['6.1-rt', 'kernel-6.1-rt.test.js', 3]]) {
  test(`guest suite on Linux ${kernel}`, { timeout: 15 * 60 * 1000 }, async () => {
    const { code, out } = await inGuest(kernel, file);
    const counts = tapCounts(out);
    assert.deepEqual(counts, { pass: tests, fail: 0 }, `guest output:\n${out.slice(-6000)}`);
    assert.equal(code, 0, out.slice(-3000));
  });
}
