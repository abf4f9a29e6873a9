// Clock steps under a realtime grid, inside a guest (the host's clock is never touched): a
// SyncTimer with clock 'realtime' ticks while the guest's wall clock is set forward by an
// hour and then back by two (clock_settime through `date -s`), by amounts that are no
// multiple of the interval, so the old grid is off the new one. After each step the ticks
// must neither burst (no more per window than the window holds grid points, plus slack) nor
// stall (they resume within a few intervals, at TCG's pace), the step must be counted on
// every CPU, and the tick index must be that of the new time. The clock is put back at the
// end (the guest's own monotonic time says by how much).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { decodeBitmapEntry, SyncTimer, type CpuTimerStats, type TimerMode } from '../../src/index';
import { rodataConsumer, sleep, type Consumer } from '../kernel/helpers';

const INTERVAL = 10_000_000n;
const WINDOW_MS = 1000;
/** Ticks resume within this after a step: a stall would last the step (an hour). */
const RESUME_MS = 500;

/** Sets the guest's CLOCK_REALTIME to `ns` (coreutils `date -s`, i.e. clock_settime). */
function setWallClock(ns: bigint): void {
  const s = ns / 1_000_000_000n;
  const frac = String(ns % 1_000_000_000n).padStart(9, '0');
  const r = spawnSync('date', ['-u', '-s', `@${s}.${frac}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `date -s failed: ${r.stderr}`);
}

const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Waits until every CPU's hit count passed `before`; the ms it took. */
async function resumeMs(c: Consumer, before: bigint[], cpus: readonly number[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (;;) {
    const hits = c.hits();
    if (cpus.every((cpu) => hits[cpu] > before[cpu])) return Number(process.hrtime.bigint() - t0) / 1e6;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < RESUME_MS * 4, `no tick on some CPU ${ms.toFixed(0)} ms after the step: a stall (hits ${hits.join(',')} vs ${before.join(',')})`);
    await sleep(2);
  }
}

/** Steps the clock by `deltaNs` and checks: counted, resumed soon, no burst, index of the new time. */
async function stepAndCheck(timer: SyncTimer, c: Consumer, deltaNs: bigint): Promise<{ resumedMs: number; perWindow: number[] }> {
  const cpus = timer.cpus;
  const stepsBefore = timer.stats().map((s) => s.clockSteps);
  const hitsBefore = c.hits();
  const stepAt = process.hrtime.bigint();
  setWallClock(wallNs() + deltaNs);
  const resumedMs = await resumeMs(c, hitsBefore, cpus);
  assert.ok(resumedMs <= RESUME_MS, `ticks resumed ${resumedMs.toFixed(0)} ms after the step (more than ${RESUME_MS} ms)`);

  const h0 = c.hits();
  const t0 = process.hrtime.bigint();
  await sleep(WINDOW_MS);
  const h1 = c.hits();
  const elapsedNs = process.hrtime.bigint() - t0;
  const gridPoints = Number(elapsedNs / INTERVAL);
  const perWindow = cpus.map((cpu) => Number(h1[cpu] - h0[cpu]));
  // from just before the step: a burst replaying the grid points of the step would land here
  const sinceStep = Number((process.hrtime.bigint() - stepAt) / INTERVAL);
  for (const [i, cpu] of cpus.entries()) {
    const total = Number(h1[cpu] - hitsBefore[cpu]);
    assert.ok(total <= sinceStep + 2, `CPU ${cpu}: ${total} ticks in the ${sinceStep} grid points since the step: a burst`);
    assert.ok(perWindow[i] <= gridPoints + 2, `CPU ${cpu}: ${perWindow[i]} ticks in ${gridPoints} grid points after the step: a burst`);
    assert.ok(perWindow[i] >= 0.3 * gridPoints, `CPU ${cpu}: ${perWindow[i]} ticks in ${gridPoints} grid points after the step: stalled`);
  }
  const stats: CpuTimerStats[] = timer.stats();
  for (const [i, s] of stats.entries()) {
    assert.ok(s.clockSteps > stepsBefore[i], `CPU ${s.cpu}: the step was not counted (clockSteps ${s.clockSteps})`);
    const sign = deltaNs > 0n ? 1n : -1n;
    assert.ok(s.lastClockStepNs * sign > 0n && (s.lastClockStepNs - deltaNs) * sign < 1_000_000_000n,
      `CPU ${s.cpu}: last step ${s.lastClockStepNs} ns for a step of ${deltaNs} ns`);
  }
  // the index is the new time's: index x interval is the wall clock now, within TCG's lateness
  const now = wallNs();
  for (const [cpu, b] of c.object.map('sync_timer_bitmap').lookupPerCpu(0)!.entries()) {
    if (!cpus.includes(cpu)) continue;
    const e = decodeBitmapEntry(b);
    const off = Number(now - e.tickIndex * INTERVAL) / 1e6;
    assert.ok(off >= -20 && off <= 200, `CPU ${cpu}: tick index ${e.tickIndex} is ${off.toFixed(1)} ms from the wall clock after the step`);
  }
  return { resumedMs, perWindow };
}

/** Reads the kernel's TAI - UTC offset, or sets it (adjtimex ADJ_TAI, through python3's ctypes). */
function taiOffset(set?: number): number {
  const py = `
import ctypes, sys
L = ctypes.c_long
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", L), ("freq", L), ("maxerror", L), ("esterror", L), ("status", ctypes.c_int),
                ("constant", L), ("precision", L), ("tolerance", L), ("sec", L), ("usec", L), ("tick", L), ("ppsfreq", L), ("jitter", L),
                ("shift", ctypes.c_int), ("stabil", L), ("jitcnt", L), ("calcnt", L), ("errcnt", L), ("stbcnt", L), ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]
t = Timex()
if len(sys.argv) > 1:
    t.modes = 0x80  # ADJ_TAI
    t.constant = int(sys.argv[1])
if ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(t)) < 0:
    sys.exit("adjtimex: errno %d" % ctypes.get_errno())
t2 = Timex()
ctypes.CDLL(None).adjtimex(ctypes.byref(t2))
print(t2.tai)
`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, ...(set === undefined ? [] : [String(set)])], { encoding: 'utf8' });
  assert.equal(r.status, 0, `adjtimex failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/**
 * The TAI - UTC suite of a guest kernel's bpf_timer mode: the kernel's TAI offset changes
 * while a realtime timer runs (as when chronyd first sets it), which the timer's TAI-based
 * conversion would see as a 37 s step; the periodic check corrects it, and the tick index
 * stays the wall clock's.
 */
export function taiChangeSuite(title: string, mode: TimerMode): void {
  describe(title, () => {
    it(`clock 'realtime' in ${mode} mode: a change of the kernel's TAI - UTC offset keeps the index on the wall clock`, async () => {
      const before = taiOffset();
      const logs: string[] = [];
      const timer = await SyncTimer.start(INTERVAL, { clock: 'realtime', mode, logger: (_l, m) => logs.push(m), watchCpusMs: 100 });
      let c: Consumer | undefined;
      try {
        c = rodataConsumer(timer);
        await sleep(300);
        assert.equal(taiOffset(before + 37), before + 37);
        await sleep(1500);
        assert.ok(logs.some((m) => new RegExp(`TAI - UTC offset is ${before + 37} s now \\(was ${before} s when armed\\)`).test(m)), logs.join(' | '));
        const now = wallNs();
        for (const [cpu, b] of c.object.map('sync_timer_bitmap').lookupPerCpu(0)!.entries()) {
          if (!timer.cpus.includes(cpu)) continue;
          const e = decodeBitmapEntry(b);
          const off = Number(now - e.tickIndex * INTERVAL) / 1e6;
          assert.ok(off >= -20 && off <= 200, `CPU ${cpu}: tick index ${e.tickIndex} is ${off.toFixed(1)} ms from the wall clock after the TAI change`);
        }
        const hits = c.hits();
        await sleep(500);
        const after = c.hits();
        for (const cpu of timer.cpus) assert.ok(after[cpu] - hits[cpu] >= 15n, `CPU ${cpu}: ${after[cpu] - hits[cpu]} ticks in 500 ms after the correction`);
      } finally {
        c?.close();
        timer.close();
        taiOffset(before);
      }
    });
  });
}

/**
 * The clock-step suite of a guest kernel: for each of `modes` ('auto' included), a realtime
 * grid survives the clock set forward by 1 h 3.3 ms and back by 2 h 7.7 ms.
 */
export function clockStepSuite(title: string, modes: Array<TimerMode | 'auto'>, expect: Partial<Record<TimerMode | 'auto', TimerMode>> = {}): void {
  describe(title, () => {
    for (const mode of modes) {
      it(`clock 'realtime' in ${mode} mode: a step forward and one back are counted, without a burst or a stall`, async () => {
        const start = wallNs();
        const mono0 = process.hrtime.bigint();
        const timer = await SyncTimer.start(INTERVAL, { clock: 'realtime', mode, logger: () => {}, watchCpusMs: false });
        let c: Consumer | undefined;
        try {
          if (expect[mode]) assert.equal(timer.mode, expect[mode]);
          assert.equal(timer.clock, 'realtime');
          c = rodataConsumer(timer);
          await sleep(500);
          const forward = await stepAndCheck(timer, c, 3_600_003_300_000n);
          const back = await stepAndCheck(timer, c, -7_200_007_700_000n);
          process.stdout.write(`# ${timer.mode}: resumed ${forward.resumedMs.toFixed(1)} ms after +1 h, ${back.resumedMs.toFixed(1)} ms after -2 h; ticks per CPU in the ${WINDOW_MS} ms after: ${forward.perWindow.join(',')} / ${back.perWindow.join(',')}\n`);
        } finally {
          c?.close();
          timer.close();
          setWallClock(start + (process.hrtime.bigint() - mono0));
        }
      });
    }
  });
}
