// Batch map operations against real kernel maps (Linux 5.6): hash and array maps, per-CPU
// layouts, partial batches with a cursor, deletes seen by lookups, and typed refusals.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  BatchCursor, BatchError, BpfArgumentError, BpfObject, Btf, ClosedError, MapBatch, PerCpuTypedMap, TypedMap, UpdateFlags,
  btfCodec, numPossibleCpus,
} from '../../src/index';
import { fixture, requireRoot } from './helpers';

requireRoot();

const open = () => BpfObject.open(fixture('maps')).load();

/** A batch as a Map of u32 key -> u64 value. */
function u64Entries(b: MapBatch): Map<number, bigint> {
  return new Map([...b].map(([k, v]) => [k.readUInt32LE(0), (v as Buffer).readBigUInt64LE(0)]));
}

describe('lookupBatch', () => {
  it('reads a whole hash map in one call, keys and values contiguous', () => {
    using obj = open();
    const hash = obj.map('hash');
    for (let k = 0; k < 1000; k++) hash.update(k, BigInt(k) * 7n);
    const b = hash.lookupBatch();
    assert.equal(b.count, 1000);
    assert.equal(b.keys.length, 1000 * 4);
    assert.equal(b.values.length, 1000 * 8);
    const got = u64Entries(b);
    assert.equal(got.size, 1000);
    for (let k = 0; k < 1000; k++) assert.equal(got.get(k), BigInt(k) * 7n);
    assert.deepEqual(b.key(0), b.keys.subarray(0, 4));
  });

  it('reads an array map, every index, in order', () => {
    using obj = open();
    const array = obj.map('array');
    for (let k = 0; k < 64; k += 3) array.update(k, BigInt(k) + 100n);
    const b = array.lookupBatch();
    assert.equal(b.count, 64);
    assert.deepEqual([...u64Entries(b).keys()], Array.from({ length: 64 }, (_, k) => k));
    assert.deepEqual([...u64Entries(b)].filter(([, v]) => v !== 0n), Array.from({ length: 22 }, (_, i) => [i * 3, BigInt(i * 3) + 100n]));
  });

  it('reads in partial batches with a cursor, each entry once, then says done', () => {
    using obj = open();
    for (const name of ['hash', 'array']) {
      const map = obj.map(name);
      const n = name === 'hash' ? 300 : 64;
      for (let k = 0; k < n; k++) map.update(k, BigInt(k));
      const cursor = new BatchCursor();
      const seen: number[] = [];
      let calls = 0;
      while (!cursor.done) {
        const b = map.lookupBatch({ cursor, maxCount: 50 });
        assert.ok(b.count <= 50, `${name}: a batch of ${b.count} > maxCount`);
        for (const [k, v] of b) {
          assert.equal((v as Buffer).readBigUInt64LE(0), BigInt(k.readUInt32LE(0)));
          seen.push(k.readUInt32LE(0));
        }
        assert.ok(++calls < 100, `${name}: the cursor never reached the end`);
      }
      assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: n }, (_, k) => k), name);
      assert.ok(calls >= Math.ceil(n / 50), `${name}: ${calls} calls for ${n} entries of at most 50`);
      assert.equal(map.lookupBatch({ cursor }).count, 0, 'a done cursor reads nothing');
      cursor.reset();
      const restart = map.lookupBatch({ cursor, maxCount: 10 }).count;
      // A hash batch ends before a bucket that does not fit in the room left.
      if (name === 'array') assert.equal(restart, 10, 'a reset cursor starts again');
      else assert.ok(restart > 0 && restart <= 10, `a reset cursor starts again (${restart})`);
    }
  });

  it('reads into the caller\'s Buffers: the batch is them when the read fills them, views of them otherwise', () => {
    using obj = open();
    const hash = obj.map('hash');
    for (let k = 0; k < 1024; k++) hash.update(k, BigInt(k) * 3n);
    const keys = Buffer.alloc(1024 * 4);
    const values = Buffer.alloc(1024 * 8);
    for (let round = 0; round < 3; round++) {
      const b = hash.lookupBatch({ keys, values });
      assert.equal(b.count, 1024);
      assert.equal(b.keys, keys);
      assert.equal(b.values, values);
      assert.equal(u64Entries(b).get(1000), 3000n);
    }
    hash.delete(7);
    const part = hash.lookupBatch({ keys, values });
    assert.equal(part.count, 1023);
    assert.equal(part.keys.buffer, keys.buffer);
    assert.equal(part.keys.length, 1023 * 4);
    assert.equal(u64Entries(part).has(7), false);
  });

  it('a cursor moved to a map whose cursor does not fit is refused', () => {
    using obj = open();
    const hash = obj.map('hash');
    for (let k = 0; k < 100; k++) hash.update(k, 1n);
    const cursor = new BatchCursor();
    hash.lookupBatch({ cursor, maxCount: 10 });
    assert.equal(cursor.done, false);
    assert.equal(cursor.token?.length, 4);
    cursor.token = Buffer.alloc(2);
    assert.throws(() => hash.lookupBatch({ cursor }), { name: 'BpfArgumentError', argument: 'cursor' });
  });

  it('an empty hash map gives an empty batch', () => {
    using obj = open();
    const cursor = new BatchCursor();
    const b = obj.map('hash').lookupBatch({ cursor });
    assert.equal(b.count, 0);
    assert.equal(cursor.done, true);
  });

  it('per-CPU values come back one 8-byte slot per possible CPU', () => {
    using obj = open();
    const n = numPossibleCpus();
    const pch = obj.map('percpu_hash');
    for (let k = 0; k < 10; k++) pch.updatePerCpu(k, Array.from({ length: n }, (_, cpu) => k * 1000 + cpu));
    const b = pch.lookupBatch();
    assert.equal(b.count, 10);
    assert.equal(b.valueStride, 8 * n, '4-byte values take 8-byte slots');
    for (let i = 0; i < b.count; i++) {
      const k = b.key(i).readUInt32LE(0);
      assert.deepEqual(b.valuePerCpu(i).map((v) => v.readUInt32LE(0)), Array.from({ length: n }, (_, cpu) => k * 1000 + cpu));
      assert.equal(b.valuePerCpu(i)[0].length, 4);
    }
    const pca = obj.map('percpu_array');
    pca.updatePerCpu(5, Array.from({ length: n }, (_, cpu) => 50 + cpu));
    const a = pca.lookupBatch();
    assert.equal(a.count, 8);
    const [, five] = [...a][5];
    assert.deepEqual((five as Buffer[]).map((v) => v.readUInt32LE(0)), Array.from({ length: n }, (_, cpu) => 50 + cpu));
  });

  it('refuses bad options, naming them', () => {
    using obj = open();
    const hash = obj.map('hash');
    assert.throws(() => hash.lookupBatch({ maxcount: 5 } as never), /unknown option 'maxcount' of lookupBatch \(did you mean 'maxCount'/);
    assert.throws(() => hash.lookupBatch({ maxCount: 0 }), { name: 'BpfArgumentError', argument: 'maxCount' });
    assert.throws(() => hash.lookupBatch({ maxCount: 1.5 }), { name: 'BpfArgumentError', argument: 'maxCount' });
    assert.throws(() => hash.lookupBatch({ cursor: {} as BatchCursor }), { name: 'BpfArgumentError', argument: 'cursor' });
    assert.throws(() => hash.lookupBatch({ elemFlags: 1 }), { name: 'BpfArgumentError', argument: 'elemFlags' });
  });
});

