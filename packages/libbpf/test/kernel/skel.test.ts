// bpf-skel against the kernel: a generated module, type-checked with tsc --strict and
// compiled like a consumer's, loads its object and reads typed values the program wrote to
// every kind of map, buffer and global; the TypeScript BTF reader's DATASEC fix-ups agree
// with libbpf's; and a collector nobody here would write by hand (vmlinux.h generated from
// this kernel, CO-RE, task storage, perf output) goes through the same steps.
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Btf, BpfArgumentError, BpfObject, bpfIncludeDir, generateSkeleton, MapType, TypedMap, btfCodec } from '../../src/index';
import { consumerDir, tsc } from '../support/skel-harness';
import { fixture, requireRoot, waitFor } from './helpers';

requireRoot();

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

/** Writes `source` as `name`.ts in `dir`, compiles it with tsc --strict (CommonJS) and requires it. */
function compile<T>(dir: string, name: string, source: string): T {
  fs.writeFileSync(path.join(dir, `${name}.ts`), source);
  tsc(dir, [`${name}.ts`], ['--module', 'commonjs', '--outDir', 'out', '--noUnusedLocals', '--noUncheckedIndexedAccess']);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(dir, 'out', `${name}.js`)) as T;
}

interface Inner { x: number; y: number; z: number }
interface Kinds { name: string; names: string[]; u64: bigint; s128: bigint; inners: Inner[]; flags: { b: number; e: bigint; s: bigint }; pb: { x: number }; color: number }
interface KindsModule {
  open(options?: { object?: string | Buffer }): {
    rodata: { limit: number; config: Inner; label: Uint8Array };
    data: { id: bigint; sample: Kinds };
    bss: { counter: bigint };
    load(): {
      rodata: { readonly limit: number; readonly config: Inner };
      data: { id: bigint; sample: Kinds };
      bss: { counter: bigint; seen: number[]; last: Kinds };
      maps: {
        ring: { ringBuffer(cb: (k: Kinds) => void): { consume(): number; close(): void } };
        perf: { perfBuffer(cb: (r: { cpu: number; data: Inner }) => void): { consume(): number; close(): void } };
        by_inner: { lookup(k: Inner): Kinds | undefined; keys(): IterableIterator<Inner>; update(k: Inner, v: Kinds): void };
        colors: { lookup(k: number): number | undefined };
        per_cpu: { lookup(k: number): Inner[] | undefined };
      };
      programs: { emit: { testRun(o?: object): { retval: number } } };
      close(): void;
    };
    close(): void;
  };
  color: Record<string, number> & Record<number, string>;
}

