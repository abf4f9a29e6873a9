// Globals by BTF name without a kernel: type resolution over a fake BTF table, the global
// table of a DATASEC, integer encoding and GlobalSection over a fake memory.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import { BpfArgumentError, BpfError, ClosedError } from '../../src/errors';
import { BtfKind, decodeInt, describeGlobals, encodeInt, GlobalSection, resolveBtfType, type SectionAccess } from '../../src/globals';
import type { NativeBtfType, NativeDatasecVar } from '../../src/native';
import { installFakeNative } from '../support/fake-native';

// Nothing is scripted: any call into the addon would throw (this is pure TypeScript).
installFakeNative();

// The BTF of: const volatile __u32 multiplier; const volatile __s16 small; const volatile
// char label[8]; bool flag; struct pair p; enum mode m; struct pair *ptr; __u64 big;
// unsigned __int128 wide; and a (corrupt) typedef cycle.
const TYPES: Record<number, NativeBtfType> = {
  1: { kind: BtfKind.INT, name: 'unsigned int', size: 4, signed: false, bool: false, bits: 32 },
  2: { kind: BtfKind.TYPEDEF, name: '__u32', type: 1 },
  3: { kind: BtfKind.VOLATILE, name: '', type: 2 },
  4: { kind: BtfKind.CONST, name: '', type: 3 },
  5: { kind: BtfKind.INT, name: 'short', size: 2, signed: true, bool: false, bits: 16 },
  6: { kind: BtfKind.TYPEDEF, name: '__s16', type: 5 },
  7: { kind: BtfKind.CONST, name: '', type: 8 },
  8: { kind: BtfKind.VOLATILE, name: '', type: 6 },
  9: { kind: BtfKind.INT, name: 'char', size: 1, signed: true, bool: false, bits: 8 },
  10: { kind: BtfKind.ARRAY, name: '', elemType: 9, nelems: 8 },
  11: { kind: BtfKind.VOLATILE, name: '', type: 10 },
  12: { kind: BtfKind.INT, name: '_Bool', size: 1, signed: false, bool: true, bits: 8 },
  13: { kind: BtfKind.STRUCT, name: 'pair', size: 16 },
  14: { kind: BtfKind.ENUM, name: 'mode', size: 4, signed: true },
  15: { kind: BtfKind.PTR, name: '', size: 8, type: 13 },
  16: { kind: BtfKind.INT, name: 'long long unsigned int', size: 8, signed: false, bool: false, bits: 64 },
  17: { kind: BtfKind.TYPEDEF, name: '__u64', type: 16 },
  18: { kind: BtfKind.INT, name: 'unsigned __int128', size: 16, signed: false, bool: false, bits: 128 },
  19: { kind: BtfKind.TYPEDEF, name: 'loop_a', type: 20 },
  20: { kind: BtfKind.TYPEDEF, name: 'loop_b', type: 19 },
};

function typeOf(id: number): NativeBtfType {
  const t = TYPES[id];
  assert.ok(t, `no BTF type ${id}`);
  return t;
}

const VARS: NativeDatasecVar[] = [
  { name: 'multiplier', typeId: 4, offset: 0, size: 4 },
  { name: 'small', typeId: 7, offset: 4, size: 2 },
  { name: 'label', typeId: 11, offset: 6, size: 8 },
  { name: 'flag', typeId: 12, offset: 14, size: 1 },
  { name: 'p', typeId: 13, offset: 16, size: 16 },
  { name: 'm', typeId: 14, offset: 32, size: 4 },
  { name: 'ptr', typeId: 15, offset: 40, size: 8 },
  { name: 'big', typeId: 17, offset: 48, size: 8 },
  { name: 'wide', typeId: 18, offset: 64, size: 16 },
];

describe('resolveBtfType', () => {
  it('follows const, volatile and typedefs to the shape, keeping the first typedef name', () => {
    const r = resolveBtfType(typeOf, 4);
    assert.equal(r.type, TYPES[1]);
    assert.equal(r.name, '__u32');
  });
  it('names an untypedef-ed type by itself and stops at non-modifiers', () => {
    assert.deepEqual(resolveBtfType(typeOf, 11), { type: TYPES[10], name: '' });
    assert.deepEqual(resolveBtfType(typeOf, 13), { type: TYPES[13], name: 'pair' });
  });
  it('fails on a typedef cycle instead of looping', () => {
    assert.throws(() => resolveBtfType(typeOf, 19), { name: 'BtfParseError', code: 'EINVAL', message: /BTF type \[19\] is followed by more than 32 typedefs and qualifiers/ });
  });
});

