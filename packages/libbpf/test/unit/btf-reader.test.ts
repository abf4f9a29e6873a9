// The TypeScript BTF reader without a kernel: every kind, checked type by type against
// bpftool's raw dump of clang's objects (and of this machine's vmlinux when there is one),
// the DATASEC fix-ups libbpf would make, C spellings, map and program definitions, and
// clear errors for malformed input.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Btf, type BtfStruct, type BtfType } from '../../src/btf/btf';
import { mapDefinitions, programDefinitions } from '../../src/btf/objects';
import { BpfArgumentError, BtfParseError } from '../../src/errors';
import { bpftoolRaw, formatAll } from '../support/btf-bpftool-raw';
import { BtfBuilder } from '../support/btf-builder';
import { installFakeNative } from '../support/fake-native';

installFakeNative(); // nothing is scripted: the reader must not touch the addon

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/obj');
const KINDS = path.join(FIXTURES, 'skel_kinds.bpf.o');
const TIMER_OBJ = path.resolve(__dirname, '../../../../bpf-sync-timer/dist/bpf');
const VMLINUX = '/sys/kernel/btf/vmlinux';

function objects(): string[] {
  const dirs = [FIXTURES, TIMER_OBJ].filter((d) => fs.existsSync(d));
  const files = dirs.flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.bpf.o')).map((f) => path.join(d, f)));
  assert.ok(files.includes(KINDS), `${KINDS} is missing: run bash scripts/build.sh`);
  return files;
}

const bpftoolMissing = bpftoolRaw(KINDS) === undefined ? 'bpftool is not installed (apt-get install bpftool)' : false;

const isParseError = (re: RegExp) => (e: unknown) => e instanceof BtfParseError && e.code === 'EINVAL' && re.test(e.message);

describe('Btf against bpftool btf dump format raw', () => {
  it('reads every object of the repository exactly as bpftool prints it', { skip: bpftoolMissing }, () => {
    for (const file of objects()) {
      const mine = formatAll(Btf.fromFile(file, { fixupDatasecs: false })).split('\n');
      const theirs = bpftoolRaw(file)!.split('\n');
      assert.deepEqual(mine, theirs, file);
    }
  });

  it('reads this machine\'s vmlinux BTF (every kind, ENUM64 and TYPE_TAG included) as bpftool does, in under 3 s',
    { skip: bpftoolMissing || (!fs.existsSync(VMLINUX) && `${VMLINUX} does not exist on this kernel`) }, () => {
      const start = process.hrtime.bigint();
      const btf = Btf.fromFile(VMLINUX);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.ok(ms < 3000, `parsing took ${ms.toFixed(0)} ms`);
      assert.equal(btf.elf, undefined);
      const mine = formatAll(btf);
      const theirs = bpftoolRaw(VMLINUX)!;
      if (mine !== theirs) {
        const a = mine.split('\n');
        const b = theirs.split('\n');
        const i = a.findIndex((l, j) => l !== b[j]);
        assert.fail(`first difference at line ${i}: ${JSON.stringify(a[i])} vs bpftool ${JSON.stringify(b[i])}`);
      }
      const kinds = new Set(btf.types.map((t) => t.kind));
      for (const k of ['INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'ENUM64', 'FWD', 'TYPEDEF', 'CONST', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC']) {
        assert.ok(kinds.has(k as BtfType['kind']), `vmlinux has ${k}`);
      }
    });
});

