// Map element operations against real kernel maps: array, hash and per-CPU values.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfArgumentError, BpfError, BpfObject, UpdateFlags, numPossibleCpus, possibleCpus, runOnCpus } from '../../src/index';
import { fixture, pinnableCpus, requireRoot, u64 } from './helpers';

requireRoot();

describe('array and hash maps', () => {
  it('update, lookup and delete with integer or Buffer keys and values', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const hash = obj.map('hash');
    assert.equal(hash.lookup(5), undefined);
    hash.update(5, 500n);
    hash.update(Buffer.from([6, 0, 0, 0]), u64(600n));
    assert.deepEqual(hash.lookup(5), u64(500n));
    assert.deepEqual(hash.lookup(6), u64(600n));
    assert.equal(hash.delete(5), true);
    assert.equal(hash.delete(5), false);
    assert.equal(hash.lookup(5), undefined);
  });

  it('iterates keys and entries', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const hash = obj.map('hash');
    for (let k = 10; k < 15; k++) hash.update(k, BigInt(k * 100));
    const keys = [...hash.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b);
    assert.deepEqual(keys, [10, 11, 12, 13, 14]);
    const entries = new Map([...hash.entries()].map(([k, v]) => [k.readUInt32LE(0), (v as Buffer).readBigUInt64LE(0)]));
    assert.deepEqual([...entries].sort((a, b) => a[0] - b[0]), [[10, 1000n], [11, 1100n], [12, 1200n], [13, 1300n], [14, 1400n]]);
  });

  it('NOEXIST and EXIST fail with EEXIST and ENOENT', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const hash = obj.map('hash');
    assert.throws(() => hash.update(1, 1n, UpdateFlags.EXIST), (e: unknown) =>
      e instanceof BpfError && e.op === 'bpf_map_update_elem' && e.code === 'ENOENT' && e.errno === 2);
    hash.update(1, 1n, UpdateFlags.NOEXIST);
    assert.throws(() => hash.update(1, 2n, UpdateFlags.NOEXIST), (e: unknown) =>
      e instanceof BpfError && e.code === 'EEXIST' && e.hint === 'the key exists and NOEXIST was given.');
    hash.update(1, 3n, UpdateFlags.EXIST);
    assert.deepEqual(hash.lookup(1), u64(3n));
    assert.throws(() => hash.update(1, 3n, 99), BpfArgumentError);
  });

  it('a full hash map and a key past an array\'s end fail with E2BIG and its hint', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const hash = obj.map('hash');
    for (let k = 0; k < 128; k++) hash.update(k, 1n);
    assert.throws(() => hash.update(128, 1n), (e: unknown) => e instanceof BpfError && e.code === 'E2BIG' && /map is full/.test(e.hint ?? ''));
    assert.throws(() => obj.map('shared').update(1, 1n), (e: unknown) => e instanceof BpfError && e.code === 'E2BIG');
    assert.equal(obj.map('shared').lookup(1), undefined, 'an array lookup past the end is "no such key"');
  });

  it('checks key and value sizes before the syscall', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    assert.throws(() => obj.map('hash').lookup(Buffer.alloc(8)), { name: 'BpfArgumentError', argument: 'key' });
    assert.throws(() => obj.map('hash').update(1, Buffer.alloc(4)), { name: 'BpfArgumentError', argument: 'value' });
  });
});

describe('per-CPU maps', () => {
  it('hold one value per possible CPU, written and read per CPU', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const percpu = obj.map('percpu');
    const n = numPossibleCpus();
    assert.equal(n, possibleCpus().at(-1)! + 1);
    percpu.updatePerCpu(0, Array.from({ length: n }, (_, cpu) => BigInt(1000 + cpu)));
    const values = percpu.lookupPerCpu(0);
    assert.ok(values);
    assert.deepEqual(values.map((v) => v.readBigUInt64LE(0)), Array.from({ length: n }, (_, cpu) => BigInt(1000 + cpu)));
    const [[key, perCpu]] = [...percpu.entries()];
    assert.equal(key.readUInt32LE(0), 0);
    assert.equal((perCpu as Buffer[]).length, n);
  });

  it('show what a program wrote on each CPU, and only there', async () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const percpu = obj.map('percpu');
    const n = numPossibleCpus();
    percpu.updatePerCpu(0, Array.from({ length: n }, () => 0n));
    const cpus = pinnableCpus();
    const runs = await runOnCpus(obj.program('whoami'), cpus);
    assert.deepEqual(runs.map((r) => r.errno), cpus.map(() => 0));
    const marks = percpu.lookupPerCpu(0)!.map((v) => v.readBigUInt64LE(0));
    // whoami leaves cpu * 100 + 7 in its CPU's slot; CPUs it did not run on keep 0.
    assert.deepEqual(marks, Array.from({ length: n }, (_, cpu) => (cpus.includes(cpu) ? BigInt(cpu * 100 + 7) : 0n)));
  });

  it('refuse the single-value calls and a wrong number of values', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    assert.throws(() => obj.map('percpu').lookup(0), /is per-CPU: use lookupPerCpu/);
    assert.throws(() => obj.map('percpu').update(0, 1n), /is per-CPU: use updatePerCpu/);
    assert.throws(() => obj.map('percpu').updatePerCpu(0, Array(numPossibleCpus() + 1).fill(1n)), /one value per possible CPU/);
    assert.throws(() => obj.map('hash').lookupPerCpu(0), /is not per-CPU/);
  });
});