describe('describeGlobals', () => {
  const table = describeGlobals(VARS, typeOf);
  const pick = (n: string) => {
    const v = table.get(n);
    assert.ok(v, n);
    return { kind: v.kind, signed: v.signed, typeName: v.typeName, offset: v.offset, size: v.size };
  };

  it('lists every variable of the section by name, in order', () => {
    assert.deepEqual([...table.keys()], VARS.map((v) => v.name));
  });
  it('reads integers with their signedness and typedef name', () => {
    assert.deepEqual(pick('multiplier'), { kind: 'int', signed: false, typeName: '__u32', offset: 0, size: 4 });
    assert.deepEqual(pick('small'), { kind: 'int', signed: true, typeName: '__s16', offset: 4, size: 2 });
    assert.deepEqual(pick('big'), { kind: 'int', signed: false, typeName: '__u64', offset: 48, size: 8 });
  });
  it('reads bool, enum and pointer as scalars', () => {
    assert.deepEqual(pick('flag'), { kind: 'bool', signed: false, typeName: '_Bool', offset: 14, size: 1 });
    assert.deepEqual(pick('m'), { kind: 'int', signed: true, typeName: 'enum mode', offset: 32, size: 4 });
    assert.equal(pick('ptr').kind, 'int');
    assert.equal(pick('ptr').signed, false);
  });
  it('treats arrays, structs and odd-sized integers as bytes', () => {
    assert.deepEqual(pick('label'), { kind: 'bytes', signed: false, typeName: 'char[8]', offset: 6, size: 8 });
    assert.deepEqual(pick('p'), { kind: 'bytes', signed: false, typeName: 'struct pair', offset: 16, size: 16 });
    assert.equal(pick('wide').kind, 'bytes');
  });
  it('reads a pointer whose DATASEC size is not 8 (damaged BTF, found by the fuzz test) as bytes', () => {
    const ptr = VARS.find((v) => v.name === 'ptr')!;
    const odd = describeGlobals([{ ...ptr, size: 448 }], typeOf).get('ptr');
    assert.deepEqual({ kind: odd?.kind, size: odd?.size }, { kind: 'bytes', size: 448 });
  });
});

describe('encodeInt / decodeInt', () => {
  it('encodes little-endian at the exact size', () => {
    assert.deepEqual(encodeInt('v', 0x01020304, 4, false), Buffer.from([4, 3, 2, 1]));
    assert.deepEqual(encodeInt('v', -2, 2, true), Buffer.from([0xfe, 0xff]));
    assert.deepEqual(encodeInt('v', true, 1, false), Buffer.from([1]));
    assert.deepEqual(encodeInt('v', (1n << 64n) - 1n, 8, false), Buffer.alloc(8, 0xff));
  });
  it('accepts the limits of each width and rejects one past them', () => {
    const cases: Array<[number, boolean, bigint, bigint]> = [
      [1, false, 0n, 255n], [1, true, -128n, 127n], [2, false, 0n, 65535n], [2, true, -32768n, 32767n],
      [4, false, 0n, 4294967295n], [4, true, -2147483648n, 2147483647n],
      [8, false, 0n, (1n << 64n) - 1n], [8, true, -(1n << 63n), (1n << 63n) - 1n],
    ];
    for (const [size, signed, min, max] of cases) {
      assert.equal(encodeInt('v', min, size, signed).length, size);
      assert.equal(encodeInt('v', max, size, signed).length, size);
      assert.throws(() => encodeInt('v', min - 1n, size, signed), (e: unknown) => e instanceof BpfArgumentError && /out of range/.test(e.message), `${size}/${signed} min-1`);
      assert.throws(() => encodeInt('v', max + 1n, size, signed), (e: unknown) => e instanceof BpfArgumentError && /out of range/.test(e.message), `${size}/${signed} max+1`);
    }
  });
  it('rejects non-integers, unsafe numbers and sizes that are not 1, 2, 4 or 8', () => {
    assert.throws(() => encodeInt('v', 1.5, 4, false), /v: expected an integer/);
    assert.throws(() => encodeInt('v', '3', 4, false), /got string/);
    assert.throws(() => encodeInt('v', null, 4, false), /got null/);
    assert.throws(() => encodeInt('v', 2 ** 53 + 2, 8, false), /pass a bigint/);
    assert.throws(() => encodeInt('v', 1, 3, false), /1, 2, 4 or 8 bytes, not 3/);
    assert.throws(() => encodeInt('v', 1, 16, false), /not 16/);
  });
  it('decodes numbers up to 32 bits and bigints at 64', () => {
    assert.equal(decodeInt(Buffer.from([0xff]), true), -1);
    assert.equal(decodeInt(Buffer.from([0xff]), false), 255);
    assert.equal(decodeInt(Buffer.from([0xfe, 0xff]), true), -2);
    assert.equal(decodeInt(Buffer.from([4, 3, 2, 1]), false), 0x01020304);
    assert.equal(decodeInt(Buffer.alloc(8, 0xff), true), -1n);
    assert.equal(decodeInt(Buffer.alloc(8, 0xff), false), (1n << 64n) - 1n);
  });
  it('refuses to decode other lengths', () => {
    assert.throws(() => decodeInt(Buffer.alloc(3), false), BpfArgumentError);
    assert.throws(() => decodeInt(Buffer.alloc(16), false), BpfArgumentError);
  });
});

