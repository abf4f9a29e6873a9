// The kernel matrix: the sync timer's guest suites (packages/bpf-sync-timer/test/guest) run inside
// qemu guests on every Debian kernel the VM runner knows (scripts/vm/host.mjs FLAVOURS), through
// scripts/vm/run.sh: Debian 11's 5.10 (refusal), 12's 6.1 (legacy mode) and 6.1-rt, 13's 6.12
// (modern) and 6.12-rt, sid's 7.2 (modern) and 7.2-rt, and experimental's newest kernel and its
// -rt flavour when experimental has one (else those two tests are skipped, saying so). The RT
// kernels refuse today (no thread mode yet). About 3.5 minutes in all under TCG on 2 host CPUs.
// Run alone with `npm run test:matrix`; also part of `npm test`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KernelNotOfferedError, ensureKernel } from '../vm/host.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUN = resolve(root, 'scripts/vm/run.sh');
const GUEST = 'packages/bpf-sync-timer/dist/test/guest';

/** Each kernel, the number of tests its suite has (so a suite that silently ran less fails), and whether apt may lack it. */
const MATRIX = [
  { kernel: '5.10', tests: 4 },
  { kernel: '6.1', tests: 6 },
  { kernel: '6.1-rt', tests: 7 },
  { kernel: '6.12', tests: 6 },
  { kernel: '6.12-rt', tests: 7 },
  { kernel: '7.2', tests: 9 },
  { kernel: '7.2-rt', tests: 8 },
  { kernel: 'experimental', tests: 6, optional: true },
  { kernel: 'experimental-rt', tests: 7, optional: true },
];

function inGuest(kernel, file) {
  return new Promise((done, fail) => {
    const child = spawn(RUN, ['--kernel', kernel, '--cpus', '4', '--timeout', '400', '--timing', '--',
      'node', '--test', '--test-reporter=tap', `${GUEST}/${file}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, out }));
  });
}

function tapCounts(out) {
  const n = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, 'm').exec(out) ?? [])[1] ?? NaN);
  return { tests: n('tests'), pass: n('pass'), todo: n('todo'), fail: n('fail'), cancelled: n('cancelled') };
}

for (const { kernel, tests, optional } of MATRIX) {
  test(`guest suite on Linux ${kernel}`, { timeout: 15 * 60 * 1000 }, async (t) => {
    // Fetch (or find in the cache) first, so that a suite without a kernel says so plainly.
    try {
      const k = ensureKernel(kernel, (m) => t.diagnostic(m));
      t.diagnostic(`${k.pkg} (${k.kver})`);
    } catch (e) {
      if (optional && e instanceof KernelNotOfferedError) return t.skip(`Debian experimental offers no such kernel now: ${e.message}`);
      throw e;
    }
    const t0 = Date.now();
    const { code, out } = await inGuest(kernel, `kernel-${kernel}.test.js`);
    t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s; ${out.match(/^vm: timing: .*$/m)?.[0] ?? ''}`);
    const c = tapCounts(out);
    // A todo test documents a known gap (its reason is in the suite); it may fail without failing the suite.
    if (c.todo) t.diagnostic(`${c.todo} todo: ${out.match(/^\s*(not )?ok .*# TODO.*$/gm)?.join(' | ') ?? ''}`);
    assert.deepEqual({ tests: c.tests, fail: c.fail, cancelled: c.cancelled, passOrTodo: c.pass + c.todo },
      { tests, fail: 0, cancelled: 0, passOrTodo: tests }, `guest output:\n${out.slice(-6000)}`);
    assert.equal(code, 0, out.slice(-3000));
  });
}
