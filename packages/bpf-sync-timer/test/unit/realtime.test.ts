// The realtime grid's TAI - UTC upkeep against fake maps and programs: which CPUs need a
// correction, and that one is applied only when two checks agree and the CPU ticked between.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BpfMap, BpfProgram } from '@bpf-sync-timer/libbpf';
import { sync_timer_state, sync_timer_tai_update } from '../../src/abi';
import { TaiOffsetKeeper, taiCorrections, type RealtimeState } from '../../src/realtime';

const S = 1_000_000_000n;
const USER = 1_700_000_000n * S; // realtime - monotonic as user space reads it

const state = (cpu: number, taiOffsetS: number, realtimeOffsetNs: bigint, lastFiredNs = 1n): RealtimeState => ({ cpu, taiOffsetS, realtimeOffsetNs, lastFiredNs });

describe('taiCorrections', () => {
  it('corrects whole seconds only, in either direction, and leaves reading noise alone', () => {
    assert.deepEqual(taiCorrections([
      state(0, 0, USER + 37n * S + 300_000n), // chronyd set TAI - UTC to 37 after arming
      state(1, 37, USER - S - 2_000_000n),    // a leap second the other way
      state(2, 37, USER + 400_000_000n),      // under half a second: no TAI change
      state(3, 37, USER),
    ], USER), [{ cpu: 0, from: 0, to: 37 }, { cpu: 1, from: 37, to: 36 }]);
  });
});

/** A states map and TAI program of fakes; `cpus` maps cpu -> the state's fields. */
function fakeTimer(cpus: Map<number, { tai: number; offset: bigint; fired: bigint }>) {
  const runs: Array<{ cpu: number; tai_offset_s: number }> = [];
  const map = {
    lookup(cpu: number) {
      const c = cpus.get(cpu);
      if (!c) return undefined;
      const v = sync_timer_state.decode(new Uint8Array(sync_timer_state.size));
      return sync_timer_state.encode({ ...v, ticks: 5n, tai_offset_s: c.tai, realtime_offset_ns: c.offset, last_fired_ns: c.fired }, new Uint8Array(sync_timer_state.size));
    },
  } as unknown as BpfMap;
  const program = {
    testRun({ ctxIn }: { ctxIn: Buffer }) {
      const u = sync_timer_tai_update.decode(ctxIn);
      runs.push(u);
      cpus.get(u.cpu)!.tai = u.tai_offset_s;
      return { retval: 0, durationNs: 0, ctxOut: ctxIn, dataOut: null };
    },
  } as unknown as BpfProgram;
  return { map, program, runs };
}

describe('TaiOffsetKeeper', () => {
  it('applies a correction found twice with a tick in between, and not a lag right after a clock step', () => {
    const cpus = new Map([[0, { tai: 0, offset: USER + 37n * S, fired: 10n }], [1, { tai: 0, offset: USER, fired: 10n }]]);
    const t = fakeTimer(cpus);
    const logs: string[] = [];
    const keeper = new TaiOffsetKeeper(() => t.map, () => t.program, (m) => logs.push(m), () => USER);
    assert.deepEqual(keeper.check([0, 1]), [], 'first sighting: wait');
    assert.deepEqual(keeper.check([0, 1]), [], 'no tick since: still the same reading, wait');
    cpus.get(0)!.fired = 20n;
    assert.deepEqual(keeper.check([0, 1]), [{ cpu: 0, from: 0, to: 37 }]);
    assert.deepEqual(t.runs, [{ cpu: 0, tai_offset_s: 37 }]);
    assert.match(logs[0], /CPU 0: the kernel's TAI - UTC offset is 37 s now \(was 0 s when armed\)/);
    cpus.get(0)!.offset = USER; // what the CPU's next tick computes with the new offset
    // a clock step the timer has not taken yet shows once, then is gone: never applied
    cpus.get(1)!.offset = USER + 3600n * S;
    assert.deepEqual(keeper.check([0, 1]), []);
    cpus.get(1)!.offset = USER;
    cpus.get(1)!.fired = 30n;
    assert.deepEqual(keeper.check([0, 1]), []);
    assert.equal(t.runs.length, 1);
  });
});
