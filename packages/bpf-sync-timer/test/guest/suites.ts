// The guest suites, shared by every kernel of the matrix: each kernel-<k>.test.ts runs INSIDE a
// qemu guest on that kernel (scripts/vm/run.sh, driven by scripts/test/kernel-matrix.test.mjs;
// never on the host, whose test runner skips test/guest) and says which of these its kernel
// must pass:
//   tickingKernelSuite   bpf_timer works: the expected mode, ticks on every vCPU, hotplug
//   realtimeKernelSuite  PREEMPT_RT: no bpf_timer, so thread mode, and the ticking suite on it
//   oldKernelSuite       older than bpf_timer (5.15): a clear refusal
//
// Timing under qemu's software emulation (TCG) is not the host's: ticks arrive late and at
// roughly half the nominal rate at 1 ms. So these tests use 10 ms and assert function, not
// precision: ticks arrive on every armed vCPU, none on the wrong CPU, the right mode is
// chosen, the sysctl is left as found, hotplug stops and restarts a CPU's timer. Rates are
// only required to reach 30% of nominal (a stalled or dead timer gives 0%).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { BpfObject, VerifierError, onlineCpus } from '@bpf-sync-timer/libbpf';
import { SyncTimer, SyncTimerError, TIMER_OBJECT_PATH, type HotplugEvent, type TimerMode } from '../../src/index';
import { fdCount, rodataConsumer, sleep, window, type Consumer } from '../kernel/helpers';

export const INTERVAL = 10_000_000;
const MIN_RATE = 0.3;
const sysctl = () => fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8').trim();

/** The vCPUs the guest was booted with (all online at the start of each test). */
function guestCpus(): number[] {
  return onlineCpus();
}

