// runOnCpus: each run on a native thread pinned to its CPU, proven by the program itself
// returning bpf_get_smp_processor_id().
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfError, BpfObject, allowedCpus, checkCpuRuns, numPossibleCpus, onlineCpus, possibleCpus, runOnCpus } from '../../src/index';
import { args, fixture, pinnableCpus, readArgs, requireRoot } from './helpers';

requireRoot();

describe('runOnCpus', () => {
  it('runs once on every CPU asked for: the program returns the CPU it ran on', async () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const cpus = pinnableCpus();
    const runs = await runOnCpus(obj.program('whoami'), cpus);
    assert.deepEqual(runs.map((r) => ({ cpu: r.cpu, retval: r.retval, ranOn: r.ranOn, errno: r.errno })),
      cpus.map((cpu) => ({ cpu, retval: cpu, ranOn: cpu, errno: 0 })));
    assert.equal(checkCpuRuns(runs), runs);
  });

  it('runs a single CPU, in any order asked', async () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const cpus = [...pinnableCpus()].reverse();
    const runs = await runOnCpus(obj.program('whoami'), cpus);
    assert.deepEqual(runs.map((r) => r.retval), cpus);
    const last = cpus.at(-1)!;
    const [one] = await runOnCpus(obj.program('whoami'), [last]);
    assert.equal(one.retval, last);
  });

  it('gives each run its own copy of the context back', async () => {
    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('multiplier', 3);
    using obj = open.load();
    const ctx = args(14n);
    const runs = await runOnCpus(obj.program('times_multiplier'), pinnableCpus(), ctx);
    for (const r of runs) {
      assert.equal(r.retval, 3);
      assert.deepEqual(readArgs(r.ctxOut), [14n, 42n]);
    }
    assert.deepEqual(readArgs(ctx), [14n, 0n], 'the caller\'s buffer is not written');
  });

  it('leaves the JS thread\'s CPU affinity as it was', async () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const before = allowedCpus();
    await runOnCpus(obj.program('whoami'), pinnableCpus());
    assert.deepEqual(allowedCpus(), before);
  });

  it('rejects CPUs that are not possible, duplicates, and an empty list before running anything', async () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const p = obj.program('whoami');
    await assert.rejects(runOnCpus(p, [numPossibleCpus()]), { name: 'BpfArgumentError', argument: 'cpus' });
    await assert.rejects(runOnCpus(p, [0, 0]), /lists a CPU twice/);
    await assert.rejects(runOnCpus(p, []), /non-empty array/);
    await assert.rejects(runOnCpus(p, [0], undefined, { ctxOutSize: 8 }), { argument: 'ctxOutSize' });
  });

  it('knows the CPU sets: online within possible, and the per-CPU value count', () => {
    const possible = possibleCpus();
    for (const c of onlineCpus()) assert.ok(possible.includes(c));
    assert.equal(numPossibleCpus(), possible.at(-1)! + 1);
    assert.ok(allowedCpus().every((c) => possible.includes(c)));
  });

  it('checkCpuRuns raises the first failed run as a BpfError', () => {
    assert.throws(() => checkCpuRuns([{ cpu: 1, retval: 0, errno: 11, ctxOut: null, ranOn: 0 }]), (e: unknown) =>
      e instanceof BpfError && e.code === 'EAGAIN' && e.op === 'run on CPU 1');
  });
});
