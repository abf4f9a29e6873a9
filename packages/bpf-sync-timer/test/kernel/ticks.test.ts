// Seed-style consumers count real ticks: rate per CPU, CPU match, tick index continuity.
import * as assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { SyncTimer } from '../../src/index';
import { assertWithin, bssConsumer, rodataConsumer, requireRoot, sleep, type Consumer } from './helpers';

const WINDOW_MS = 2000;
const TOLERANCE = 0.02; // the issue's ±2%

/**
 * One window; a second one only when the first fell short of the rate while the timer itself
 * counted skipped grid points on that CPU (its callback ran more than an interval late: on this
 * VM, the host holding the vCPU). Every other failure, and a short rate without counted misses
 * (a delivery bug), fails at once. When the host holds the timer in the second window too, the
 * grid can no longer be the measure: every grid point must then be a tick or a counted miss,
 * and the subscriber must have taken the timer's ticks (read after close, so by identity).
 */
async function measure(intervalNs: number, make: (t: SyncTimer) => Consumer, t: TestContext): Promise<void> {
  try {
    await measureOnce(intervalNs, make);
  } catch (e) {
    if (!(e instanceof HostHeldTimer)) throw e;
    t.diagnostic(`first window: ${e.message}; measuring a second window`);
    await measureOnce(intervalNs, make, (m) => t.diagnostic(`second window: ${m}; held to the timer's own ticks`));
  }
}

class HostHeldTimer extends Error {}

async function measureOnce(intervalNs: number, make: (t: SyncTimer) => Consumer, hostHeld?: (message: string) => void): Promise<void> {
  requireRoot();
  const timer = await SyncTimer.start(intervalNs);
  const c = make(timer);
  try {
    const cpus = [...timer.cpus];
    // Timer stats first, then the consumer: a tick landing between the two reads can
    // only make ticks - hits larger, never hide an unseen tick. The final read happens
    // after close(), so nothing moves while it is taken (the consumer keeps the bitmap map).
    const before = { s: timer.stats(), c: c.read() };
    const t0 = process.hrtime.bigint();
    await sleep(WINDOW_MS);
    const s = timer.stats();
    timer.close();
    const w = { before, after: { s, c: c.read() }, elapsedNs: process.hrtime.bigint() - t0 };
    const expected = Number(w.elapsedNs) / intervalNs;
    for (const [i, cpu] of cpus.entries()) {
      const hits = w.after.c.hits[cpu] - w.before.c.hits[cpu];
      const ticks = w.after.s[i].ticks - w.before.s[i].ticks;
      const missed = w.after.s[i].missed - w.before.s[i].missed;
      try {
        assertWithin(hits, expected, TOLERANCE, `CPU ${cpu} subscriber hits at ${intervalNs} ns`);
        assertWithin(ticks, expected, TOLERANCE, `CPU ${cpu} timer callbacks at ${intervalNs} ns`);
      } catch (e) {
        // Every grid point must still be accounted for: a tick or a counted miss.
        if (missed > 0n && Math.abs(Number(ticks + missed) - expected) / expected <= TOLERANCE) {
          const message = `${(e as Error).message}, with ${missed} grid points the timer counted as missed`;
          if (!hostHeld) throw new HostHeldTimer(message);
          hostHeld(message);
          assertWithin(hits, Number(ticks), TOLERANCE, `CPU ${cpu} subscriber hits against the ${ticks} ticks the timer fired`);
        } else {
          throw e;
        }
      }
      assert.equal(w.after.c.migrations[cpu], 0n, `CPU ${cpu}: expected_cpu differed from the current CPU`);
      assert.equal(w.after.c.badNominal[cpu], 0n, `CPU ${cpu}: a tick's nominal time was off the interval grid`);
      // A tick index jumps only over grid points the timer skipped (missed) or ticks this
      // subscriber did not run for (ticks - hits: see README, "Known limits"), plus one: a
      // tick unseen just before the window shows as a gap inside it. (The read order above
      // keeps ticks - hits from undercounting.)
      const gaps = w.after.c.indexGaps[cpu] - w.before.c.indexGaps[cpu];
      const unseen = ticks > hits ? ticks - hits : 0n;
      assert.ok(gaps <= missed + unseen + 1n, `CPU ${cpu}: ${gaps} tick index gaps but only ${missed} missed and ${unseen} unseen ticks`);
      assert.equal(w.after.s[i].wrongCpu, 0n, `CPU ${cpu}: timer callback ran on another CPU`);
      assert.equal(w.after.s[i].rearmFailures, 0n, `CPU ${cpu}: re-arm failures`);
    }
  } finally {
    c.close();
    timer.close();
  }
}

describe('ticks reach seed-style consumers on every armed CPU', () => {
  it('seed 000 (rodata id, borrowedMapFd) at 1 ms: 2,000 ticks per CPU in 2 s ±2%', (t) => measure(1_000_000, rodataConsumer, t));
  it('seed 001 (bss id after load, duplicateMapFd) at 1 ms', (t) => measure(1_000_000, bssConsumer, t));
  it('seed 000 at 10 ms', (t) => measure(10_000_000, rodataConsumer, t));
  it('seed 001 at 10 ms', (t) => measure(10_000_000, bssConsumer, t));
  it('seed 000 at 100 µs', (t) => measure(100_000, rodataConsumer, t));
  it('seed 001 at 100 µs', (t) => measure(100_000, bssConsumer, t));
});