describe('a generated module for skel_kinds.bpf.o', () => {
  let dir: string;
  let mod: KindsModule;
  before(() => {
    dir = consumerDir();
    const source = generateSkeleton(fixture('skel_kinds'), { embed: true, strings: ['name', 'kinds.names'], records: { ring: 'kinds', perf: 'inner' } });
    mod = compile<KindsModule>(dir, 'kinds', source);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sets .rodata and .data through codecs before load, and the program sees them', () => {
    const open = mod.open();
    assert.equal(open.data.sample.name, 'skel-kinds', 'initial values read from the open object');
    open.rodata.limit = 77;
    open.rodata.config = { x: 3, y: -4, z: 5 };
    open.data.id = 99n;
    const skel = open.load();
    try {
      assert.deepEqual(skel.rodata.config, { x: 3, y: -4, z: 5 });
      assert.equal(skel.rodata.limit, 77);
      const ring: Kinds[] = [];
      const perf: Array<{ cpu: number; data: Inner }> = [];
      const rb = skel.maps.ring.ringBuffer((k) => ring.push(k));
      const pb = skel.maps.perf.perfBuffer((r) => perf.push(r));
      assert.equal(skel.programs.emit.testRun().retval, 0);
      rb.consume();
      pb.consume();
      assert.equal(ring.length, 1);
      assert.deepEqual(ring[0], skel.data.sample, 'the ring record is the sample the program copied');
      assert.equal(ring[0].name, 'skel-kinds');
      assert.deepEqual(ring[0].names, ['alpha', 'beta']);
      assert.equal(ring[0].flags.e, 0xabcdef1234n);
      assert.equal(ring[0].flags.s, -4294967296n);
      assert.equal(ring[0].pb.x, 0x7ffffffe);
      assert.equal(ring[0].s128, -(1n << 100n));
      assert.deepEqual(perf.map((r) => r.data), [{ x: 3, y: -4, z: 5 }], 'the perf sample is the config set before load');
      const key = { x: 11, y: -12, z: 13 };
      assert.deepEqual([...skel.maps.by_inner.keys()], [key]);
      assert.equal(skel.maps.by_inner.lookup(key)?.u64, 0xfedcba9876543210n);
      assert.equal(skel.maps.colors.lookup(1), mod.color.GREEN);
      assert.equal(mod.color[skel.maps.colors.lookup(1)!], 'GREEN');
      const perCpu = skel.maps.per_cpu.lookup(0);
      assert.ok(perCpu && perCpu.length >= 1);
      assert.ok(perCpu.some((v) => v.z === 77 && v.y === -1), 'one CPU ran it, with the limit set before load');
      assert.equal(skel.bss.counter, 1n);
      assert.deepEqual(skel.bss.seen, [99, 0, 0, 0], '.data id as set before load');
      assert.deepEqual(skel.bss.last, skel.data.sample);
      rb.close();
      pb.close();
    } finally {
      skel.close();
    }
  });

  it('writes .bss, .data and maps after load, and the program works on those values', () => {
    const skel = mod.open().load();
    try {
      skel.bss.counter = 41n;
      skel.data.id = 7n;
      const sample = skel.data.sample;
      skel.data.sample = { ...sample, inners: [{ x: 1, y: 2, z: 3 }, sample.inners[1]!] };
      skel.programs.emit.testRun();
      assert.equal(skel.bss.counter, 42n);
      assert.equal(skel.bss.seen[41 & 3], 7);
      assert.equal(skel.maps.by_inner.lookup({ x: 1, y: 2, z: 3 })?.inners[0]?.z, 3, 'the program keyed the hash by the new inners[0]');
      assert.throws(() => {
        (skel.rodata as { limit: number }).limit = 1;
      }, TypeError, '.rodata is read-only after load');
    } finally {
      skel.close();
    }
  });

  it('refuses to open an object with other maps and globals than it was generated for', () => {
    assert.throws(() => mod.open({ object: fixture('basic') }), (e: unknown) =>
      e instanceof BpfArgumentError && /this object does not match the module generated from skel_kinds\.bpf\.o: it has no map 'ring'/.test(e.message) &&
      /Run bpf-skel on the object again/.test(e.message));
  });

  it('TypedMap refuses codecs of another size than the map', () => {
    using obj = BpfObject.open(fixture('skel_kinds')).load();
    const btf = Btf.fromFile(fixture('skel_kinds'));
    assert.throws(() => new TypedMap(obj.map('colors'), btfCodec(btf, '__u64'), btfCodec(btf, 'enum color')),
      /'colors' has 4-byte keys, but the codec is for __u64 \(8 bytes\)/);
    assert.throws(() => new TypedMap(obj.map('per_cpu'), btfCodec(btf, '__u32'), btfCodec(btf, 'struct inner')), /per-CPU: use PerCpuTypedMap/);
  });
});

describe('the BTF reader and libbpf', () => {
  it('agree on every global\'s section, offset and size in every fixture object', () => {
    const files = fs.readdirSync(path.join(FIXTURES, 'obj')).filter((f) => f.endsWith('.bpf.o'));
    assert.ok(files.length >= 5);
    for (const f of files) {
      const file = path.join(FIXTURES, 'obj', f);
      const btf = Btf.fromFile(file);
      using open = BpfObject.open(file);
      for (const [section, globals] of [['.rodata', open.rodata], ['.data', open.data], ['.bss', open.bss]] as const) {
        const d = btf.datasecs.find((x) => x.name === section);
        const mine = (d?.vars ?? []).map((v) => ({ name: btf.type(v.type).name, offset: v.offset, size: v.size }));
        const libbpf = globals.names.map((n) => ({ name: n, offset: globals.describe(n).offset, size: globals.describe(n).size }));
        assert.deepEqual(mine, libbpf, `${f} ${section}`);
      }
      const maps = open.maps.filter((m) => !/\.(bss|data|rodata|kconfig)/.test(m.name)).map((m) => m.name);
      assert.deepEqual(btf.datasecs.find((x) => x.name === '.maps')?.vars.map((v) => btf.type(v.type).name) ?? [], maps, `${f} maps`);
    }
  });
});