describe('updateBatch', () => {
  it('writes arrays of keys and values, and contiguous Buffers, in one call', () => {
    using obj = open();
    const hash = obj.map('hash');
    assert.equal(hash.updateBatch([1, 2, 3], [10n, 20n, 30n]), 3);
    const keys = Buffer.alloc(8);
    keys.writeUInt32LE(4, 0);
    keys.writeUInt32LE(5, 4);
    const values = Buffer.alloc(16);
    values.writeBigUInt64LE(40n, 0);
    values.writeBigUInt64LE(50n, 8);
    assert.equal(hash.updateBatch(keys, values), 2);
    assert.deepEqual([...u64Entries(hash.lookupBatch())].sort((a, b) => a[0] - b[0]), [[1, 10n], [2, 20n], [3, 30n], [4, 40n], [5, 50n]]);
    assert.equal(hash.lookup(4)?.readBigUInt64LE(0), 40n, 'single lookups see batch writes');
    const array = obj.map('array');
    assert.equal(array.updateBatch([0, 63], [7n, 8n]), 2);
    assert.equal(array.lookup(63)?.readBigUInt64LE(0), 8n);
  });

  it('writes per-CPU values from one array per key', () => {
    using obj = open();
    const n = numPossibleCpus();
    const pch = obj.map('percpu_hash');
    pch.updateBatch([1, 2], [Array(n).fill(11), Array.from({ length: n }, (_, cpu) => cpu)]);
    assert.deepEqual(pch.lookupPerCpu(2)?.map((v) => v.readUInt32LE(0)), Array.from({ length: n }, (_, cpu) => cpu));
    assert.throws(() => pch.updateBatch([1], [[1]]), n === 1 ? /values\[0\]\[0\]/ : /one value per possible CPU/);
  });

  it('a full hash map stops the batch with a BatchError counting what was written', () => {
    using obj = open();
    const hash = obj.map('hash');
    const keys = Array.from({ length: 1020 }, (_, k) => k);
    assert.equal(hash.updateBatch(keys, keys.map((k) => BigInt(k))), 1020);
    const more = Array.from({ length: 10 }, (_, i) => 5000 + i);
    assert.throws(() => hash.updateBatch(more, more.map(() => 1n)), (e: unknown) =>
      e instanceof BatchError && e.code === 'E2BIG' && e.processed === 4 && e.op === 'bpf_map_update_batch' && /map is full/.test(e.hint ?? ''));
    assert.equal(hash.lookup(5003)?.readBigUInt64LE(0), 1n, 'the entries before the failure are written');
    assert.equal(hash.lookup(5004), undefined, 'nothing after it');
  });

  it('a key past an array\'s end fails with E2BIG after the keys before it', () => {
    using obj = open();
    assert.throws(() => obj.map('array').updateBatch([1, 64], [1n, 2n]), (e: unknown) =>
      e instanceof BatchError && e.code === 'E2BIG' && e.processed === 1);
  });

  it('checks sizes and counts before the syscall', () => {
    using obj = open();
    const hash = obj.map('hash');
    assert.throws(() => hash.updateBatch(Buffer.alloc(6), Buffer.alloc(16)), { name: 'BpfArgumentError', argument: 'keys' });
    assert.throws(() => hash.updateBatch([1, 2], [1n]), { name: 'BpfArgumentError', argument: 'values' });
    assert.throws(() => hash.updateBatch(Buffer.alloc(8), Buffer.alloc(8)), { name: 'BpfArgumentError', argument: 'values' });
    assert.throws(() => hash.updateBatch([Buffer.alloc(3)], [1n]), { name: 'BpfArgumentError', argument: 'keys[0]' });
    assert.throws(() => hash.updateBatch([1], [1n], { flag: 1 } as never), /unknown option 'flag' of updateBatch/);
    assert.throws(() => hash.updateBatch([1], [1n], { flags: UpdateFlags.NOEXIST }), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'flags' && /NOEXIST and EXIST are not/.test(e.message));
    assert.equal(hash.lookupBatch().count, 0, 'nothing was written');
  });
});