describe('GlobalSection over a fake memory', () => {
  function section(opts: { writable?: boolean; open?: boolean } = {}) {
    const mem = Buffer.alloc(80);
    const state = { writable: opts.writable ?? true, open: opts.open ?? true };
    const access: SectionAccess = {
      read: (offset, length) => Buffer.from(mem.subarray(offset, offset + length)),
      write: (offset, bytes) => void bytes.copy(mem, offset),
      checkWritable: () => {
        if (!state.writable) throw new BpfError('write to .rodata', constants.errno.EPERM, 'read-only');
      },
      checkOpen: () => {
        if (!state.open) throw new ClosedError('globals .rodata');
      },
    };
    return { mem, state, globals: new GlobalSection('.rodata', describeGlobals(VARS, typeOf), access) };
  }

  it('writes each global at its offset and reads it back in its type', () => {
    const { mem, globals } = section();
    globals.set('multiplier', 0x01020304);
    globals.set('small', -5);
    globals.set('label', Buffer.from('fixture\0'));
    globals.set('flag', true);
    globals.set('big', (1n << 64n) - 2n);
    assert.deepEqual(mem.subarray(0, 4), Buffer.from([4, 3, 2, 1]));
    assert.deepEqual(mem.subarray(4, 6), Buffer.from([0xfb, 0xff]));
    assert.equal(mem.toString('latin1', 6, 14), 'fixture\0');
    assert.equal(mem[14], 1);
    assert.equal(globals.get('multiplier'), 0x01020304);
    assert.equal(globals.get('small'), -5);
    assert.deepEqual(globals.get('label'), Buffer.from('fixture\0'));
    assert.equal(globals.get('flag'), true);
    assert.equal(globals.get('big'), (1n << 64n) - 2n);
    assert.equal(globals.section, '.rodata');
    assert.deepEqual(globals.names, VARS.map((v) => v.name));
  });
  it('rejects out-of-range integers and wrong-size bytes without writing', () => {
    const { mem, globals } = section();
    assert.throws(() => globals.set('multiplier', -1), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'multiplier');
    assert.throws(() => globals.set('small', 40000), /out of range for a signed 16-bit integer/);
    assert.throws(() => globals.set('label', Buffer.alloc(7)), /char\[8\] needs a Buffer of exactly 8 bytes, got a Buffer of 7 bytes/);
    assert.throws(() => globals.set('p', 5), /struct pair needs a Buffer of exactly 16 bytes, got 5/);
    assert.ok(mem.equals(Buffer.alloc(80)), 'nothing was written');
  });
  it('reports an unknown name with the known ones (ENOENT)', () => {
    const { globals } = section();
    assert.throws(() => globals.get('nope'), (e: unknown) =>
      e instanceof BpfError && e.code === 'ENOENT' && /no global named 'nope' in \.rodata \(known: multiplier, small, label/.test(e.message));
  });
  it('passes the owner\'s closed and read-only errors through', () => {
    const ro = section({ writable: false });
    assert.equal(ro.globals.get('multiplier'), 0);
    assert.throws(() => ro.globals.set('multiplier', 1), (e: unknown) => e instanceof BpfError && e.code === 'EPERM');
    const closed = section({ open: false });
    assert.throws(() => closed.globals.get('multiplier'), ClosedError);
    assert.throws(() => closed.globals.set('multiplier', 1), ClosedError);
  });
  it('says when the object has no such section', () => {
    const empty = new GlobalSection('.data', new Map(), undefined);
    assert.deepEqual(empty.names, []);
    assert.throws(() => empty.get('x'), /no global named 'x' in \.data \(known: none\)/);
  });
});
