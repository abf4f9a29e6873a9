// Arming with mode fallback against a fake runner: no kernel needed.
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { armTimers, decodeInitRun, encodeInitArgs, type CpuArmResult, type TimerMode } from '../../src/modes';
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

describe('init program context', () => {
  it('encodes cpu and mode', () => {
    const b = encodeInitArgs(3, 'legacy');
    assert.equal(b.length, 32);
    assert.equal(b.readUInt32LE(0), 3);
    assert.equal(b.readUInt32LE(4), 2);
  });
  it('decodes success, program errors, pinning failures', () => {
    const ok = Buffer.alloc(32);
    ok.writeBigUInt64LE(123n, 16);
    assert.deepEqual(decodeInitRun({ cpu: 1, errno: 0, ranOn: 1, ctxOut: ok }, 'modern'), { cpu: 1, firstExpiryNs: 123n });
    const bad = Buffer.alloc(32);
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