describe('deleteBatch and lookupAndDeleteBatch', () => {
  it('deleteBatch deletes, skips keys not in the map, and lookups see it', () => {
    using obj = open();
    const hash = obj.map('hash');
    hash.updateBatch([1, 2, 3, 4, 5], [1n, 2n, 3n, 4n, 5n]);
    assert.equal(hash.deleteBatch([2, 9, 4, 10, 11]), 2);
    assert.equal(hash.lookup(2), undefined);
    assert.equal(hash.lookup(4), undefined);
    assert.deepEqual([...u64Entries(hash.lookupBatch()).keys()].sort(), [1, 3, 5]);
    assert.equal(hash.deleteBatch([]), 0);
  });

  it('lookupAndDeleteBatch returns the entries and empties the map, in parts too', () => {
    using obj = open();
    const hash = obj.map('hash');
    for (let k = 0; k < 200; k++) hash.update(k, BigInt(k) + 1n);
    const cursor = new BatchCursor();
    const first = hash.lookupAndDeleteBatch({ cursor, maxCount: 64 });
    assert.ok(first.count > 0 && first.count <= 64);
    for (const [k] of first) assert.equal(hash.lookup(k), undefined, 'a returned entry is gone');
    assert.equal(hash.lookupBatch().count, 200 - first.count);
    const rest = hash.lookupAndDeleteBatch();
    assert.equal(first.count + rest.count, 200);
    const all = new Map([...u64Entries(first), ...u64Entries(rest)]);
    for (let k = 0; k < 200; k++) assert.equal(all.get(k), BigInt(k) + 1n);
    assert.equal(hash.lookupBatch().count, 0);
  });

  it('per-CPU hashes drain with their per-CPU values', () => {
    using obj = open();
    const n = numPossibleCpus();
    const pch = obj.map('percpu_hash');
    pch.updatePerCpu(7, Array.from({ length: n }, (_, cpu) => 70 + cpu));
    const b = pch.lookupAndDeleteBatch();
    assert.equal(b.count, 1);
    assert.deepEqual(b.valuePerCpu(0).map((v) => v.readUInt32LE(0)), Array.from({ length: n }, (_, cpu) => 70 + cpu));
    assert.equal(pch.lookupPerCpu(7), undefined);
  });

  it('array maps refuse deletes, other map types all batches, with typed errors', () => {
    using obj = open();
    assert.throws(() => obj.map('array').deleteBatch([1]), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'map' && /BPF_MAP_TYPE_ARRAY, whose entries cannot be deleted, so it has no deleteBatch/.test(e.message));
    assert.throws(() => obj.map('percpu_array').lookupAndDeleteBatch(), /no lookupAndDeleteBatch: use lookupBatch, then updateBatch/);
    assert.throws(() => obj.map('ring').lookupBatch(), (e: unknown) =>
      e instanceof BpfArgumentError && /BPF_MAP_TYPE_RINGBUF, which has no batch operations/.test(e.message));
  });

  it('every batch call of a closed object throws a ClosedError', () => {
    const obj = open();
    const hash = obj.map('hash');
    obj.close();
    assert.throws(() => hash.lookupBatch(), ClosedError);
    assert.throws(() => hash.updateBatch([1], [1n]), ClosedError);
    assert.throws(() => hash.deleteBatch([1]), ClosedError);
    assert.throws(() => hash.lookupAndDeleteBatch(), ClosedError);
  });
});

