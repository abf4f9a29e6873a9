// Arming with mode fallback against a fake runner: no kernel needed.
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { armTimers, bpfTimerModesFor, decodeInitRun, encodeInitArgs, modeSupportsClock, type CpuArmResult, type TimerMode } from '../../src/modes';
import { sync_timer_init_args, sync_timer_init_error } from '../../src/abi';
import { SyncTimerError } from '../../src/errors';

const EINVAL = constants.errno.EINVAL;
const unsupported = (cpu: number): CpuArmResult => ({ cpu, error: new SyncTimerError('TIMER_START_FAILED', 'x', { cpu, errno: EINVAL }) });

/** A fake kernel that accepts `accepted` modes; `fail` maps CPU -> error code for accepted modes. */
function fakeKernel(accepted: TimerMode[], fail: Record<number, 'TIMER_INIT_FAILED' | 'MAP_UPDATE_FAILED'> = {}) {
  const calls: Array<[TimerMode, number[]]> = [];
  const run = async (cpus: number[], mode: TimerMode) => {
    calls.push([mode, cpus]);
    return cpus.map((cpu) => {
      if (!accepted.includes(mode)) return unsupported(cpu);
      if (fail[cpu]) return { cpu, error: new SyncTimerError(fail[cpu], `cpu ${cpu}`, { cpu }) };
      return { cpu, firstExpiryNs: 1000n };
    });
  };
  return { run, calls };
}

const wrapped: TimerMode[] = [];
const wrap = <T>(mode: TimerMode, fn: () => Promise<T>) => {
  wrapped.push(mode);
  return fn();
};

describe('armTimers', () => {
  it('arms every CPU in one round per mode and falls back modern -> intermediate -> legacy', async () => {
    const k = fakeKernel(['legacy']);
    const out = await armTimers(k.run, [0, 1, 2, 3], 'auto', wrap, () => {});
    assert.equal(out.mode, 'legacy');
    assert.match(out.reason, /rejected modern and intermediate/);
    assert.deepEqual(k.calls, [['modern', [0, 1, 2, 3]], ['intermediate', [0, 1, 2, 3]], ['legacy', [0, 1, 2, 3]]]);
    assert.deepEqual(out.results.map((r) => r.cpu), [0, 1, 2, 3]);
  });

  it('uses modern directly, in a single round, when the kernel accepts it', async () => {
    const k = fakeKernel(['modern', 'intermediate', 'legacy']);
    const out = await armTimers(k.run, [0, 1], 'auto', wrap, () => {});
    assert.equal(out.mode, 'modern');
    assert.deepEqual(k.calls, [['modern', [0, 1]]]);
  });

  it('the first CPU decides a mode is missing; the next mode re-arms the CPUs that took it', async () => {
    // a kernel cannot accept a mode on one CPU and reject it on another, but the outcome stays defined
    const calls: Array<[TimerMode, number[]]> = [];
    const run = async (cpus: number[], mode: TimerMode) => {
      calls.push([mode, cpus]);
      return cpus.map((cpu): CpuArmResult => (mode === 'modern' && cpu === 0 ? unsupported(cpu) : { cpu, firstExpiryNs: 1000n }));
    };
    const out = await armTimers(run, [0, 1], 'auto', wrap, () => {});
    assert.equal(out.mode, 'intermediate');
    assert.deepEqual(calls, [['modern', [0, 1]], ['intermediate', [0, 1]]]);
  });

  it('a forced mode the kernel lacks is MODE_UNSUPPORTED, with no fallback', async () => {
    const k = fakeKernel(['legacy']);
    await assert.rejects(armTimers(k.run, [0, 1], 'modern', wrap, () => {}), (e: unknown) => e instanceof SyncTimerError && e.code === 'MODE_UNSUPPORTED' && /6\.7/.test(e.message));
    assert.equal(k.calls.length, 1);
  });

  it('no accepted mode is ALL_MODES_FAILED with each mode\'s cause', async () => {
    const k = fakeKernel([]);
    await assert.rejects(armTimers(k.run, [0], 'auto', wrap, () => {}), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'ALL_MODES_FAILED' && Object.keys(e.modes!).join() === 'modern,intermediate,legacy');
  });

  it('one failing CPU gives its own code and CPU; several give MULTIPLE_FAILURES', async () => {
    await assert.rejects(armTimers(fakeKernel(['modern'], { 2: 'TIMER_INIT_FAILED' }).run, [0, 1, 2], 'auto', wrap, () => {}),
      (e: unknown) => e instanceof SyncTimerError && e.code === 'TIMER_INIT_FAILED' && e.cpu === 2);
    await assert.rejects(armTimers(fakeKernel(['modern'], { 1: 'TIMER_INIT_FAILED', 2: 'MAP_UPDATE_FAILED' }).run, [0, 1, 2], 'auto', wrap, () => {}),
      (e: unknown) => e instanceof SyncTimerError && e.code === 'MULTIPLE_FAILURES' && e.cpus!.join() === '1,2' && e.failures!.length === 2 && /on 2 of 3 CPUs/.test(e.message));
  });

  it('a failure on the first CPU that is not EINVAL is reported, not treated as a missing mode', async () => {
    const k = fakeKernel(['modern'], { 0: 'MAP_UPDATE_FAILED' });
    await assert.rejects(armTimers(k.run, [0, 1], 'auto', wrap, () => {}), (e: unknown) => e instanceof SyncTimerError && e.code === 'MAP_UPDATE_FAILED');
    assert.equal(k.calls.length, 1);
  });
});

