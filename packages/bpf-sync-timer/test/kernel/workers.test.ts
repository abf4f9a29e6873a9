// A Worker that ends during a legacy SyncTimer.start (terminated, process.exit() in it,
// an uncaught throw) neither takes the process down nor leaves kernel.timer_migration
// changed: the worker's environment teardown writes it back (terminate), so do its exit
// listener (process.exit) and the finally (throw). Each case runs in a child process
// (worker-scenarios.ts) so that a regression fails its test instead of the runner.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { requireRoot } from './helpers';

const SYSCTL = '/proc/sys/kernel/timer_migration';
const SCENARIOS = path.join(__dirname, 'worker-scenarios.js');

describe('a worker that ends during a legacy start', () => {
  for (const end of ['terminate', 'exit', 'throw'] as const) {
    it(`ended by ${end}, 6 times: the process lives on and timer_migration is back every time`, () => {
      requireRoot();
      const original = fs.readFileSync(SYSCTL, 'utf8').trim();
      assert.notEqual(original, '0', 'this test needs timer_migration = 1 on the host');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-workers-'));
      try {
        const r = spawnSync(process.execPath, [SCENARIOS, end, '6'], { env: { ...process.env, BPF_SYNC_TIMER_STATE_DIR: dir }, encoding: 'utf8', timeout: 120_000 });
        assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
        assert.equal(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /terminate called|Segmentation|Aborted|FATAL ERROR/);
        const out = JSON.parse(r.stdout.trim()) as { seen: string[]; after: string[]; codes: number[] };
        assert.deepEqual(out.seen, Array(6).fill('0'), 'each worker ended while timer_migration was 0');
        assert.deepEqual(out.after, Array(6).fill(original), 'restored after each worker');
        assert.deepEqual(out.codes, Array(6).fill({ terminate: 1, exit: 7, throw: 1 }[end]));
        const left = fs.readdirSync(dir).filter((f) => !/\.json$/.test(f) || !JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).restored);
        assert.deepEqual(left, [], 'no state file left but ones marked restored');
      } finally {
        fs.writeFileSync(SYSCTL, original);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
