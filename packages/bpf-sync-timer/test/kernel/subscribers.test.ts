// 64 subscribers share one timer; ids run out at 65 and come back with releaseId.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncTimer, SyncTimerError } from '../../src/index';
import { assertWithin, rodataConsumer, requireRoot, window, type Consumer } from './helpers';

describe('64 subscribers', () => {
  it('each of 64 subscribers sees every tick; the 65th id throws IDS_EXHAUSTED; releaseId frees one', async () => {
    requireRoot();
    const interval = 2_000_000;
    const timer = await SyncTimer.start(interval);
    const consumers: Consumer[] = [];
    try {
      for (let i = 0; i < 64; i++) consumers.push(rodataConsumer(timer));
      assert.deepEqual(consumers.map((c) => c.id), Array.from({ length: 64 }, (_, i) => i));
      assert.throws(() => timer.assignId(), (e: unknown) => e instanceof SyncTimerError && e.code === 'IDS_EXHAUSTED');

      const w = await window(() => ({ hits: consumers.map((c) => c.read().hits), stats: timer.stats() }), 1500);
      const expected = Number(w.elapsedNs) / interval;
      for (const [i, cpu] of timer.cpus.entries()) {
        const ticks = w.after.stats[i].ticks - w.before.stats[i].ticks;
        assertWithin(ticks, expected, 0.02, `CPU ${cpu} timer ticks`);
        for (const [k, c] of consumers.entries()) {
          const hits = w.after.hits[k][cpu] - w.before.hits[k][cpu];
          // every subscriber runs on the same hrtimer_expire_exit events: they see the same ticks
          assertWithin(hits, Number(ticks), 0.01, `CPU ${cpu} subscriber ${c.id} hits vs timer ticks`);
        }
      }

      timer.releaseId(5);
      assert.equal(timer.assignId(), 5);
      assert.throws(() => timer.assignId(), (e: unknown) => e instanceof SyncTimerError && e.code === 'IDS_EXHAUSTED');
    } finally {
      for (const c of consumers) c.close();
      timer.close();
    }
  });
});