describe('Btf of skel_kinds.bpf.o', () => {
  const btf = Btf.fromFile(KINDS);
  const struct = (name: string) => btf.find(`struct ${name}`) as BtfStruct;

  it('has every kind clang emits', () => {
    const kinds = new Set(btf.types.map((t) => t.kind));
    for (const k of ['VOID', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT',
      'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG'] as const) {
      assert.ok(kinds.has(k), `no ${k}`);
    }
  });

  it('decodes integers with size, sign, char and bool, and floats', () => {
    const u128 = btf.named('unsigned __int128', ['INT'])[0];
    assert.deepEqual(u128 && { ...u128, id: 0 }, { id: 0, kind: 'INT', name: 'unsigned __int128', size: 16, bits: 128, offset: 0, signed: false, char: false, bool: false });
    const bool = btf.named('_Bool')[0];
    assert.ok(bool.kind === 'INT' && bool.bool && bool.size === 1);
    const dbl = btf.named('double')[0];
    assert.ok(dbl.kind === 'FLOAT' && dbl.size === 8);
  });

  it('decodes bitfields from kind_flag member offsets', () => {
    const f = struct('flags');
    assert.deepEqual(f.members.map((m) => [m.name, m.bitOffset, m.bitSize]), [
      ['a', 0, 3], ['b', 3, 5], ['c', 8, 12], ['d', 32, 20], ['e', 64, 40], ['f', 104, 1], ['h', 128, 30], ['s', 158, 33],
    ]);
    assert.deepEqual(struct('inner').members.map((m) => [m.name, m.bitOffset, m.bitSize]), [['x', 0, 0], ['y', 16, 0], ['z', 32, 0]]);
  });

  it('decodes enums with their values and signedness', () => {
    const color = btf.find('enum color');
    assert.ok(color.kind === 'ENUM');
    assert.deepEqual(color.values, [{ name: 'RED', value: 0 }, { name: 'GREEN', value: 5 }, { name: 'BLUE', value: 4294967295 }]);
    const tiny = btf.find('enum tiny');
    assert.ok(tiny.kind === 'ENUM' && tiny.size === 1 && !tiny.signed);
  });

  it('decodes decl tags with their component and type tags on pointers', () => {
    const tags = btf.types.filter((t) => t.kind === 'DECL_TAG');
    const kinds = btf.find('struct kinds') as BtfStruct;
    const member = tags.find((t) => t.name === 'member_tag');
    assert.ok(member && member.kind === 'DECL_TAG' && member.type === kinds.id);
    assert.equal(kinds.members[member.componentIdx].name, 'member_tagged');
    const onVar = tags.find((t) => t.name === 'var_tag');
    assert.ok(onVar && onVar.kind === 'DECL_TAG' && onVar.componentIdx === -1 && btf.type(onVar.type).name === 'tagged_var');
    const tag = btf.types.find((t) => t.kind === 'TYPE_TAG');
    assert.ok(tag && tag.name === 'user');
  });

  it('fills in DATASEC sizes and variable offsets from the ELF, sorted by offset, as libbpf does', () => {
    const sec = (name: string) => {
      const d = btf.datasecs.find((x) => x.name === name);
      assert.ok(d, name);
      return { size: d.size, vars: d.vars.map((v) => [btf.type(v.type).name, v.offset, v.size]) };
    };
    assert.deepEqual(sec('.data'), { size: 460, vars: [['sample', 0, 448], ['id', 448, 8], ['shade', 456, 4]] });
    assert.deepEqual(sec('.rodata'), { size: 20, vars: [['config', 0, 8], ['limit', 8, 4], ['label', 12, 8]] });
    assert.deepEqual(sec('.bss').vars.map((v) => v[0]), ['last', 'seen', 'counter', 'scratch', 'tagged_var', 'restricted']);
    for (const d of btf.datasecs) {
      const elf = btf.elf!.section(d.name);
      assert.ok(elf, d.name);
      assert.equal(d.size, elf.size, d.name);
      for (const v of d.vars) assert.ok(v.offset + v.size <= d.size, `${btf.type(v.type).name} inside ${d.name}`);
    }
    const raw = Btf.fromFile(KINDS, { fixupDatasecs: false });
    assert.ok(raw.datasecs.every((d) => d.size === 0 && d.vars.every((v) => v.offset === 0)), 'clang leaves them 0');
  });

  it('spells types and declarations as C does', () => {
    const k = struct('kinds');
    const decl = (name: string) => {
      const m = k.members.find((x) => x.name === name);
      assert.ok(m, name);
      return btf.declaration(m.type, m.name);
    };
    assert.equal(decl('name'), 'char name[16]');
    assert.equal(decl('grid'), '__u32 grid[2][3]');
    assert.equal(decl('cptr'), 'const char *cptr');
    assert.equal(decl('fn'), 'int (*fn)(int, char *)');
    assert.equal(decl('fwd'), 'struct opaque *fwd');
    assert.equal(decl('vol'), 'volatile __u32 vol');
    assert.equal(decl('val'), 'union value val');
    assert.equal(decl('tagged'), 'tagged_t tagged');
    const restricted = btf.named('restricted', ['VAR'])[0];
    assert.equal(btf.declaration(restricted.id, ''), 'int *restrict restricted');
    assert.equal(btf.typeName(k.members.find((m) => m.name === 'bytes')!.type), '__u8[4]');
  });

  it('finds types by C spelling, and says why when it cannot', () => {
    assert.equal(btf.find('struct kinds').kind, 'STRUCT');
    assert.equal(btf.find('kinds').kind, 'STRUCT');
    assert.equal(btf.find('union value').kind, 'UNION');
    assert.equal(btf.find('tagged_t').kind, 'TYPEDEF');
    assert.equal(btf.find('__u64').kind, 'TYPEDEF');
    assert.throws(() => btf.find('struct nope'), (e: unknown) => e instanceof BpfArgumentError && /no struct named 'nope'/.test(e.message));
    // The usual cause (a record type used only inside a function) is named, with the fix.
    assert.throws(() => btf.find('struct nope'), /used only inside a function is dropped: .*`const struct nope \*unused_nope __attribute__\(\(unused\)\);`/);
    assert.throws(() => btf.find('struct value'), /no struct named 'value' in this BTF \(there is union value\)/);
    assert.throws(() => btf.find('struct opaque'), /only a forward declaration/);
    assert.throws(() => btf.find('char *'), /is not a C type name/);
    assert.throws(() => btf.type(99999), /no BTF type 99999/);
  });

  it('knows sizes and follows typedefs and qualifiers', () => {
    assert.equal(btf.sizeOf(btf.find('struct kinds').id), 448);
    assert.equal(btf.sizeOf(btf.find('tagged_t').id), 8);
    assert.equal(btf.resolve(btf.find('__u64').id).name, 'unsigned long long');
    assert.equal(btf.pointerSize, 8);
    assert.throws(() => btf.sizeOf(btf.named('opaque', ['FWD'])[0].id), /struct opaque \(BTF FWD\) has no size/);
  });

  it('lists the maps of .maps and the programs, as libbpf finds them', () => {
    const maps = mapDefinitions(btf).map((m) => ({ ...m, keyType: m.keyType && btf.typeName(m.keyType), valueType: m.valueType && btf.typeName(m.valueType) }));
    assert.deepEqual(maps, [
      { name: 'ring', type: 27, maxEntries: 65536, flags: undefined, keyType: undefined, valueType: undefined, keySize: undefined, valueSize: undefined, hasInnerValues: false },
      { name: 'perf', type: 4, maxEntries: undefined, flags: undefined, keyType: undefined, valueType: undefined, keySize: 4, valueSize: 4, hasInnerValues: false },
      { name: 'by_inner', type: 1, maxEntries: 16, flags: undefined, keyType: 'struct inner', valueType: 'struct kinds', keySize: 8, valueSize: 448, hasInnerValues: false },
      { name: 'colors', type: 2, maxEntries: 4, flags: undefined, keyType: '__u32', valueType: 'enum color', keySize: 4, valueSize: 4, hasInnerValues: false },
      { name: 'per_cpu', type: 6, maxEntries: 2, flags: undefined, keyType: '__u32', valueType: 'struct inner', keySize: 4, valueSize: 8, hasInnerValues: false },
    ]);
    assert.deepEqual(programDefinitions(btf), [{ name: 'emit', section: 'raw_tp' }]);
    assert.deepEqual(programDefinitions(Btf.fromFile(path.join(FIXTURES, 'basic.bpf.o'))).map((p) => p.name),
      ['write_shared', 'read_shared', 'times_multiplier', 'read_globals', 'whoami', 'count_getppid']);
  });
});