/** `sync-timer doctor --json` from the built CLI: its exit status and checks by name. */
export function doctor(): { status: number | null; check: (name: string) => { ok: boolean; detail: string } } {
  const bin = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8' });
  let checks: Array<{ name: string; ok: boolean; detail: string }>;
  try {
    checks = JSON.parse(r.stdout);
  } catch {
    assert.fail(`doctor printed no JSON (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
  return {
    status: r.status,
    check: (name) => checks.find((c) => c.name === name) ?? assert.fail(`no '${name}' check in ${r.stdout}`),
  };
}

/**
 * Asserts the timer ticks on every armed vCPU over `ms`: at least MIN_RATE of the nominal
 * count per vCPU seen by a seed-000 style consumer, no tick on the wrong CPU, none off the
 * grid. Independent of the mode, so the RT suites can use it once start() serves them.
 */
export async function assertTicksOnEveryCpu(timer: SyncTimer, c: Consumer, ms = 3000): Promise<void> {
  const w = await window(() => ({ c: c.read(), s: timer.stats() }), ms);
  const expected = Number(w.elapsedNs) / INTERVAL;
  for (const [i, cpu] of timer.cpus.entries()) {
    const hits = Number(w.after.c.hits[cpu] - w.before.c.hits[cpu]);
    assert.ok(hits >= MIN_RATE * expected, `vCPU ${cpu}: ${hits} hits, expected about ${expected.toFixed(0)}`);
    assert.equal(w.after.c.migrations[cpu], 0n, `vCPU ${cpu}: a tick ran on the wrong CPU`);
    assert.equal(w.after.c.badNominal[cpu], 0n, `vCPU ${cpu}: off-grid tick`);
    assert.equal(w.after.s[i].wrongCpu, 0n, `vCPU ${cpu}: timer callback on the wrong CPU`);
  }
}

/** Starts a timer with a consumer, runs `fn`, and closes both whatever happens. */
async function withTimer(options: Parameters<typeof SyncTimer.start>[1], fn: (timer: SyncTimer, c: Consumer) => Promise<void>): Promise<void> {
  const timer = await SyncTimer.start(INTERVAL, options);
  let c: Consumer | undefined;
  try {
    c = rodataConsumer(timer);
    await fn(timer, c);
  } finally {
    c?.close();
    timer.close();
  }
}

/** What a kernel on which bpf_timer works must show. */
export interface TickingKernel {
  /** Matches /proc/sys/kernel/osrelease. */
  release: RegExp;
  /** The mode auto mode must pick, and the sentence `modeReason` must match. */
  mode: TimerMode;
  modeReason: RegExp;
  /** Modes `options.mode` can force here besides `mode` (each must tick too). */
  alsoForcible?: TimerMode[];
  /** A mode this kernel lacks: forcing it is MODE_UNSUPPORTED naming its minimum kernel. */
  unsupported?: { mode: TimerMode; minKernel: string };
}

/**
 * The suite of a kernel on which bpf_timer works: auto mode's pick, ticks on every vCPU, none on
 * the wrong CPU, timer_migration left as found, what `doctor` says, forced modes, and CPU
 * hotplug (an offlined vCPU's timer stops, publishing nothing elsewhere, and is re-armed when
 * the vCPU returns).
 */
export function tickingKernelSuite(title: string, k: TickingKernel): void {
  describe(title, () => {
    it(`runs on the expected kernel with at least 2 vCPUs online`, () => {
      assert.match(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'), k.release);
      assert.ok(guestCpus().length >= 2, `online: ${fs.readFileSync('/sys/devices/system/cpu/online', 'utf8')}`);
    });

    it(`auto mode picks ${k.mode}, leaves timer_migration as found, and ticks on every vCPU`, async () => {
      const before = sysctl();
      const logs: string[] = [];
      await withTimer({ logger: (_l, m) => logs.push(m), watchCpusMs: false }, async (timer, c) => {
        assert.equal(timer.mode, k.mode);
        assert.match(timer.modeReason, k.modeReason);
        assert.deepEqual([...timer.cpus], guestCpus());
        assert.equal(sysctl(), before, 'timer_migration restored after start');
        const migrationLogged = logs.some((m) => /timer_migration set to 0/.test(m));
        if (k.mode === 'modern' || k.mode === 'thread') assert.ok(!migrationLogged, `${k.mode} mode leaves timer_migration alone: ${logs.join(' | ')}`);
        else if (before !== '0') assert.ok(migrationLogged, logs.join(' | '));
        await assertTicksOnEveryCpu(timer, c);
      });
      assert.equal(sysctl(), before);
    });

    for (const mode of k.alsoForcible ?? []) {
      it(`a forced ${mode} mode ticks on every vCPU too`, async () => {
        const before = sysctl();
        await withTimer({ mode, logger: () => {}, watchCpusMs: false }, async (timer, c) => {
          assert.equal(timer.mode, mode);
          assert.match(timer.modeReason, /requested by options\.mode/);
          await assertTicksOnEveryCpu(timer, c, 1500);
        });
        assert.equal(sysctl(), before);
      });
    }

    if (k.unsupported) {
      const { mode, minKernel } = k.unsupported;
      it(`a forced ${mode} mode is MODE_UNSUPPORTED naming ${minKernel}`, async () => {
        await assert.rejects(SyncTimer.start(INTERVAL, { mode }),
          (e: unknown) => e instanceof SyncTimerError && e.code === 'MODE_UNSUPPORTED' && e.message.includes(minKernel));
      });
    }

    it(`sync-timer doctor reports ${k.mode} mode on every vCPU`, () => {
      const d = doctor();
      assert.equal(d.status, 0);
      const cpus = guestCpus();
      assert.match(d.check('timer mode').detail, new RegExp(`^${k.mode} on CPUs 0-${cpus.length - 1}:`));
      assert.match(d.check('kernel').detail, k.release);
    });

    it('hotplug: an offlined vCPU\'s timer stops (no ticks elsewhere) and is re-armed when it returns', async () => {
      const all = guestCpus();
      const CPU = Math.min(2, all.length - 1); // never CPU 0, which cannot go offline
      const online = (v: 0 | 1) => fs.writeFileSync(`/sys/devices/system/cpu/cpu${CPU}/online`, String(v));
      const zeros = all.map(() => 0n);
      const events: HotplugEvent[] = [];
      try {
        await withTimer({ watchCpusMs: 200, logger: () => {} }, async (timer, c) => {
          timer.on('cpu-offline', (e) => events.push(e));
          timer.on('cpu-rearmed', (e) => events.push(e));
          timer.on('cpu-rearm-failed', (e) => events.push(e));
          await sleep(500);
          assert.ok(c.read().hits[CPU] > 0n, 'ticks on the vCPU before it goes offline');
          online(0);
          await sleep(1500);
          assert.deepEqual(events.map((e) => e.type), ['cpu-offline']);
          assert.ok(!timer.cpus.includes(CPU));
          assert.deepEqual(timer.skippedCpus, [{ cpu: CPU, reason: 'offline' }]);
          assert.equal(timer.stats().length, all.length - 1, 'stats of the armed CPUs only');
          const offlineHits = c.read().hits[CPU];
          await sleep(500);
          assert.equal(c.read().hits[CPU], offlineHits, 'no ticks counted for the offline vCPU');
          assert.deepEqual(c.read().migrations, zeros, 'the migrated timer published no tick on the wrong CPU');

          const t0 = Date.now();
          online(1);
          while (!events.some((e) => e.type === 'cpu-rearmed') && Date.now() - t0 < 5000) await sleep(50);
          const rearmed = events.find((e) => e.type === 'cpu-rearmed');
          assert.ok(rearmed, `re-armed within 5 s; events: ${JSON.stringify(events)}`);
          assert.equal(rearmed!.cpu, CPU);
          assert.ok(Date.now() - t0 < 1500, `re-armed ${Date.now() - t0} ms after coming online (check period 200 ms)`);
          assert.deepEqual([...timer.cpus], all);
          const back = c.read().hits[CPU];
          await sleep(1000);
          assert.ok(c.read().hits[CPU] - back >= BigInt(Math.floor(MIN_RATE * 100)), 'ticks on the vCPU again');
          assert.equal(timer.stats().find((s) => s.cpu === CPU)!.stopped, false);
          assert.deepEqual(c.read().migrations, zeros);
        });
      } finally {
        if (fs.readFileSync(`/sys/devices/system/cpu/cpu${CPU}/online`, 'utf8').trim() !== '1') online(1);
      }
    });
  });
}

/** Asserts `start()` rejects with UNSUPPORTED_KERNEL whose message matches `why`, leaving no fd and the sysctl as found. */
async function assertRefusedCleanly(why: RegExp): Promise<void> {
  const before = fdCount();
  const migration = sysctl();
  await assert.rejects(SyncTimer.start(1_000_000), (e: unknown) => {
    assert.ok(e instanceof SyncTimerError, String(e));
    assert.equal(e.code, 'UNSUPPORTED_KERNEL', e.message);
    assert.match(e.message, why);
    return true;
  });
  assert.equal(fdCount(), before, 'no fd left behind');
  assert.equal(sysctl(), migration, 'timer_migration untouched');
}

/** True when the running kernel is PREEMPT_RT by its version string (`uname -v`), which every RT kernel carries. */
const preemptRtBuild = () => / PREEMPT_RT /.test(` ${os.version()} `);

/**
 * The suite of a PREEMPT_RT kernel, whose verifier refuses bpf_timer. `startsToday` is what
 * `SyncTimer.start` does there now: a refusal. When the thread mode serves these kernels,
 * replace that one test with the ticking checks (`assertTicksOnEveryCpu` after a start in auto
 * mode, expecting mode 'thread', plus the hotplug test); the other tests stay.
 */
export function realtimeKernelSuite(title: string, k: { release: RegExp }): void {
  describe(title, () => {
    it('is a PREEMPT_RT kernel', () => {
      assert.match(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'), k.release);
      assert.ok(preemptRtBuild(), `uname -v: ${os.version()}`);
    });

    it('the verifier itself refuses bpf_timer here (why thread mode exists)', () => {
      const open = BpfObject.open(TIMER_OBJECT_PATH);
      // EACCES up to 6.1; 6.12 and later say EOPNOTSUPP.
      assert.throws(() => open.load(), (e: unknown) => e instanceof VerifierError && /PREEMPT_RT/.test(e.log) && ['EACCES', 'EOPNOTSUPP'].includes(e.code));
    });

    it('a forced bpf_timer mode is MODE_UNSUPPORTED naming PREEMPT_RT and the thread mode, and leaks nothing', async () => {
      const before = fdCount();
      await assert.rejects(SyncTimer.start(INTERVAL, { mode: 'modern' }),
        (e: unknown) => e instanceof SyncTimerError && e.code === 'MODE_UNSUPPORTED' && /PREEMPT_RT/.test(e.message) && /'thread'/.test(e.message));
      assert.equal(fdCount(), before);
    });

    // /sys/kernel/realtime came with the out-of-tree RT patches; Debian's 7.x RT kernels lack it,
    // and the library then recognises PREEMPT_RT by `uname -v`. The ticking suite's doctor test
    // then finds thread mode.
    tickingKernelSuite(`${title}, thread mode (PREEMPT_RT known ${fs.existsSync('/sys/kernel/realtime') ? 'by /sys/kernel/realtime' : 'by uname -v'})`,
      { release: k.release, mode: 'thread', modeReason: /^thread: the kernel is PREEMPT_RT, whose verifier refuses bpf_timer/ });
  });
}

/** The suite of a kernel older than bpf_timer (5.15): a clear refusal before anything loads. */
export function oldKernelSuite(title: string, k: { release: RegExp }): void {
  describe(title, () => {
    it('runs on the expected kernel', () => {
      assert.match(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'), k.release);
    });

    it('start() fails with UNSUPPORTED_KERNEL naming 5.15 and leaks nothing', () => assertRefusedCleanly(/5\.15/));

    it('sync-timer doctor says the kernel predates bpf_timer and does not probe a mode', () => {
      const d = doctor();
      assert.equal(d.status, 1);
      assert.equal(d.check('kernel').ok, false);
      assert.match(d.check('kernel').detail, /predates bpf_timer/);
      assert.equal(d.check('timer mode').detail, 'not probed');
    });

    it('the timer object itself does not load here (what the up-front check spares the user)', () => {
      const open = BpfObject.open(TIMER_OBJECT_PATH);
      assert.throws(() => open.load());
    });
  });
}
