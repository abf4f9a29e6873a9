// BPF_F_MMAPABLE arrays mapped into the process (Linux 5.5): programs' writes seen through
// the view, the view's writes seen by programs, read-only maps, and detaching at close.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BPF_F_MMAPABLE, BpfArgumentError, BpfError, BpfObject, ClosedError, MappedArray } from '../../src/index';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fixture, requireRoot } from './helpers';

requireRoot();

const open = () => BpfObject.open(fixture('maps')).load();
const bpfMappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('bpf-map')).length;

/** struct mm_args of maps.bpf.c. */
function mmArgs(index: number, a = 0n, b = 0): Buffer {
  const ctx = Buffer.alloc(32);
  ctx.writeUInt32LE(index, 0);
  ctx.writeUInt32LE(b, 4);
  ctx.writeBigUInt64LE(a, 8);
  return ctx;
}

/** Runs mm_swap: writes (a, b) into mm[index] and returns what was there. */
function swap(obj: BpfObject, index: number, a: bigint, b: number): [bigint, number] {
  const r = obj.program('mm_swap').testRun({ ctxIn: mmArgs(index, a, b) });
  assert.equal(r.retval, 0);
  assert.ok(r.ctxOut);
  return [r.ctxOut.readBigUInt64LE(16), r.ctxOut.readUInt32LE(24)];
}