describe('a collector built against this kernel\'s vmlinux.h', () => {
  interface CallEvent { kind: number; tgid: number; pid: number; ppid: number; ts_ns: bigint; first_seen_ns: bigint; calls: number; switches: number; comm: string }
  interface CollectorModule {
    open(): {
      rodata: { target_tgid: number };
      load(): {
        maps: { events: { perfBuffer(cb: (r: { cpu: number; data: CallEvent }) => void): { close(): void; lost: number } }; stats: { map: { type: number } } };
        bss: { calls_seen: bigint };
        attachAll(): unknown[];
        close(): void;
      };
    };
    event_kind: Record<string, number>;
  }
  let dir: string;
  let object: string;
  let source: string;
  let generateMs: number;
  before(() => {
    dir = consumerDir();
    const header = spawnSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(header.status, 0, `bpftool (apt-get install bpftool) could not write vmlinux.h: ${header.error?.message ?? header.stderr}`);
    fs.writeFileSync(path.join(dir, 'vmlinux.h'), header.stdout);
    object = path.join(dir, 'collector.bpf.o');
    const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
    const cc = spawnSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${arch}`, '-I', dir, '-I', bpfIncludeDir,
      '-c', path.join(FIXTURES, 'skel', 'collector.bpf.c'), '-o', object], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `clang: ${cc.error?.message ?? cc.stderr}`);
    const start = process.hrtime.bigint();
    source = generateSkeleton(object, { strings: ['comm'], records: { events: 'struct call_event' } });
    generateMs = Number(process.hrtime.bigint() - start) / 1e6;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is generated quickly from its large BTF, every kernel type pulled in by CO-RE included', () => {
    const btf = Btf.fromFile(object);
    assert.ok(btf.types.length > 300, `${btf.types.length} types`);
    assert.ok(generateMs < 2000, `generation took ${generateMs.toFixed(0)} ms`);
    assert.match(source, /export interface task_struct \{/);
    assert.match(source, /export interface call_event \{/);
    assert.match(source, /readonly stats: \$TypedMap<number, task_stats>;/);
    assert.match(source, /readonly events: \$PerfBufferMap<call_event>;/);
  });

  it('type-checks strictly, loads, and decodes the records its programs send', async () => {
    const mod = compile<CollectorModule>(dir, 'collector', source);
    const ppid = process.ppid; // (a getppid(2), before attaching)
    const open = mod.open();
    open.rodata.target_tgid = process.pid;
    const skel = open.load();
    try {
      assert.equal(skel.maps.stats.map.type, MapType.TASK_STORAGE);
      skel.attachAll();
      const got: CallEvent[] = [];
      const pb = skel.maps.events.perfBuffer((r) => got.push(r.data));
      for (let i = 0; i < 3; i++) void process.ppid; // one getppid(2) each
      await waitFor(() => got.length >= 3, () => `${got.length} records, calls_seen ${skel.bss.calls_seen}`);
      pb.close();
      const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();
      assert.deepEqual(got.map((e) => e.calls), [1, 2, 3], 'task storage counts the calls');
      for (const e of got) {
        assert.equal(e.kind, mod.event_kind.EVENT_CALL);
        assert.equal(e.tgid, process.pid);
        assert.equal(e.pid, process.pid, 'the main thread');
        assert.equal(e.ppid, ppid, 'CO-RE read of real_parent->tgid');
        assert.equal(e.comm, comm);
        assert.ok(e.ts_ns >= e.first_seen_ns && e.first_seen_ns > 0n);
      }
      assert.equal(skel.bss.calls_seen, 3n);
    } finally {
      skel.close();
    }
  });
});
