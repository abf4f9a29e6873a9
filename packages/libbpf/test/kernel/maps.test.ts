// Map element operations against real kernel maps: array, hash and per-CPU values.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { BpfArgumentError, BpfError, BpfObject, ClosedError, UpdateFlags, numPossibleCpus, possibleCpus, runOnCpus } from '../../src/index';
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

// lookupInto has the kernel write the caller's array: after a first call (checked, which
// binds the array) each call only checks that it gets the same array, still attached.
describe('lookupInto', () => {
  const filled = () => {
    const obj = BpfObject.open(fixture('basic')).load();
    const hash = obj.map('hash');
    for (let k = 0; k < 8; k++) hash.update(k, BigInt(k) * 11n);
    return { obj, hash };
  };
  const u64Of = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, 8).readBigUInt64LE(0);

  it('reads into the array given, with any key form and array kind, and leaves it unchanged on a miss', () => {
    const { obj, hash } = filled();
    using _ = obj;
    const a = Buffer.alloc(8);
    const b = new Uint8Array(8);
    for (let k = 0; k < 8; k++) {
      assert.equal(hash.lookupInto(k, a), true);
      assert.equal(a.readBigUInt64LE(0), BigInt(k) * 11n);
      assert.equal(hash.lookupInto(Buffer.from([k, 0, 0, 0]), b), true, 'a Buffer key, another array');
      assert.equal(u64Of(b), BigInt(k) * 11n);
      assert.equal(hash.lookupInto(BigInt(k), a), true, 'a bigint key');
      assert.equal(a.readBigUInt64LE(0), BigInt(k) * 11n);
    }
    a.fill(0xaa);
    assert.equal(hash.lookupInto(99, a), false);
    assert.deepEqual(a, Buffer.alloc(8, 0xaa), 'a miss writes nothing');
    hash.update(3, 333n);
    assert.equal(hash.lookupInto(3, a), true, 'an update is seen by the next lookup');
    assert.equal(a.readBigUInt64LE(0), 333n);
    assert.equal(obj.map('hash').lookupInto(4, a), true, 'another handle of the map');
    assert.equal(a.readBigUInt64LE(0), 44n);
  });

  it('writes only the bytes of the view: neighbours in its buffer and pool slices stay', () => {
    const { obj, hash } = filled();
    using _ = obj;
    const big = Buffer.alloc(24, 0x55);
    const mid = big.subarray(8, 16);
    for (let i = 0; i < 3; i++) assert.equal(hash.lookupInto(5, mid), true);
    assert.equal(mid.readBigUInt64LE(0), 55n);
    assert.deepEqual([...big.subarray(0, 8), ...big.subarray(16)], Array(16).fill(0x55));
    const pooled = Buffer.allocUnsafe(8); // a slice of Node's shared pool
    const after = Buffer.allocUnsafe(8).fill(0x77);
    for (let i = 0; i < 3; i++) assert.equal(hash.lookupInto(6, pooled), true);
    assert.equal(pooled.readBigUInt64LE(0), 66n);
    assert.deepEqual(after, Buffer.alloc(8, 0x77));
  });

  it('keeps reading into a small array that the garbage collector moves', () => {
    const { obj, hash } = filled();
    using _ = obj;
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const small = new Uint8Array(8); // small enough to start on the JS heap
    assert.equal(hash.lookupInto(1, small), true);
    for (let round = 0; round < 5; round++) {
      let junk: unknown[] = [];
      for (let i = 0; i < 20000; i++) junk.push({ i, s: `x${i}` });
      junk = [];
      gc();
      for (let k = 0; k < 8; k++) {
        assert.equal(hash.lookupInto(k, small), true);
        assert.equal(u64Of(small), BigInt(k) * 11n, `round ${round}, key ${k}`);
      }
    }
  });

  it('refuses an array detached or resized after it was bound, even one whose length lies', () => {
    const { obj, hash } = filled();
    using _ = obj;
    const ab = new ArrayBuffer(8);
    const out = new Uint8Array(ab);
    assert.equal(hash.lookupInto(1, out), true);
    structuredClone(ab, { transfer: [ab] });
    assert.throws(() => hash.lookupInto(1, out), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'out' && /got 0 bytes/.test(e.message));

    class Lying extends Uint8Array { override get length(): number { return 8; } }
    const ab2 = new ArrayBuffer(8);
    const lying = new Lying(ab2);
    assert.equal(hash.lookupInto(2, lying), true);
    assert.equal(u64Of(lying), 22n);
    structuredClone(ab2, { transfer: [ab2] });
    assert.equal(lying.length, 8, 'the subclass still claims 8 bytes');
    assert.throws(() => hash.lookupInto(2, lying), (e: unknown) => e instanceof BpfArgumentError && /got 0 bytes/.test(e.message));

    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(8, { maxByteLength: 16 });
    const tracking = new Uint8Array(rab);
    assert.equal(hash.lookupInto(3, tracking), true);
    rab.resize(4);
    assert.throws(() => hash.lookupInto(3, tracking), (e: unknown) => e instanceof BpfArgumentError && /got 4 bytes/.test(e.message));
    rab.resize(8);
    assert.equal(hash.lookupInto(3, tracking), true);
    assert.equal(u64Of(tracking), 33n);
    assert.throws(() => hash.lookupInto(3, Buffer.alloc(9)), (e: unknown) => e instanceof BpfArgumentError && /got 9 bytes/.test(e.message));
    assert.equal(hash.lookupInto(4, Buffer.alloc(8)), true, 'a new array after a refusal');
  });

  it('a closed object refuses it with a ClosedError, from the first moment of closeAsync too', async () => {
    for (const close of ['close', 'closeAsync'] as const) {
      const { obj, hash } = filled();
      const out = Buffer.alloc(8);
      assert.equal(hash.lookupInto(1, out), true);
      const closing = close === 'close' ? obj.close() : obj.closeAsync();
      assert.throws(() => hash.lookupInto(1, out), ClosedError, close);
      await closing;
      assert.throws(() => hash.lookupInto(1, out), ClosedError, close);
    }
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
