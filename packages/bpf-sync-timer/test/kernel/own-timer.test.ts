// DEFINE_SYNC_TIMER in a user's own object, armed by initSyncTimerProgram.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BpfObject, numPossibleCpus } from '@bpf-sync-timer/libbpf';
import { initSyncTimerProgram, SyncTimerError } from '../../src/index';
import { assertWithin, fixture, requireRoot, window } from './helpers';

describe('initSyncTimerProgram', () => {
  it('a DEFINE_SYNC_TIMER program ticks at its interval on every CPU', async () => {
    requireRoot();
    const interval = 2_000_000;
    const open = BpfObject.open(fixture('own_timer'));
    open.rodata.set('own_interval_ns', BigInt(interval));
    open.map('sync_timer_states_own').setMaxEntries(numPossibleCpus());
    const obj = open.load();
    try {
      const t = await initSyncTimerProgram(obj.program('sync_timer_init_own'), { statesMap: obj.map('sync_timer_states_own') });
      assert.equal(t.mode, 'modern');
      const ticks = () => obj.map('own_ticks').lookupPerCpu(0)!.map((b) => b.readBigUInt64LE(0));
      // 3 s: one scheduling stall of this shared VM (tens of ms of skipped grid points)
      // stays well inside the 2% tolerance.
      const w = await window(ticks, 3000);
      const expected = Number(w.elapsedNs) / interval;
      for (const cpu of t.cpus) assertWithin(w.after[cpu] - w.before[cpu], expected, 0.02, `CPU ${cpu} callback runs (timer stats: ${JSON.stringify(t.stats().map((s) => ({ cpu: s.cpu, missed: String(s.missed) })))})`);
      const last = obj.map('own_last_index').lookupPerCpu(0)!.map((b) => b.readBigUInt64LE(0));
      const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, like the timer
      for (const cpu of t.cpus) {
        const lag = now / BigInt(interval) - last[cpu];
        assert.ok(lag >= 0n && lag < 5n, `CPU ${cpu}: last tick index ${last[cpu]} is ${lag} intervals behind now`);
      }
      const stats = t.stats();
      assert.deepEqual(stats.map((s) => s.cpu), [...t.cpus]);
      for (const s of stats) assert.ok(s.ticks > 0n && s.rearmFailures === 0n && s.wrongCpu === 0n);
    } finally {
      obj.close();
    }
  });

  it('rejects something that is not a program with INVALID_OPTION', async () => {
    await assert.rejects(initSyncTimerProgram({} as never), (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_OPTION');
  });
});
