// Runs INSIDE a Debian 6.1 guest (scripts/vm/run.sh --kernel 6.1 --cpus 4), driven by
// scripts/test/kernel-matrix.test.mjs; never on the host (the runner skips test/guest).
//
// Timing under qemu's software emulation (TCG) is not the host's: ticks arrive late and
// at roughly half the nominal rate at 1 ms. So these tests use 10 ms and assert function,
// not precision: ticks arrive on every armed vCPU, none on the wrong CPU, the right mode is
// chosen, the sysctl is left as found, hotplug stops and restarts a CPU's timer. Rates are
// only required to reach 30% of nominal (a stalled or dead timer gives 0%).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SyncTimer, type HotplugEvent } from '../../src/index';
import { rodataConsumer, sleep, window } from '../kernel/helpers';

const INTERVAL = 10_000_000;
const MIN_RATE = 0.3;
const sysctl = () => fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8').trim();

describe('Linux 6.1 (legacy mode)', () => {
  it('runs on a 6.1 kernel with 4 vCPUs', () => {
    assert.match(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'), /^6\.1\./);
    assert.equal(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim(), '0-3');
  });

  it('auto mode probes down to legacy, handles timer_migration, and ticks on every vCPU', async () => {
    const before = sysctl();
    const logs: string[] = [];
    const timer = await SyncTimer.start(INTERVAL, { logger: (_l, m) => logs.push(m), watchCpusMs: false });
    const c = rodataConsumer(timer);
    try {
      assert.equal(timer.mode, 'legacy');
      assert.match(timer.modeReason, /rejected modern and intermediate/);
      assert.deepEqual([...timer.cpus], [0, 1, 2, 3]);
      assert.equal(sysctl(), before, 'timer_migration restored after start');
      if (before !== '0') assert.ok(logs.some((m) => /timer_migration set to 0/.test(m)), logs.join(' | '));
      const w = await window(() => ({ c: c.read(), s: timer.stats() }), 3000);
      const expected = Number(w.elapsedNs) / INTERVAL;
      for (const [i, cpu] of timer.cpus.entries()) {
        const hits = Number(w.after.c.hits[cpu] - w.before.c.hits[cpu]);
        assert.ok(hits >= MIN_RATE * expected, `vCPU ${cpu}: ${hits} hits, expected about ${expected.toFixed(0)}`);
        assert.equal(w.after.c.migrations[cpu], 0n, `vCPU ${cpu}: a tick ran on the wrong CPU`);
        assert.equal(w.after.c.badNominal[cpu], 0n, `vCPU ${cpu}: off-grid tick`);
        assert.equal(w.after.s[i].wrongCpu, 0n, `vCPU ${cpu}: timer callback on the wrong CPU`);
      }
    } finally {
      c.close();
      timer.close();
    }
    assert.equal(sysctl(), before);
  });

  it('a forced modern mode is MODE_UNSUPPORTED naming 6.7', async () => {
    await assert.rejects(SyncTimer.start(INTERVAL, { mode: 'modern' }), (e: Error & { code?: string }) => e.code === 'MODE_UNSUPPORTED' && /6\.7/.test(e.message));
  });

  it('sync-timer doctor reports legacy mode', () => {
    const bin = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; detail: string }>;
    assert.match(checks.find((c) => c.name === 'timer mode')!.detail, /^legacy on CPUs 0-3/);
    assert.match(checks.find((c) => c.name === 'kernel')!.detail, /^6\.1\./);
  });

  it('hotplug: an offlined vCPU\'s timer stops (no ticks elsewhere) and is re-armed when it returns', async () => {
    const CPU = 2;
    const online = (v: 0 | 1) => fs.writeFileSync(`/sys/devices/system/cpu/cpu${CPU}/online`, String(v));
    const events: HotplugEvent[] = [];
    const timer = await SyncTimer.start(INTERVAL, { watchCpusMs: 200, logger: () => {} });
    timer.on('cpu-offline', (e) => events.push(e));
    timer.on('cpu-rearmed', (e) => events.push(e));
    timer.on('cpu-rearm-failed', (e) => events.push(e));
    const c = rodataConsumer(timer);
    try {
      await sleep(500);
      assert.ok(c.read().hits[CPU] > 0n, 'ticks on the vCPU before it goes offline');
      online(0);
      await sleep(1500);
      assert.deepEqual(events.map((e) => e.type), ['cpu-offline']);
      assert.ok(!timer.cpus.includes(CPU));
      assert.deepEqual(timer.skippedCpus, [{ cpu: CPU, reason: 'offline' }]);
      const stopped = timer.stats().length; // stats of the armed CPUs only
      assert.equal(stopped, 3);
      const offlineHits = c.read().hits[CPU];
      await sleep(500);
      assert.equal(c.read().hits[CPU], offlineHits, 'no ticks counted for the offline vCPU');
      assert.deepEqual(c.read().migrations, [0n, 0n, 0n, 0n], 'the migrated timer published no tick on the wrong CPU');

      const t0 = Date.now();
      online(1);
      while (!events.some((e) => e.type === 'cpu-rearmed') && Date.now() - t0 < 5000) await sleep(50);
      const rearmed = events.find((e) => e.type === 'cpu-rearmed');
      assert.ok(rearmed, `re-armed within 5 s; events: ${JSON.stringify(events)}`);
      assert.equal(rearmed!.cpu, CPU);
      assert.ok(Date.now() - t0 < 1500, `re-armed ${Date.now() - t0} ms after coming online (check period 200 ms)`);
      assert.deepEqual([...timer.cpus], [0, 1, 2, 3]);
      const back = c.read().hits[CPU];
      await sleep(1000);
      assert.ok(c.read().hits[CPU] - back >= BigInt(Math.floor(MIN_RATE * 100)), 'ticks on the vCPU again');
      const st = timer.stats().find((s) => s.cpu === CPU)!;
      assert.equal(st.stopped, false);
      assert.deepEqual(c.read().migrations, [0n, 0n, 0n, 0n]);
    } finally {
      if (fs.readFileSync(`/sys/devices/system/cpu/cpu${CPU}/online`, 'utf8').trim() !== '1') online(1);
      c.close();
      timer.close();
    }
  });
});