describe('Btf of built blobs', () => {
  it('reads ENUM64 (which clang 14 does not emit), signed and unsigned', () => {
    const b = new BtfBuilder();
    b.enum64('big', 8, [['BX', 1n << 40n], ['BMAX', (1n << 64n) - 1n]]);
    b.enum64('sbig', 8, [['SNEG', -5n]], true);
    const btf = Btf.parse(b.build());
    assert.deepEqual(btf.type(1), { id: 1, kind: 'ENUM64', name: 'big', size: 8, signed: false, values: [{ name: 'BX', value: 1n << 40n }, { name: 'BMAX', value: (1n << 64n) - 1n }] });
    assert.deepEqual(btf.type(2), { id: 2, kind: 'ENUM64', name: 'sbig', size: 8, signed: true, values: [{ name: 'SNEG', value: -5n }] });
    assert.equal(btf.find('enum big').id, 1);
  });

  it('reads old-style bitfields (INT with bits and offset, no kind_flag) and FWD unions', () => {
    const b = new BtfBuilder();
    const i3 = b.int('int', 4, { signed: true, bits: 3, offset: 0 });
    b.struct('old', 4, [['x', i3, 5]]);
    b.fwd('later', true);
    const btf = Btf.parse(b.build());
    const old = btf.find('struct old') as BtfStruct;
    assert.deepEqual(old.members, [{ name: 'x', type: i3, bitOffset: 5, bitSize: 0 }]);
    assert.deepEqual(btf.type(3), { id: 3, kind: 'FWD', name: 'later', union: true });
    assert.equal(btf.typeName(3), 'union later');
  });
});