describe('armTimers on a realtime grid', () => {
  it("auto probes modern then intermediate, never legacy, and says ALL_MODES_FAILED naming 6.4 when neither is accepted", async () => {
    const k = fakeKernel(['legacy']);
    await assert.rejects(armTimers(k.run, [0, 1], 'auto', wrap, () => {}, 'realtime'), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'ALL_MODES_FAILED' && /CLOCK_REALTIME grid/.test(e.message) && /6\.4/.test(e.message));
    assert.deepEqual(k.calls.map(([m]) => m), ['modern', 'intermediate']);
  });
  it('auto takes intermediate where modern is rejected', async () => {
    const k = fakeKernel(['intermediate', 'legacy']);
    const out = await armTimers(k.run, [0, 1], 'auto', wrap, () => {}, 'realtime');
    assert.equal(out.mode, 'intermediate');
    assert.deepEqual(k.calls, [['modern', [0, 1]], ['intermediate', [0, 1]]]);
  });
  it('a forced legacy mode is CLOCK_UNSUPPORTED without a run', async () => {
    const k = fakeKernel(['legacy']);
    await assert.rejects(armTimers(k.run, [0], 'legacy', wrap, () => {}, 'realtime'), (e: unknown) => e instanceof SyncTimerError && e.code === 'CLOCK_UNSUPPORTED');
    assert.deepEqual(k.calls, []);
  });
  it('knows which modes keep a realtime grid', () => {
    assert.deepEqual(['modern', 'intermediate', 'legacy', 'thread'].filter((m) => modeSupportsClock(m as TimerMode, 'realtime')), ['modern', 'intermediate', 'thread']);
    assert.deepEqual(bpfTimerModesFor('monotonic'), ['modern', 'intermediate', 'legacy']);
    assert.deepEqual(bpfTimerModesFor('realtime'), ['modern', 'intermediate']);
  });
});

describe('init program context', () => {
  const size = sync_timer_init_args.size;
  it('encodes cpu, mode and clock; the wall clock only for a realtime grid', () => {
    const b = encodeInitArgs(3, 'legacy');
    assert.equal(b.length, size);
    assert.equal(b.readUInt32LE(0), 3);
    assert.equal(b.readUInt32LE(4), 2);
    const m = sync_timer_init_args.decode(b);
    assert.equal(m.clock, 0);
    assert.equal(m.realtime_ns, 0n);
    const r = sync_timer_init_args.decode(encodeInitArgs(1, 'modern', 'realtime', () => 1_700_000_000_123_456_789n));
    assert.equal(r.clock, 1);
    assert.equal(r.realtime_ns, 1_700_000_000_123_456_789n);
  });
  it('decodes success, program errors, pinning failures', () => {
    const ok = Buffer.alloc(size);
    ok.writeBigUInt64LE(123n, 16);
    assert.deepEqual(decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: ok }, 'modern'), { cpu: 1, firstExpiryNs: 123n, firstIndex: 0n });
    const refused = Buffer.from(ok);
    refused.writeInt32LE(sync_timer_init_error.SYNC_TIMER_CLOCK_UNSUPPORTED, 8);
    const legacy = decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: refused }, 'legacy');
    assert.equal(legacy.error?.code, 'CLOCK_UNSUPPORTED');
    assert.match(legacy.error!.message, /legacy mode cannot align ticks to CLOCK_REALTIME/);
    assert.match(decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: refused }, 'modern').error!.message, /without SYNC_TIMER_REALTIME_ENABLED/);
    const bad = Buffer.alloc(size);
    bad.writeInt32LE(5, 8);
    bad.writeInt32LE(-EINVAL, 12);
    const r = decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: bad }, 'modern');
    assert.equal(r.error?.code, 'TIMER_START_FAILED');
    assert.equal(r.error?.errno, EINVAL);
    bad.writeInt32LE(6, 8);
    assert.equal(decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: bad }, 'modern').error?.code, 'WRONG_CPU');
    bad.writeInt32LE(42, 8);
    assert.equal(decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: bad }, 'modern').error?.code, 'UNKNOWN_BPF_ERROR');
    assert.equal(decodeInitRun({ cpu: 1, errno: constants.errno.EAGAIN, ranOn: 0, ctxOut: null }, 'modern').error?.code, 'CPU_PIN_FAILED');
    assert.equal(decodeInitRun({ cpu: 1, errno: EINVAL, ranOn: -1, ctxOut: null }, 'modern').error?.code, 'AFFINITY_FAILED');
    assert.equal(decodeInitRun({ cpu: 1, errno: constants.errno.EPERM, ranOn: 1, ctxOut: null }, 'modern').error?.code, 'BPF_PROGRAM_FAILED');
  });
});
