// Argument checks of the map element, batch and mmap calls over a fake addon: each bad
// input must be refused with a typed error before any call into libbpf (the fake throws on
// every element operation, batch or mmap it is asked for). The same calls on real maps:
// test/kernel/map-batch.test.ts and map-mmap.test.ts.
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MapType } from '../../src/constants';
import { BpfArgumentError, ClosedError } from '../../src/errors';
import { BatchCursor, MapBatch, checkBatchSupport, kernelBelow } from '../../src/map-batch';
import { BPF_F_MMAPABLE } from '../../src/mapped-array';
import type { NativeMapInfo } from '../../src/native';
import { BpfObject } from '../../src/object';
import { installFakeNative } from '../support/fake-native';
import { objectBytes } from '../support/object-bytes';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libbpf-unit-maps-'));
const OBJ = path.join(dir, 'maps.bpf.o');
fs.writeFileSync(OBJ, objectBytes);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function map(name: string, type: number, flags = 0): NativeMapInfo {
  return { name, type, keySize: 4, valueSize: 8, maxEntries: 16, flags, internal: false, autocreate: true };
}

const MAPS = [map('hash', MapType.HASH), map('array', MapType.ARRAY), map('ring', MapType.RINGBUF),
  map('mm', MapType.ARRAY, BPF_F_MMAPABLE), map('lpm', MapType.LPM_TRIE)];
const fake = installFakeNative({ open: () => ({ maps: MAPS, programs: [] }) });
const loaded = () => BpfObject.open(OBJ).load();
const ELEMENT_OPS = ['mapFastOp', 'mapBatchOp', 'mapMmap', 'mapUnmap'];