describe('typed batches', () => {
  it('TypedMap and PerCpuTypedMap read, write and delete decoded entries in batches', () => {
    using obj = open();
    const btf = Btf.fromFile(fixture('maps'));
    const hash = new TypedMap(obj.map('hash'), btfCodec<number>(btf, '__u32'), btfCodec<bigint>(btf, '__u64'));
    assert.equal(hash.updateBatch([[1, 10n], [2, 20n], [3, 30n]]), 3);
    assert.deepEqual(hash.lookupBatch().sort((a, b) => a[0] - b[0]), [[1, 10n], [2, 20n], [3, 30n]]);
    assert.equal(hash.deleteBatch([2, 4]), 1);
    assert.deepEqual(hash.lookupAndDeleteBatch().sort((a, b) => a[0] - b[0]), [[1, 10n], [3, 30n]]);
    assert.deepEqual(hash.lookupBatch(), []);
    assert.throws(() => hash.updateBatch(5 as never), { name: 'BpfArgumentError', argument: 'entries' });

    const n = numPossibleCpus();
    const pch = new PerCpuTypedMap(obj.map('percpu_hash'), btfCodec<number>(btf, '__u32'), btfCodec<number>(btf, '__u32'));
    pch.updateBatch([[9, Array.from({ length: n }, (_, cpu) => 90 + cpu)]]);
    assert.deepEqual(pch.lookupBatch(), [[9, Array.from({ length: n }, (_, cpu) => 90 + cpu)]]);
  });
});