describe('mmap of BPF_F_MMAPABLE arrays', () => {
  it('shows a program\'s writes, and the program sees the view\'s writes, with the kernel\'s 8-byte stride', () => {
    using obj = open();
    assert.equal(obj.map('mm').flags & BPF_F_MMAPABLE, BPF_F_MMAPABLE);
    assert.equal(obj.map('array').flags & BPF_F_MMAPABLE, 0);
    const m = obj.map('mm').mmap();
    assert.ok(m instanceof MappedArray);
    assert.equal(m.length, 16);
    assert.equal(m.valueSize, 12);
    assert.equal(m.stride, 16, 'a 12-byte struct takes 16 bytes');
    assert.equal(m.writable, true);
    assert.equal(m.buffer.byteLength, 16 * 16);

    assert.deepEqual(swap(obj, 5, 0x1234_5678_9abcn, 77), [0n, 0]);
    assert.equal(m.readBigUInt64(5), 0x1234_5678_9abcn, 'the program\'s write is in the mapping');
    assert.equal(m.readUInt32(5, 8), 77);
    const u64 = new BigUint64Array(m.buffer);
    assert.equal(u64[5 * 2], 0x1234_5678_9abcn, 'and in a typed array over it');

    u64[9 * 2] = 999n;
    m.writeUInt32(9, 31, 8);
    assert.deepEqual(swap(obj, 9, 1n, 2), [999n, 31], 'the program reads what JS wrote');
    assert.equal(m.readBigUInt64(9), 1n);
    assert.deepEqual(obj.map('mm').lookup(9), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]), 'and so does a syscall lookup');
    obj.map('mm').update(0, Buffer.alloc(12, 0xab));
    assert.equal(m.readUInt32(0, 8), 0xabababab, 'a syscall update is seen through the mapping');
  });

  it('is detached when closed, and when its object closes', () => {
    const obj = open();
    const map = obj.map('mm');
    const m = map.mmap();
    assert.equal(map.mmap(), m, 'one mapping per handle');
    const view = new Uint8Array(m.buffer);
    const ab = m.buffer;
    assert.equal(view.length, 256);
    m.close();
    assert.equal(m.closed, true);
    assert.equal(ab.byteLength, 0, 'the ArrayBuffer is detached');
    assert.equal(view.length, 0, 'views of it see nothing');
    assert.equal(view[0], undefined);
    assert.throws(() => m.buffer, ClosedError);
    assert.throws(() => m.readBigUInt64(0), ClosedError);
    m.close(); // harmless twice

    const again = map.mmap();
    assert.notEqual(again, m, 'a closed mapping is replaced');
    const ab2 = again.buffer;
    const u64 = new BigUint64Array(ab2);
    u64[0] = 5n;
    obj.close();
    assert.equal(again.closed, true);
    assert.equal(ab2.byteLength, 0, 'closing the object detaches its mappings');
    assert.equal(u64.length, 0);
  });

  it('leaves no mapping of a map behind once closed', () => {
    const before = bpfMappings();
    const obj = open();
    const m = obj.map('mm').mmap();
    const ro = obj.map('mm_ro').mmap();
    assert.ok(bpfMappings() >= before + 2, 'the two maps are mapped');
    assert.equal(m.readBigUInt64(0) + ro.readBigUInt64(0), 0n);
    obj.close();
    assert.equal(bpfMappings(), before, 'closing the object unmapped them');
  });

  it('a worker terminated with a mapping and single-op handles open takes its mappings with it', async () => {
    const before = bpfMappings();
    // The worker maps, writes through the mapping and does element ops, then waits to be killed.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { BpfObject } = require(workerData.lib);
      const obj = BpfObject.open(workerData.object).load();
      const m = obj.map('mm').mmap();
      new BigUint64Array(m.buffer)[0] = 7n;
      obj.map('hash').update(1, 2n);
      parentPort.postMessage(obj.map('mm').lookup(0).readBigUInt64LE(0) + obj.map('hash').lookup(1).readBigUInt64LE(0));
      setInterval(() => {}, 1000);`;
    const lib = path.resolve(__dirname, '../../src/index.js');
    const worker = new Worker(code, { eval: true, workerData: { lib, object: fixture('maps') } });
    const sum = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(sum, 9n, 'the worker wrote through its mapping and read it back with a syscall');
    assert.ok(bpfMappings() > before, 'the worker\'s maps are mapped');
    assert.equal(await worker.terminate(), 1);
    assert.equal(bpfMappings(), before, 'the environment\'s teardown unmapped them');
  });

  it('maps BPF_F_RDONLY_PROG arrays read-only: reads work, the memory is not handed out', () => {
    using obj = open();
    const map = obj.map('mm_ro');
    map.update(2, 0xfeedn);
    const m = map.mmap();
    assert.equal(m.writable, false);
    assert.equal(m.readBigUInt64(2), 0xfeedn);
    assert.deepEqual(m.read(2), Buffer.from([0xed, 0xfe, 0, 0, 0, 0, 0, 0]));
    assert.throws(() => m.buffer, (e: unknown) => e instanceof BpfError && e.code === 'EACCES' && /read-only/.test(e.message) && /update\(\)/.test(e.hint ?? ''));
    assert.throws(() => m.writeBigUInt64(2, 1n), /mapped read-only/);
    const r = obj.program('mm_ro_read').testRun({ ctxIn: mmArgs(2) });
    assert.equal(r.ctxOut?.readBigUInt64LE(16), 0xfeedn);
  });

  it('refuses maps that cannot be mapped, and bad indexes', () => {
    using obj = open();
    assert.throws(() => obj.map('array').mmap(), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'map' && /without BPF_F_MMAPABLE/.test(e.message));
    assert.throws(() => obj.map('hash').mmap(), /BPF_MAP_TYPE_HASH: only arrays declared with __uint\(map_flags, BPF_F_MMAPABLE\)/);
    const m = obj.map('mm').mmap();
    assert.throws(() => m.readBigUInt64(16), { name: 'BpfArgumentError', argument: 'i' });
    assert.throws(() => m.readBigUInt64(-1), { name: 'BpfArgumentError', argument: 'i' });
    assert.throws(() => m.readBigUInt64(0, 8), { name: 'BpfArgumentError', argument: 'offset' }, 'u64 at 8 of 12 bytes');
    assert.throws(() => m.readUInt32(0, 1.5), { name: 'BpfArgumentError', argument: 'offset' });
  });

  it('maps the object\'s .bss (an internal mmapable array) too', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const bss = obj.maps.find((m) => m.name.endsWith('.bss'));
    assert.ok(bss);
    const m = bss.mmap();
    assert.equal(m.length, 1, 'a data section is one value');
    for (let at = 0; at + 8 <= m.valueSize; at += 8) m.writeBigUInt64(0, 4242n, at); // bss_value is one of them
    const r = obj.program('read_globals').testRun({ ctxIn: Buffer.alloc(16) });
    assert.equal(r.ctxOut?.readBigUInt64LE(8), 4242n, 'bss_value as the program reads it');
  });
});