/** Runs `f`, which must throw a BpfArgumentError for `argument` matching `message`, and make no element call. */
function refuses(f: () => unknown, argument: string, message?: RegExp): void {
  fake.reset();
  assert.throws(f, (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && (message?.test(e.message) ?? true));
  assert.deepEqual(fake.ops().filter((op) => ELEMENT_OPS.includes(op)), [], 'no call reached the addon');
}

describe('batch arguments', () => {
  it('reads refuse unknown options, bad counts, cursors, flags and output buffers', () => {
    const obj = loaded();
    const hash = obj.map('hash');
    refuses(() => hash.lookupBatch({ maxcount: 3 } as never), 'options', /did you mean 'maxCount'/);
    refuses(() => hash.lookupBatch(5 as never), 'options', /plain object/);
    refuses(() => hash.lookupBatch({ maxCount: 0 }), 'maxCount', /at least 1/);
    refuses(() => hash.lookupBatch({ maxCount: -1 }), 'maxCount');
    refuses(() => hash.lookupBatch({ maxCount: 2 ** 32 }), 'maxCount');
    refuses(() => hash.lookupBatch({ cursor: { done: false } as never }), 'cursor', /BatchCursor/);
    refuses(() => hash.lookupBatch({ elemFlags: 2 }), 'elemFlags');
    refuses(() => hash.lookupBatch({ maxCount: 4, keys: Buffer.alloc(15) }), 'keys', /at least 4 x 4 bytes/);
    refuses(() => hash.lookupBatch({ maxCount: 4, values: new Uint8Array(32) as Buffer }), 'values', /got object/);
    refuses(() => hash.lookupAndDeleteBatch({ maxCount: 1.5 }), 'maxCount');
    const ab = new ArrayBuffer(16 * 4);
    const detachedKeys = Buffer.from(ab);
    structuredClone(ab, { transfer: [ab] });
    refuses(() => hash.lookupBatch({ keys: detachedKeys }), 'keys', /got 0 bytes/);
    obj.close();
  });

  it('writes refuse misshapen keys, values and flags', () => {
    const obj = loaded();
    const hash = obj.map('hash');
    refuses(() => hash.updateBatch(Buffer.alloc(5), Buffer.alloc(8)), 'keys', /whole number of 4-byte keys/);
    refuses(() => hash.updateBatch('1,2' as never, []), 'keys', /Buffer of keys back to back, or an array/);
    refuses(() => hash.updateBatch([1, 2], [1n]), 'values', /one value per key \(2\), got 1/);
    refuses(() => hash.updateBatch([1], Buffer.alloc(9)), 'values', /1 values of 8 bytes back to back \(8 bytes\), got 9/);
    refuses(() => hash.updateBatch([1, 'x' as never], [1n, 2n]), 'keys[1]');
    refuses(() => hash.updateBatch([1], [1n], { flags: 1 }), 'flags', /NOEXIST and EXIST are not batch flags/);
    refuses(() => hash.updateBatch([1], [1n], { flags: 8 }), 'flags');
    refuses(() => hash.updateBatch([1], [1n], { flgs: 0 } as never), 'options', /did you mean 'flags'/);
    refuses(() => hash.deleteBatch(Buffer.alloc(7)), 'keys');
    obj.close();
  });

  it('names the map types without (some) batch operations', () => {
    const obj = loaded();
    refuses(() => obj.map('array').deleteBatch([1]), 'map', /BPF_MAP_TYPE_ARRAY, whose entries cannot be deleted, so it has no deleteBatch/);
    refuses(() => obj.map('array').lookupAndDeleteBatch(), 'map', /then updateBatch to reset the values/);
    refuses(() => obj.map('ring').updateBatch([1], [1n]), 'map', /BPF_MAP_TYPE_RINGBUF, which has no batch operations/);
    refuses(() => obj.map('lpm').lookupBatch(), 'map', /BPF_MAP_TYPE_LPM_TRIE/);
    for (const t of [MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]) {
      for (const op of ['lookupBatch', 'lookupAndDeleteBatch', 'updateBatch', 'deleteBatch'] as const) checkBatchSupport(op, 'm', t);
    }
    checkBatchSupport('updateBatch', 'm', MapType.PERCPU_ARRAY);
    obj.close();
  });

  it('a closed object refuses every batch call with a ClosedError', () => {
    const obj = loaded();
    const hash = obj.map('hash');
    obj.close();
    for (const f of [() => hash.lookupBatch(), () => hash.updateBatch([1], [1n]), () => hash.deleteBatch([1]), () => hash.mmap()]) {
      assert.throws(f, ClosedError);
    }
  });
});

describe('element and mmap arguments', () => {
  it('lookupInto wants a Uint8Array of exactly the value size', () => {
    const obj = loaded();
    const hash = obj.map('hash');
    refuses(() => hash.lookupInto(1, Buffer.alloc(7)), 'out', /value size \(8 bytes\), got 7 bytes/);
    refuses(() => hash.lookupInto(1, new Uint16Array(4) as never), 'out', /got object/);
    refuses(() => hash.lookupInto(1, null as never), 'out', /got null/);
    obj.close();
  });

  it('lookupInto counts the bytes the engine knows: detached, faked or lying arrays are refused, typed', () => {
    const obj = loaded();
    const hash = obj.map('hash');
    const ab = new ArrayBuffer(8);
    const detached = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    refuses(() => hash.lookupInto(1, detached), 'out', /got 0 bytes/);
    refuses(() => hash.lookupInto(1, Object.create(Uint8Array.prototype)), 'out', /got object/);
    class Lying extends Uint8Array { override get length(): number { return 8; } }
    const lying = new Lying(4);
    assert.equal(lying.length, 8);
    refuses(() => hash.lookupInto(1, lying), 'out', /got 4 bytes/);
    obj.close();
  });

  it('mmap refuses maps that are not BPF_F_MMAPABLE arrays', () => {
    const obj = loaded();
    refuses(() => obj.map('array').mmap(), 'map', /BPF_MAP_TYPE_ARRAY without BPF_F_MMAPABLE/);
    refuses(() => obj.map('hash').mmap(), 'map', /BPF_MAP_TYPE_HASH: only arrays declared with __uint\(map_flags, BPF_F_MMAPABLE\)/);
    obj.close();
  });
});

describe('batch helpers', () => {
  it('BatchCursor starts at the map start and resets', () => {
    const c = new BatchCursor();
    assert.deepEqual([c.token, c.done], [null, false]);
    c.token = Buffer.alloc(4);
    c.done = true;
    c.reset();
    assert.deepEqual([c.token, c.done], [null, false]);
  });

  it('MapBatch gives views of its contiguous keys and values, and checks indexes', () => {
    const keys = Buffer.from([1, 0, 0, 0, 2, 0, 0, 0, 9, 9, 9, 9]);
    const values = Buffer.alloc(24);
    values.writeBigUInt64LE(10n, 0);
    values.writeBigUInt64LE(20n, 8);
    const b = new MapBatch(map('h', MapType.HASH), 2, keys, values);
    assert.equal(b.count, 2);
    assert.equal(b.keys.length, 8, 'only the entries read');
    assert.equal(b.values.length, 16);
    assert.deepEqual([...b].map(([k, v]) => [k.readUInt32LE(0), (v as Buffer).readBigUInt64LE(0)]), [[1, 10n], [2, 20n]]);
    b.value(1).writeBigUInt64LE(21n);
    assert.equal(values.readBigUInt64LE(8), 21n, 'a view, not a copy');
    assert.throws(() => b.key(2), { name: 'BpfArgumentError', argument: 'i' });
    assert.throws(() => b.value(-1), { name: 'BpfArgumentError', argument: 'i' });
    assert.throws(() => b.valuePerCpu(0), /not a per-CPU map/);
  });

  it('kernelBelow compares major.minor of a release', () => {
    assert.equal(kernelBelow('5.6', '5.4.0-150-generic'), true);
    assert.equal(kernelBelow('5.6', '5.6.0'), false);
    assert.equal(kernelBelow('5.6', '6.1.0-rc1'), false);
    assert.equal(kernelBelow('5.6', '4.19.260'), true);
  });
});
