// Codecs from BTF without a kernel: the values clang laid out in skel_kinds.bpf.o's .data
// (every integer width and sign, bool, floats, pointers, enums, strings, nested arrays,
// named and anonymous unions, bitfields, padding) decode to what the C initializer says,
// encode back to the same bytes, and bad values fail naming the field. Also the globals'
// get/set through codecs, and the message for a global asked for in the wrong section.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Btf, BtfKind, type BtfVar } from '../../src/btf/btf';
import { btfCodec, compileCodec } from '../../src/btf/codec';
import { BpfArgumentError, BpfError } from '../../src/errors';
import { describeGlobals, GlobalSection, locateGlobals, wrongSectionMessage, type SectionAccess } from '../../src/globals';
import type { NativeBtfType } from '../../src/native';
import { BtfBuilder } from '../support/btf-builder';
import { installFakeNative } from '../support/fake-native';

installFakeNative();

const KINDS = path.resolve(__dirname, '../../../test/fixtures/obj/skel_kinds.bpf.o');
const btf = Btf.fromFile(KINDS);

/** A global's bytes in the object file (its initial value), by section and name. */
function initial(section: string, name: string): Buffer {
  const d = btf.datasecs.find((x) => x.name === section);
  const v = d?.vars.find((x) => btf.type(x.type).name === name);
  assert.ok(d && v, `${section} ${name}`);
  const bytes = btf.elf!.data(btf.elf!.section(section)!);
  return bytes.subarray(v.offset, v.offset + v.size);
}

const inner = (x: number, y: number, z: number) => ({ x, y, z });

/** `sample` as its C initializer in skel_kinds.bpf.c says. */
const SAMPLE = {
  u8: 250, s8: -7, u16: 65000, s16: -30000, u32: 4000000000, s32: -2000000000,
  u64: 0xfedcba9876543210n, s64: -1234567890123456789n, c: 'Z'.charCodeAt(0), ok: true,
  u128: (0x0123456789abcdefn << 64n) | 0xfedcba9876543210n, s128: -(1n << 100n),
  f32: 1.5, f64: -2.25, ptr: 0xdeadbeefcafen, cptr: 0n, fwd: 0n, fn: 0n, uptr: 0x10n,
  color: 4294967295, tiny: 200,
  name: 'skel-kinds',
  bytes: Buffer.from([1, 2, 254, 255]),
  grid: [[1, 2, 3], [4, 5, 6]],
  inners: [inner(11, -12, 13), inner(21, 22, 23)],
  val: {
    u: 0x5566778811223344n, i: 0x11223344,
    raw: Buffer.from([0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55]),
    halves: { lo: 0x11223344, hi: 0x55667788 },
  },
  flags: { a: 5, b: -9, c: 4000, d: -300000, e: 0xabcdef1234n, f: true, h: 0x3fffabcd, s: -4294967296n },
  anon_a: 0xaaaa, anon_b: 0xbbbb,
  as_u32: 0x3fc00000, as_f32: 1.5,
  vol: 7, cst: 8,
  big_array: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 0xffffffffffffffffn],
  many: [inner(1, 2, 3), ...Array.from({ length: 7 }, () => inner(0, 0, 0)), inner(9, -9, 99)],
  names: ['alpha', 'beta'],
  tagged: { id: 42, level: 3 },
  pb: { lead: 6, x: 0x7ffffffe, tail: 0xbeef },
  member_tagged: -1,
};

const kinds = btfCodec<typeof SAMPLE>(btf, 'struct kinds', { strings: ['name', 'kinds.names'] });

