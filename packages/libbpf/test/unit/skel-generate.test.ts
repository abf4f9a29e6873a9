// generateSkeleton without a kernel: the module for skel_kinds.bpf.o type-checks under the
// strictest settings (CommonJS and nodenext ESM), its codecs decode what clang laid out,
// names come from C (with TSDoc saying from where), awkward C names are made safe, and
// huge BTF (this machine's vmlinux) is handled in seconds.
import { describe, it, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Btf } from '../../src/btf/btf';
import { btfCodec } from '../../src/btf/codec';
import * as codecSupportModule from '../../src/btf/codec-support';
import { BpfArgumentError } from '../../src/errors';
import * as mapModule from '../../src/map';
import { generateSkeleton } from '../../src/skel/generate';
import * as runtimeModule from '../../src/skel/runtime';
import { BtfBuilder } from '../support/btf-builder';
import { installFakeNative } from '../support/fake-native';
import { consumerDir, runModule, STRICTER, tsc } from '../support/skel-harness';

installFakeNative(); // the generator must not touch the addon

const KINDS = path.resolve(__dirname, '../../../test/fixtures/obj/skel_kinds.bpf.o');
const VMLINUX = '/sys/kernel/btf/vmlinux';
/** The package's addon-free parts, standing in for it when running generated code. */
const LIB = { ...codecSupportModule, ...runtimeModule, ...mapModule };
const OPTIONS = { strings: ['name', 'kinds.names'], records: { ring: 'struct kinds', perf: 'inner' } };

/** Every built BTF name TypeScript cannot take as is, and ENUM64. */
function awkwardBtf(): Buffer {
  const b = new BtfBuilder();
  const u32 = b.int('unsigned int', 4);
  const u64 = b.int('long long unsigned int', 8);
  b.struct('module', 4, [['default', u32, 0]]);
  b.struct('delete', 8, [['__proto__', u64, 0]]);
  b.enum('mode', 4, [['size', 1], ['decode', 2], ['OK', 3]]);
  b.enum64('wide', 8, [['W_BIG', 1n << 50n], ['W_ONE', 1n]]);
  const open = b.struct('Buffer', 4, [['x', u32, 0]]);
  b.struct('Buffer', 8, [['y', u64, 0]]); // a second struct of the same name (two CUs)
  b.struct('holder', 12, [['b', open, 0], ['u', b.struct('', 8, [['a', u32, 0], ['c', u64, 0]], true), 32]]);
  b.typedef('anon_t', b.struct('', 4, [['v', u32, 0]]));
  return b.build();
}