describe('malformed input', () => {
  const elf = fs.readFileSync(KINDS);
  const patch = (buf: Buffer, f: (b: Buffer) => void) => {
    const c = Buffer.from(buf);
    f(c);
    return c;
  };

  it('refuses what is not ELF or BTF, naming what was expected', () => {
    assert.throws(() => Btf.parse(Buffer.from('hello world, this is not BTF at all')), (e: unknown) =>
      e instanceof BtfParseError && /bad BTF magic/.test(e.message) && /raw BTF/.test(e.hint ?? '') && e.offset === 0);
    assert.throws(() => Btf.parse(Buffer.alloc(3)), isParseError(/shorter than its 24-byte header/));
    assert.throws(() => Btf.parse('x' as unknown as Uint8Array), BpfArgumentError);
  });

  it('refuses ELF files it cannot read', () => {
    assert.throws(() => Btf.parse(elf.subarray(0, 40)), isParseError(/truncated ELF header/));
    assert.throws(() => Btf.parse(patch(elf, (b) => void (b[4] = 1))), isParseError(/ELF class 1 is not ELFCLASS64/));
    assert.throws(() => Btf.parse(patch(elf, (b) => void (b[5] = 2))), isParseError(/big-endian ELF/));
    assert.throws(() => Btf.parse(elf.subarray(0, 4096)), isParseError(/runs past the end/));
  });

  it('says that an object without .BTF needs clang -g', () => {
    const btf = Btf.parse(elf);
    const sec = btf.elf!.section('.BTF')!;
    // Rename the section: the name table holds ".BTF\0"; make it ".BTX".
    const noBtf = patch(elf, (b) => {
      const shstr = btf.elf!.sections[b.readUInt16LE(62)];
      const at = b.indexOf('.BTF\0', shstr.offset);
      b.write('.BTX', at);
    });
    assert.ok(sec);
    assert.throws(() => Btf.parse(noBtf), (e: unknown) => e instanceof BtfParseError && /no \.BTF section/.test(e.message) && /clang -g/.test(e.hint ?? ''));
  });

  it('refuses truncated, inconsistent or unknown BTF with the place', () => {
    const good = (() => {
      const b = new BtfBuilder();
      const int = b.int('int', 4, { signed: true });
      b.struct('s', 4, [['a', int, 0]]);
      return b.build();
    })();
    assert.doesNotThrow(() => Btf.parse(good));
    assert.throws(() => Btf.parse(patch(good, (b) => b.writeUInt16LE(0x9feb, 0))), (e: unknown) => e instanceof BtfParseError && /big-endian/.test(e.hint ?? ''));
    assert.throws(() => Btf.parse(patch(good, (b) => void (b[2] = 2))), isParseError(/BTF version 2 is not supported/));
    assert.throws(() => Btf.parse(patch(good, (b) => b.writeUInt32LE(1000, 12))), isParseError(/type section .* runs past/));
    assert.throws(() => Btf.parse(patch(good, (b) => b.writeUInt32LE(1000, 20))), isParseError(/string section .* runs past/));
    // The struct's 12-byte member cut off: types end 4 bytes early.
    const cut = patch(good, (b) => b.writeUInt32LE(b.readUInt32LE(12) - 4, 12));
    assert.throws(() => Btf.parse(cut), isParseError(/BTF type 2 is truncated/));
    // Kind 31 does not exist.
    assert.throws(() => Btf.parse(patch(good, (b) => b.writeUInt32LE((31 << 24) >>> 0, 24 + 4))), isParseError(/BTF type 1 has unknown kind 31/));
    // A name offset past the string table.
    assert.throws(() => Btf.parse(patch(good, (b) => b.writeUInt32LE(5000, 24))), isParseError(/string offset 5000 is past/));
  });

  it('refuses references to types that do not exist, bitfields outside their struct, and bad DATASECs', () => {
    const dangling = new BtfBuilder();
    dangling.ptr(42);
    assert.throws(() => Btf.parse(dangling.build()), isParseError(/BTF type 1 \(PTR\): its type refers to type 42, but there are only 2 types/));
    const outside = new BtfBuilder();
    const u = outside.int('unsigned int', 4);
    outside.struct('s', 4, [['x', u, 30, 5]]);
    assert.throws(() => Btf.parse(outside.build()), isParseError(/bitfield 'x' \(5 bits at bit 30\) lies outside its 4 bytes/));
    const sec = new BtfBuilder();
    const i = sec.int('int', 4);
    sec.datasec('.data', 4, [[i, 0, 4]]);
    assert.throws(() => Btf.parse(sec.build()), isParseError(/lists type 1, a INT, not a VAR/));
    const badInt = new BtfBuilder();
    badInt.int('odd', 1, { bits: 12 });
    assert.throws(() => Btf.parse(badInt.build()), isParseError(/12 bits at bit 0 do not fit in 1 bytes/));
  });

  it('stops at a typedef loop instead of hanging', () => {
    const b = new BtfBuilder();
    b.typedef('a', 2);
    b.typedef('b', 1);
    const btf = Btf.parse(b.build());
    assert.throws(() => btf.resolve(1), isParseError(/loops/));
  });
});