describe('a codec from BTF', () => {
  it('decodes what clang laid out, every kind of member', () => {
    assert.equal(kinds.size, 448);
    assert.equal(kinds.typeName, 'struct kinds');
    assert.deepEqual(kinds.decode(initial('.data', 'sample')), SAMPLE);
  });

  it('encodes back to the very bytes clang wrote (padding zeroed)', () => {
    const bytes = initial('.data', 'sample');
    assert.ok(kinds.encode(kinds.decode(bytes)).equals(bytes));
    assert.ok(kinds.encode(SAMPLE).equals(bytes));
    const config = btfCodec(btf, 'struct inner');
    assert.deepEqual(config.decode(initial('.rodata', 'config')), inner(1, -1, 100));
    assert.ok(config.encode(inner(1, -1, 100)).equals(initial('.rodata', 'config')));
  });

  it('decodes at an offset, and encodes into given bytes at an offset, zeroing padding there', () => {
    const c = btfCodec<{ x: number; y: number; z: number }>(btf, 'struct inner');
    const out = Buffer.alloc(20, 0xee);
    assert.equal(c.encode(inner(0x102, -2, 0x3040506), out, 4), out);
    assert.equal(out.toString('hex'), 'eeeeeeee' + '0201fe00' + '06050403' + 'eeeeeeeeeeeeeeee');
    assert.deepEqual(c.decode(out, 4), inner(0x102, -2, 0x3040506));
    const u8 = new Uint8Array(8);
    assert.equal(c.encode(inner(1, 2, 3), u8), u8, 'a plain Uint8Array is written and returned as is');
    assert.deepEqual(c.decode(u8), inner(1, 2, 3));
  });

  it('gives char arrays as Buffers unless asked, and takes every char array as a string with *', () => {
    const plain = btfCodec<Record<string, unknown>>(btf, 'struct kinds');
    const v = plain.decode(initial('.data', 'sample'));
    assert.deepEqual(v.name, Buffer.from('skel-kinds\0\0\0\0\0\0'));
    assert.deepEqual(v.names, [Buffer.from('alpha\0\0\0'), Buffer.from('beta\0\0\0\0')]);
    const all = btfCodec<Record<string, unknown>>(btf, 'struct kinds', { strings: ['*'] }).decode(initial('.data', 'sample'));
    assert.equal(all.name, 'skel-kinds');
    assert.deepEqual(all.names, ['alpha', 'beta']);
    assert.deepEqual(all.bytes, Buffer.from([1, 2, 254, 255]), '__u8 arrays stay bytes with *');
    assert.equal(btfCodec(btf, 'struct kinds', { strings: ['*'] }).decode(initial('.data', 'sample')) !== undefined, true);
    assert.throws(() => btfCodec(btf, 'struct kinds', { strings: ['a.b.c'] }), /'a.b.c' is not 'type.field', 'field' or '\*'/);
  });

  it('reads strings as UTF-8 up to the NUL, and writes them NUL-padded, refusing longer ones', () => {
    const c = btfCodec<typeof SAMPLE>(btf, 'struct kinds', { strings: ['name'] });
    const bytes = Buffer.from(initial('.data', 'sample'));
    const v = { ...c.decode(bytes), name: 'héllo ☃' };
    const out = c.encode(v);
    assert.equal(c.decode(out).name, 'héllo ☃');
    assert.equal(out.subarray(141, 157).toString('hex'), Buffer.concat([Buffer.from('héllo ☃'), Buffer.alloc(16 - Buffer.byteLength('héllo ☃'))]).toString('hex'));
    assert.throws(() => c.encode({ ...v, name: 'x'.repeat(17) }), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'kinds.name' && /takes 17 bytes in UTF-8, more than the 16 of the field/.test(e.message));
    assert.equal(c.decode(c.encode({ ...v, name: 'x'.repeat(16) })).name, 'x'.repeat(16), 'all 16 bytes, no NUL');
  });

  it('leaves out a character the kernel cut short at the end of the field, so the string encodes back', () => {
    const c = btfCodec<typeof SAMPLE>(btf, 'struct kinds', { strings: ['name'] });
    const bytes = Buffer.from(initial('.data', 'sample'));
    for (const [tail, kept] of [['é', 1], ['☃', 1], ['☃', 2], ['😀', 1], ['😀', 3]] as const) {
      const field = Buffer.concat([Buffer.from('x'.repeat(16 - kept)), Buffer.from(tail).subarray(0, kept)]);
      field.copy(bytes, 141);
      const name = c.decode(bytes).name;
      assert.equal(name, 'x'.repeat(16 - kept), `${tail} cut to ${kept} byte(s)`);
      assert.equal(c.decode(c.encode({ ...c.decode(bytes), name })).name, name);
    }
    // A whole character at the end stays; an invalid byte mid-string is U+FFFD as before.
    Buffer.concat([Buffer.from('x'.repeat(13)), Buffer.from('☃')]).copy(bytes, 141);
    assert.equal(c.decode(bytes).name, 'x'.repeat(13) + '☃');
    Buffer.from('ab\xffcd\0\0\0\0\0\0\0\0\0\0\0', 'latin1').copy(bytes, 141);
    assert.equal(c.decode(bytes).name, 'ab\ufffdcd');
  });

  it('round-trips random values of every bitfield, signed and unsigned, across bytes', () => {
    const flags = btfCodec<typeof SAMPLE.flags>(btf, 'struct flags');
    const packed = btfCodec<typeof SAMPLE.pb>(btf, 'struct packed_bits');
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const int = (bits: number, signed: boolean) => Math.floor(rnd() * 2 ** bits) - (signed ? 2 ** (bits - 1) : 0);
    const big = (bits: number, signed: boolean) => BigInt.asUintN(bits, BigInt(int(26, false)) << 26n | BigInt(int(26, false))) - (signed ? 1n << BigInt(bits - 1) : 0n);
    for (let i = 0; i < 500; i++) {
      const v = { a: int(3, false), b: int(5, true), c: int(12, false), d: int(20, true), e: BigInt.asUintN(40, big(52, false)), f: rnd() < 0.5, h: int(30, false), s: BigInt.asIntN(33, big(52, false)) };
      assert.deepEqual(flags.decode(flags.encode(v)), v);
      const p = { lead: int(3, false), x: int(31, false), tail: int(16, false) };
      assert.deepEqual(packed.decode(packed.encode(p)), p);
    }
    const extremes = { a: 7, b: -16, c: 4095, d: -(2 ** 19), e: (1n << 40n) - 1n, f: true, h: 2 ** 30 - 1, s: -(1n << 32n) };
    assert.deepEqual(flags.decode(flags.encode(extremes)), extremes);
    assert.throws(() => flags.encode({ ...extremes, b: 16 }), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'flags.b' && /5-bit signed bitfield \(-16\.\.15\)/.test(e.message));
    assert.throws(() => flags.encode({ ...extremes, s: 1n << 32n }), /flags\.s: 4294967296 is out of range for a signed 33-bit integer/);
  });

  it('encodes a union from the members given, in order', () => {
    const value = btfCodec<typeof SAMPLE.val, Partial<typeof SAMPLE.val>>(btf, 'union value');
    assert.equal(value.encode({ u: 0x0102030405060708n }).toString('hex'), '0807060504030201');
    assert.equal(value.encode({ halves: { lo: 1, hi: 2 } }).toString('hex'), '0100000002000000');
    assert.equal(value.encode({ u: 0xffffffffffffffffn, i: 0 }).toString('hex'), '00000000ffffffff', 'later members overwrite earlier ones');
    assert.deepEqual(value.decode(value.encode({ raw: Buffer.from('abcdefgh') })).raw, Buffer.from('abcdefgh'));
  });

  it('names the field of a bad value, with the path through nested structs and arrays', () => {
    const bad = (patch: (v: typeof SAMPLE) => void, re: RegExp, argument: string) => {
      const v = structuredClone(SAMPLE);
      patch(v);
      assert.throws(() => kinds.encode(v), (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && re.test(e.message), argument);
    };
    bad((v) => void (v.u8 = 256), /expected an 8-bit unsigned integer \(0\.\.255\), got number 256/, 'kinds.u8');
    bad((v) => void (v.s32 = 1.5), /32-bit signed integer/, 'kinds.s32');
    bad((v) => void ((v as Record<string, unknown>).u64 = 'x'), /expected a 64-bit unsigned integer \(bigint\), got the string "x"/, 'kinds.u64');
    bad((v) => void (v.s64 = -(1n << 63n) - 1n), /out of range for a signed 64-bit integer/, 'kinds.s64');
    bad((v) => void (v.inners[1].z = -1), /32-bit unsigned/, 'kinds.inners[1].z');
    bad((v) => void (v.many[8].y = 200), /8-bit signed/, 'kinds.many[8].y');
    bad((v) => void (v.grid[1] = [1, 2]), /expected 3 elements, got 2/, 'kinds.grid[1]');
    bad((v) => void ((v as Record<string, unknown>).flags = null), /expected an object, got null/, 'kinds.flags');
    bad((v) => void delete (v as Partial<typeof SAMPLE>).vol, /got undefined \(missing\)/, 'kinds.vol');
    bad((v) => void (v.bytes = Buffer.alloc(3)), /expected 4 bytes, got 3/, 'kinds.bytes');
    bad((v) => void ((v as Record<string, unknown>).ok = 1), /expected a boolean, got number 1/, 'kinds.ok');
    bad((v) => void (v.val.halves.hi = -1), /32-bit unsigned/, 'kinds.val.halves.hi');
    assert.throws(() => kinds.encode(null as never), /kinds: expected an object, got null/);
  });

  it('refuses to decode outside the bytes, and bad arguments', () => {
    const c = btfCodec(btf, 'struct inner');
    assert.throws(() => c.decode(Buffer.alloc(7)), (e: unknown) => e instanceof BpfArgumentError && /struct inner needs 8 bytes at offset 0, but there are 7/.test(e.message));
    assert.throws(() => c.decode(Buffer.alloc(16), 9), /needs 8 bytes at offset 9, but there are 7 \(16 in all\)/);
    assert.throws(() => c.decode(Buffer.alloc(16), -1), /offset: expected a byte offset/);
    assert.throws(() => c.decode(Buffer.alloc(16), 1.5), /offset: expected a byte offset/);
    assert.throws(() => c.decode([1, 2, 3] as unknown as Uint8Array), /needs a Buffer or Uint8Array, got an array of 3/);
    assert.throws(() => c.encode(inner(1, 1, 1), Buffer.alloc(8), 1), /needs 8 bytes at offset 1, but the bytes have 8/);
    assert.throws(() => btfCodec(btf, 'struct opaque'), /no struct named 'opaque'/);
    assert.throws(() => btfCodec(btf, btf.named('opaque', ['FWD'])[0].id), /forward declaration|has no size/);
    assert.throws(() => btfCodec(btf, 'struct inner', { string: [] } as never), /unknown option 'string' of btfCodec/);
  });

  it('is compiled once per type and options, and takes paths, bytes, Btf or ids', () => {
    assert.equal(btfCodec(btf, 'struct inner'), btfCodec(btf, btf.find('struct inner').id));
    assert.notEqual(btfCodec(btf, 'struct kinds'), btfCodec(btf, 'struct kinds', { strings: ['name'] }));
    assert.deepEqual(btfCodec(KINDS, 'struct inner').decode(initial('.rodata', 'config')), inner(1, -1, 100));
    assert.equal(compileCodec(btf, btf.find('__u64').id).decode(Buffer.alloc(8, 0xff)), (1n << 64n) - 1n);
  });

  it('decodes integer, enum, pointer, float, bool and array types at the top level', () => {
    const b = Buffer.alloc(16);
    b.writeInt32LE(-5);
    assert.equal(btfCodec(btf, 'int').decode(b), -5);
    assert.equal(btfCodec(btf, 'enum color').decode(Buffer.from([5, 0, 0, 0])), 5);
    assert.equal(btfCodec(btf, 'double').decode(Buffer.from(new Float64Array([0.1]).buffer)), 0.1);
    assert.equal(btfCodec(btf, '_Bool').decode(Buffer.from([2])), true);
    const grid = btf.find('struct kinds');
    assert.ok(grid.kind === 'STRUCT');
    const gridType = grid.members.find((m) => m.name === 'big_array')!.type;
    assert.deepEqual(btfCodec(btf, gridType).decode(Buffer.alloc(80, 1)), Array(10).fill(0x0101010101010101n));
    assert.equal(btfCodec(btf, 'unsigned __int128').decode(Buffer.alloc(16, 0xff)), (1n << 128n) - 1n);
    assert.equal(btfCodec(btf, '__int128').decode(Buffer.alloc(16, 0xff)), -1n);
  });

  it('handles ENUM64, old-style bitfields and zero-size arrays of built BTF', () => {
    const bb = new BtfBuilder();
    const big = bb.enum64('big', 8, [['BX', 1n << 40n]]);
    const sbig = bb.enum64('sbig', 8, [['SNEG', -5n]], true);
    const i3 = bb.int('int', 4, { signed: true, bits: 3 });
    const u32 = bb.int('unsigned int', 4);
    const flex = bb.array(u32, u32, 0);
    bb.struct('s', 24, [['e', big, 0], ['n', sbig, 64], ['x', i3, 133], ['tail', flex, 192]]);
    const built = Btf.parse(bb.build());
    const s = btfCodec<{ e: bigint; n: bigint; x: number; tail: number[] }>(built, 'struct s');
    const v = { e: 1n << 40n, n: -5n, x: -3, tail: [] };
    assert.deepEqual(s.decode(s.encode(v)), v);
    assert.equal(s.encode(v).readBigInt64LE(8), -5n);
    assert.equal((s.encode(v)[16] >> 5) & 7, 5, 'x = -3 is 0b101 at bit 133 (byte 16, bit 5)');
  });
});

describe('globals through codecs', () => {
  // The .rodata and .data of skel_kinds as the addon would describe them, over the ELF's bytes.
  function section(name: string, writable = true) {
    const d = btf.datasecs.find((x) => x.name === name)!;
    const vars = d.vars.map((v) => {
      const variable = btf.type(v.type) as BtfVar;
      return { name: variable.name, typeId: variable.type, offset: v.offset, size: v.size };
    });
    // What the addon's btfType(id) gives: the kind number and the fields describeGlobals reads.
    const typeOf = (id: number): NativeBtfType => {
      const t = btf.type(id);
      return {
        kind: t.kind === 'VOID' ? 0 : BtfKind[t.kind], name: t.name,
        type: 'type' in t ? t.type : undefined, size: 'size' in t ? t.size : undefined,
        signed: 'signed' in t ? t.signed : undefined, bool: t.kind === 'INT' ? t.bool : undefined,
        nelems: t.kind === 'ARRAY' ? t.nelems : undefined, elemType: t.kind === 'ARRAY' ? t.type : undefined,
      };
    };
    const mem = Buffer.from(btf.elf!.data(btf.elf!.section(name)!));
    const access: SectionAccess = {
      read: (o, n) => Buffer.from(mem.subarray(o, o + n)),
      write: (o, b) => void b.copy(mem, o),
      checkWritable: () => {
        if (!writable) throw new BpfError(`write to ${name}`, 1, 'read-only');
      },
      checkOpen: () => undefined,
    };
    const datasec = (s: string) => btf.datasecs.find((x) => x.name === s)?.vars.map((v) => ({ name: btf.type(v.type).name }));
    return { mem, globals: new GlobalSection(name, describeGlobals(vars, typeOf), access, locateGlobals(datasec)) };
  }

  it('reads and writes struct and array globals through their codecs', () => {
    const { globals, mem } = section('.data');
    const kindsCodec = btfCodec<typeof SAMPLE>(btf, 'struct kinds', { strings: ['name', 'kinds.names'] });
    assert.deepEqual(globals.get('sample', kindsCodec), SAMPLE);
    globals.set('sample', { ...SAMPLE, u32: 7, inners: [inner(1, 2, 3), inner(4, 5, 6)] }, kindsCodec);
    assert.equal(mem.readUInt32LE(8), 7);
    assert.deepEqual(globals.get('sample', kindsCodec).inners, [inner(1, 2, 3), inner(4, 5, 6)]);
    assert.equal(globals.get('id'), 64n, 'integers still read without a codec');
    assert.equal(globals.getBytes('shade').readUInt32LE(0), 5);
    globals.setBytes('shade', Buffer.from([0, 0, 0, 0]));
    assert.equal(globals.get('shade', btfCodec(btf, 'enum color')), 0);
  });

  it('refuses a codec of another size, naming both types', () => {
    const { globals } = section('.data');
    assert.throws(() => globals.get('sample', btfCodec(btf, 'struct inner')), (e: unknown) =>
      e instanceof BpfArgumentError && /global 'sample' is struct kinds \(448 bytes\), the codec is for struct inner \(8 bytes\)/.test(e.message));
    assert.throws(() => globals.setBytes('id', Buffer.alloc(4)), /needs exactly 8 bytes, got a Buffer of 4 bytes/);
    assert.throws(() => globals.get('id', {} as never), /expected a codec/);
  });

  it('passes the section\'s read-only error through for codec writes', () => {
    const { globals } = section('.rodata', false);
    assert.deepEqual(globals.get('config', btfCodec(btf, 'struct inner')), inner(1, -1, 100));
    assert.throws(() => globals.set('config', inner(0, 0, 0), btfCodec(btf, 'struct inner')), /read-only/);
  });

  it('says which section a global is in when asked for in another', () => {
    const { globals } = section('.rodata');
    assert.throws(() => globals.get('id'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' &&
      e.message.startsWith("'id' is in .data (it has an initializer), not in .rodata") && /use the object's data instead of its rodata/.test(e.hint ?? ''));
    const data = section('.data').globals;
    assert.throws(() => data.set('config', Buffer.alloc(8)), /'config' is in \.rodata \(it is const\), not in \.data/);
    assert.throws(() => data.get('nope'), /no global named 'nope' in \.data \(known: sample, id, shade\)/);
    assert.equal(wrongSectionMessage('counter', '.data', '.bss'), "'counter' is in .bss (it has no initializer), not in .data");
  });
});