describe('generateSkeleton', () => {
  let kinds: string;
  let lib: ReturnType<typeof runModule>;
  before(() => {
    kinds = generateSkeleton(KINDS, OPTIONS);
    lib = runModule(kinds, LIB);
  });

  it('writes a module that type-checks under the strictest settings, CommonJS and nodenext ESM', () => {
    const dir = consumerDir();
    fs.writeFileSync(path.join(dir, 'kinds.ts'), kinds);
    fs.writeFileSync(path.join(dir, 'kinds.mts'), generateSkeleton(KINDS, { ...OPTIONS, embed: true }));
    fs.writeFileSync(path.join(dir, 'awkward.ts'), generateSkeleton(awkwardBtf()));
    // A consumer's use of it: the types must be the C ones.
    fs.writeFileSync(path.join(dir, 'use.ts'), `import { open, color, kinds, inner, type SkelKinds } from './kinds';
export function run(): bigint {
  const o = open();
  o.rodata.limit = 3;
  o.rodata.config = { x: 1, y: -1, z: 2 };
  const s: SkelKinds = o.load();
  s.maps.ring.ringBuffer((k: kinds) => void k.flags.e.toString(16));
  s.maps.perf.perfBuffer((r) => void (r.data.z + r.cpu));
  const v = s.maps.by_inner.lookup({ x: 1, y: 2, z: 3 });
  const c: color | undefined = s.maps.colors.lookup(1);
  const perCpu: inner[] | undefined = s.maps.per_cpu.lookup(0);
  s.bss.counter = 5n;
  const name: string | undefined = v?.name;
  void [c, perCpu, name, inner.size, color.GREEN, color.decode(Buffer.alloc(4))];
  return s.bss.counter + s.data.sample.u64;
}
// Members of an anonymous union are optional on the way in, as in a C initialiser.
export function onlyOne(k: kinds): Buffer {
  const { as_u32, as_f32, ...rest } = k;
  void as_f32;
  return kinds.encode({ ...rest, as_u32 });
}
`);
    tsc(dir, ['kinds.ts', 'awkward.ts', 'use.ts'], ['--noEmit', '--module', 'commonjs', ...STRICTER]);
    tsc(dir, ['kinds.mts'], ['--noEmit', '--module', 'nodenext', ...STRICTER]);
    // What the consumer must not be able to do.
    fs.writeFileSync(path.join(dir, 'misuse.ts'), `import { open } from './kinds';
const s = open().load();
s.rodata.limit = 3;
`);
    assert.throws(() => tsc(dir, ['misuse.ts'], ['--noEmit', '--module', 'commonjs']), /Cannot assign to 'limit' because it is a read-only property/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives codecs that decode and encode what clang laid out, as the run-time codecs do', () => {
    const btf = Btf.fromFile(KINDS);
    const data = btf.datasecs.find((d) => d.name === '.data')!;
    const bytes = btf.elf!.data(btf.elf!.section('.data')!).subarray(0, data.vars[0].size);
    const generated = lib.kinds as codecSupportModule.Codec<Record<string, unknown>>;
    const runtime = btfCodec<Record<string, unknown>>(btf, 'struct kinds', { strings: OPTIONS.strings });
    assert.deepEqual(generated.decode(bytes), runtime.decode(bytes));
    assert.equal(generated.decode(bytes).name, 'skel-kinds');
    assert.ok(generated.encode(generated.decode(bytes)).equals(bytes));
    assert.equal(generated.size, 448);
    assert.equal(generated.typeName, 'struct kinds');
    assert.throws(() => generated.encode({ ...generated.decode(bytes), u16: -1 }), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'kinds.u16');
  });

  it('makes each C enum a TS enum that is its own codec', () => {
    const color = lib.color as Record<string | number, unknown> & codecSupportModule.Codec<number>;
    assert.equal(color.GREEN, 5);
    assert.equal(color[5], 'GREEN');
    assert.equal(color.BLUE, 4294967295);
    assert.equal(color.size, 4);
    assert.equal(color.decode(Buffer.from([5, 0, 0, 0])), 5);
    assert.deepEqual(color.encode(5), Buffer.from([5, 0, 0, 0]));
    assert.equal((lib.tiny as { size: number }).size, 1);
  });

  it('carries TSDoc naming the C declaration of every export', () => {
    const lines = kinds.split('\n');
    lines.forEach((l, i) => {
      if (!/^export /.test(l)) return;
      assert.match(lines[i - 1] ?? '', /\*\/$/, `no TSDoc before line ${i + 1}: ${l}`);
    });
    assert.match(kinds, /\/\*\* `struct kinds` \(448 bytes, BTF type \d+\)\. \*\/\nexport interface kinds \{/);
    assert.match(kinds, /\/\*\* `char name\[16\];` at byte 141\. \*\/\n {2}name: string;/);
    assert.match(kinds, /\/\*\* `unsigned int c: 12;` at bit 8\. \*\/\n {2}c: number;/);
    assert.match(kinds, /\/\*\* `__u16 anon_a;` at byte 240 \(member of an anonymous struct or union\)\. \*\//);
    assert.match(kinds, /\/\*\* `const volatile struct inner config;` \(8 bytes at 0 of \.rodata\)\. \*\/\n {2}config: inner;/);
    assert.match(kinds, /\/\*\* `emit`, `SEC\("raw_tp"\)`\. \*\//);
    assert.match(kinds, /`typedef struct \{\.\.\.\} tagged_t`/);
  });

  it('types the maps by their BTF: hash, per-CPU, ring and perf with the named records, raw otherwise', () => {
    assert.match(kinds, /readonly by_inner: \$TypedMap<inner, kinds>;/);
    assert.match(kinds, /readonly colors: \$TypedMap<number, color>;/);
    assert.match(kinds, /readonly per_cpu: \$PerCpuTypedMap<number, inner>;/);
    assert.match(kinds, /readonly ring: \$RingBufferMap<kinds>;/);
    assert.match(kinds, /readonly perf: \$PerfBufferMap<inner>;/);
    assert.match(generateSkeleton(KINDS), /readonly ring: \$RingBufferMap<Buffer>;/);
    assert.match(kinds, /\n {2}seen: number\[\];/);
    assert.match(kinds, /\n {2}scratch: value;/);
  });

  it('imports the package\'s public entry only', () => {
    const imports = [...kinds.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(imports)], ['@bpf-sync-timer/libbpf']);
    assert.doesNotMatch(kinds, /require\(/);
  });

  it('embeds the object with --embed, or records where it is', () => {
    const embedded = generateSkeleton(KINDS, { embed: true });
    const b64 = /Buffer\.from\('([A-Za-z0-9+/=]+)', 'base64'\)/.exec(embedded);
    assert.ok(b64);
    assert.ok(Buffer.from(b64[1], 'base64').equals(fs.readFileSync(KINDS)));
    assert.doesNotMatch(embedded, /objectPath/);
    assert.match(kinds, new RegExp(`export const objectPath: string = '${KINDS.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}';`));
    assert.match(generateSkeleton(KINDS, { objectPath: 'obj/k.o' }), /export const objectPath: string = 'obj\/k\.o';/);
    assert.throws(() => generateSkeleton(fs.readFileSync(KINDS)), /pass objectPath .* or embed: true/);
    assert.match(generateSkeleton(fs.readFileSync(KINDS), { embed: true, name: 'other' }), /export interface OpenOther \{/);
  });

  it('makes awkward C names safe: keywords, module-level names, globals, duplicates, codec members', () => {
    const src = generateSkeleton(awkwardBtf());
    assert.match(src, /export interface module_ \{\n {2}\/\*\* `unsigned int default;` at byte 0\. \*\/\n {2}default: number;/);
    assert.match(src, /export interface delete_ \{/);
    assert.match(src, /'__proto__': bigint;/);
    assert.match(src, /export interface Buffer_ \{/);
    assert.match(src, /export interface Buffer_struct \{/);
    assert.match(src, /export enum mode \{/);
    assert.match(src, /export const modeCodec: \$Codec<mode> =/, 'an enumerator named size keeps the codec apart');
    assert.match(src, /export type wide = bigint;/);
    assert.match(src, /export interface anon_t \{/);
    assert.doesNotMatch(src, /export function open/, 'raw BTF: types and codecs only');
    const m = runModule(src, LIB);
    const delete_ = m.delete_ as codecSupportModule.Codec<Record<string, bigint>>;
    const v = delete_.decode(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 1n, '__proto__ is an own property, not the prototype');
    assert.equal((m.wide as Record<string, unknown>).W_BIG, 1n << 50n);
    assert.equal((m.wide as codecSupportModule.Codec<bigint>).decode(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])), 1n);
    assert.equal((m.mode as Record<string, number>).size, 1);
    const holder = m.holder as codecSupportModule.Codec<{ b: { x: number }; u: { a: number; c: bigint } }>;
    assert.deepEqual(holder.decode(holder.encode({ b: { x: 7 }, u: { a: 1, c: 2n } })), { b: { x: 7 }, u: { a: 2, c: 2n } });
  });

  it('restricts the types to those named with types, and what they contain by value', () => {
    const src = generateSkeleton(KINDS, { types: ['struct inner'] });
    assert.match(src, /export interface inner \{/);
    // kinds is a map value and a global: it stays; value is inside kinds.
    assert.match(src, /export interface kinds \{/);
    assert.match(src, /export interface value \{/);
    const b = new BtfBuilder();
    const u32 = b.int('unsigned int', 4);
    const leaf = b.struct('leaf', 4, [['x', u32, 0]]);
    const pointed = b.struct('pointed', 4, [['y', u32, 0]]);
    b.struct('root', 16, [['l', leaf, 0], ['p', b.ptr(pointed), 64]]);
    b.struct('other', 4, [['z', u32, 0]]);
    const only = generateSkeleton(b.build(), { types: ['root'] });
    assert.deepEqual([...only.matchAll(/export interface (\w+)/g)].map((m) => m[1]), ['leaf', 'root'], 'no pointee, no other');
    assert.throws(() => generateSkeleton(b.build(), { types: ['unsigned int'] }), /not a named struct, union or enum/);
  });

  it('refuses unknown options and records for maps that cannot have them', () => {
    assert.throws(() => generateSkeleton(KINDS, { embedd: true } as never), /unknown option 'embedd' of generateSkeleton/);
    assert.throws(() => generateSkeleton(KINDS, { records: { nope: 'inner' } }), /the object has no map 'nope' \(maps: ring, perf, by_inner, colors, per_cpu\)/);
    assert.throws(() => generateSkeleton(KINDS, { records: { by_inner: 'inner' } }), /map 'by_inner' is BPF_MAP_TYPE_HASH; record types are for RINGBUF and PERF_EVENT_ARRAY maps/);
    assert.throws(() => generateSkeleton(KINDS, { records: { ring: 'struct nope' } }), /no struct named 'nope'/);
    assert.throws(() => generateSkeleton(KINDS, { name: '9lives' }), /'9lives' is not a usable name/);
    assert.throws(() => generateSkeleton(42 as never), /expected the path of a BPF object/);
  });

  it('handles this machine\'s whole vmlinux BTF in seconds, and one of its types in a fraction',
    { skip: !fs.existsSync(VMLINUX) && `${VMLINUX} does not exist on this kernel` }, () => {
      let start = process.hrtime.bigint();
      const one = generateSkeleton(VMLINUX, { types: ['struct task_struct'] });
      const oneMs = Number(process.hrtime.bigint() - start) / 1e6;
      assert.match(one, /export interface task_struct \{/);
      assert.ok(oneMs < 3000, `task_struct took ${oneMs.toFixed(0)} ms`);
      start = process.hrtime.bigint();
      const all = generateSkeleton(VMLINUX);
      const allMs = Number(process.hrtime.bigint() - start) / 1e6;
      assert.ok(allMs < 15000, `all of vmlinux took ${allMs.toFixed(0)} ms`);
      assert.ok((all.match(/^export interface /gm) ?? []).length > 5000);
      // Run it: every codec compiles, and decodes zeros.
      const m = runModule(one, LIB);
      const task = m.task_struct as codecSupportModule.Codec<Record<string, unknown>>;
      assert.equal(task.decode(Buffer.alloc(task.size)).pid, 0);
    });
});
