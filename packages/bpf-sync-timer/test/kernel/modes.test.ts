// Forced modes tick on this kernel and leave kernel.timer_migration as they found it;
// a value left changed by a dead process is restored at the next start.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SyncTimer, type TimerMode } from '../../src/index';
import { assertWithin, rodataConsumer, requireRoot, window } from './helpers';

const SYSCTL = '/proc/sys/kernel/timer_migration';
const readSysctl = () => Number(fs.readFileSync(SYSCTL, 'utf8').trim());
// Steal time per CPU from /proc/stat, in USER_HZ ticks (10 ms).
const stealTicks = (): Map<number, number> => new Map(fs.readFileSync('/proc/stat', 'utf8').split('\n')
  .filter((l) => /^cpu\d+ /.test(l)).map((l) => {
    const f = l.split(/\s+/);
    return [Number(f[0].slice(3)), Number(f[8] ?? 0)];
  }));

async function forcedMode(mode: TimerMode): Promise<void> {
  requireRoot();
  const before = readSysctl();
  const messages: string[] = [];
  const timer = await SyncTimer.start(1_000_000, { mode, logger: (_l, m) => messages.push(m) });
  const c = rodataConsumer(timer);
  try {
    assert.equal(timer.mode, mode);
    assert.match(timer.modeReason, /requested by options.mode/);
    assert.equal(readSysctl(), before, 'timer_migration must be restored right after start');
    if (before !== 0) assert.ok(messages.some((m) => /timer_migration set to 0/.test(m)), `expected a timer_migration message, got ${messages.join(' | ')}`);
    const w = await window(() => ({ ...c.read(), timer: timer.stats(), steal: stealTicks() }), 1500);
    const expected = Number(w.elapsedNs) / 1e6;
    for (const cpu of timer.cpus) {
      // The timer's own counts and the CPU's steal time over the window, for the message: a
      // shortfall with as many `missed` and steal time is the host descheduling the VM's CPU.
      const s = (x: typeof w.after) => x.timer.find((t) => t.cpu === cpu)!;
      const context = `timer ticks ${s(w.after).ticks - s(w.before).ticks}, missed ${s(w.after).missed - s(w.before).missed}, ` +
        `steal ${((w.after.steal.get(cpu) ?? 0) - (w.before.steal.get(cpu) ?? 0)) * 10} ms`;
      assertWithin(w.after.hits[cpu] - w.before.hits[cpu], expected, 0.02, `${mode} CPU ${cpu} hits (${context})`);
      assert.equal(w.after.badNominal[cpu], 0n, `${mode} CPU ${cpu}: off-grid nominal time`);
    }
  } finally {
    c.close();
    timer.close();
  }
  assert.equal(readSysctl(), before);
}

describe('timer modes', () => {
  it('auto picks modern on this kernel (>= 6.7) and does not touch timer_migration', async () => {
    requireRoot();
    const messages: string[] = [];
    const timer = await SyncTimer.start(1_000_000, { logger: (_l, m) => messages.push(m) });
    timer.close();
    const [maj, min] = os.release().split('.').map(Number);
    assert.equal(maj > 6 || (maj === 6 && min >= 7), true, 'this test expects a >= 6.7 host kernel');
    assert.equal(timer.mode, 'modern');
    assert.ok(!messages.some((m) => /timer_migration set/.test(m)), 'modern mode must not change timer_migration');
  });

  it('forced intermediate mode ticks and restores timer_migration', () => forcedMode('intermediate'));
  it('forced legacy mode ticks and restores timer_migration', () => forcedMode('legacy'));

  it('restores a timer_migration value left changed by a process that died', async () => {
    requireRoot();
    const original = readSysctl();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-state-'));
    const dead = spawnSync('true').pid!; // exited: its pid is free
    fs.writeFileSync(path.join(dir, `timer_migration.${dead}.json`), JSON.stringify({ value: original === 0 ? 1 : original, pid: dead }));
    fs.writeFileSync(SYSCTL, '0');
    process.env.BPF_SYNC_TIMER_STATE_DIR = dir;
    const messages: string[] = [];
    try {
      const timer = await SyncTimer.start(1_000_000, { logger: (_l, m) => messages.push(m) });
      timer.close();
      assert.equal(readSysctl(), original === 0 ? 1 : original);
      assert.deepEqual(fs.readdirSync(dir), [], 'the state file is removed');
      assert.ok(messages.some((m) => new RegExp(`process ${dead} changed it and died`).test(m)));
    } finally {
      delete process.env.BPF_SYNC_TIMER_STATE_DIR;
      fs.writeFileSync(SYSCTL, String(original));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM during a legacy start restores timer_migration before the process dies', () => {
    requireRoot();
    const original = readSysctl();
    assert.notEqual(original, 0, 'this test needs timer_migration = 1 on the host');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-state-'));
    const index = path.resolve(__dirname, '..', '..', 'src', 'index.js');
    // The child signals itself the moment timer_migration has been set to 0.
    const script = `
      const { SyncTimer } = require(${JSON.stringify(index)});
      SyncTimer.start(1000000, { mode: 'legacy', logger: (l, m) => {
        if (/timer_migration set to 0/.test(m)) {
          require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'seen'))}, require('fs').readFileSync('${SYSCTL}', 'utf8'));
          process.kill(process.pid, 'SIGTERM');
        }
      }}).then((t) => { t.close(); console.log('finished start'); });
      setTimeout(() => {}, 5000);`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, BPF_SYNC_TIMER_STATE_DIR: dir }, encoding: 'utf8', timeout: 20000 });
    try {
      assert.equal(fs.readFileSync(path.join(dir, 'seen'), 'utf8').trim(), '0', 'the child saw timer_migration = 0 when it signalled itself');
      assert.equal(r.signal, 'SIGTERM', `child should die of SIGTERM; status ${r.status}, stderr ${r.stderr}`);
      assert.equal(readSysctl(), original, 'timer_migration restored');
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('timer_migration')), [], 'no state file left');
    } finally {
      fs.writeFileSync(SYSCTL, String(original));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
