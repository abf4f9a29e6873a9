// Argument checks of the public API over a fake addon that lists what libbpf lists for
// basic.bpf.o: every check must hold before any call into libbpf (the fake records each
// call and throws on any it was not scripted for), so no libbpf, kernel or root is needed.
// The same entry points on the real basic.bpf.o: test/kernel/open-phase.test.ts.
import { after, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MapType, ProgramType, mapTypeName, programTypeName } from '../../src/constants';
import { BpfArgumentError, BpfError } from '../../src/errors';
import { BtfKind } from '../../src/globals';
import { setLogger, type LogLevel } from '../../src/log';
import type { BpfMap } from '../../src/map';
import type { NativeMapInfo, NativeProgramInfo } from '../../src/native';
import { BpfObject } from '../../src/object';
import { PerfBuffer } from '../../src/perf-buffer';
import { checkCpuRuns, runOnCpus, type BpfProgram } from '../../src/program';
import { RingBuffer } from '../../src/ring-buffer';
import { dupFd, perfEventOpen, writeAtExit } from '../../src/sys';
import { installFakeNative, type FakeObjectSpec } from '../support/fake-native';
import { objectBytes } from '../support/object-bytes';

// open() checks the file's ELF structure; the fake reads nothing from it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libbpf-unit-'));
const BASIC = path.join(dir, 'basic.bpf.o');
fs.writeFileSync(BASIC, objectBytes);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function map(name: string, type: number, valueSize: number, maxEntries: number, internal = false): NativeMapInfo {
  return { name, type, keySize: 4, valueSize, maxEntries, flags: 0, internal, autocreate: true };
}

function prog(name: string, type: number = ProgramType.SYSCALL, section = 'syscall'): NativeProgramInfo {
  return { name, section, type, expectedAttachType: 0, autoload: true };
}

// basic.bpf.c's globals: const volatile __u32 multiplier = 1, target_pid; const volatile
// __s16 signed_small = -5; const volatile char label[8] = "fixture"; __u64 data_value = 42;
// __u64 bss_value, tp_hits.
const BTF: FakeObjectSpec['btf'] = {
  1: { kind: BtfKind.INT, name: 'unsigned int', size: 4, signed: false, bool: false, bits: 32 },
  2: { kind: BtfKind.TYPEDEF, name: '__u32', type: 1 },
  3: { kind: BtfKind.VOLATILE, name: '', type: 2 },
  4: { kind: BtfKind.CONST, name: '', type: 3 },
  5: { kind: BtfKind.INT, name: 'short', size: 2, signed: true, bool: false, bits: 16 },
  6: { kind: BtfKind.TYPEDEF, name: '__s16', type: 5 },
  7: { kind: BtfKind.VOLATILE, name: '', type: 6 },
  8: { kind: BtfKind.CONST, name: '', type: 7 },
  9: { kind: BtfKind.INT, name: 'char', size: 1, signed: true, bool: false, bits: 8 },
  10: { kind: BtfKind.ARRAY, name: '', elemType: 9, nelems: 8 },
  11: { kind: BtfKind.VOLATILE, name: '', type: 10 },
  12: { kind: BtfKind.CONST, name: '', type: 11 },
  13: { kind: BtfKind.INT, name: 'long long unsigned int', size: 8, signed: false, bool: false, bits: 64 },
  14: { kind: BtfKind.TYPEDEF, name: '__u64', type: 13 },
};

const RODATA_INDEX = 3;

/** What libbpf lists for basic.bpf.o opened as `name` (test/kernel/object.test.ts checks the real listing). */
function basic(name: string): FakeObjectSpec {
  const rodata = Buffer.alloc(18);
  rodata.writeUInt32LE(1, 0);
  rodata.writeInt16LE(-5, 8);
  rodata.write('fixture\0', 10, 'latin1');
  const data = Buffer.alloc(8);
  data.writeBigUInt64LE(42n);
  return {
    maps: [
      map('shared', MapType.ARRAY, 8, 1), map('percpu', MapType.PERCPU_ARRAY, 8, 1), map('hash', MapType.HASH, 8, 128),
      map(`${name}.rodata`, MapType.ARRAY, 18, 1, true), map(`${name}.data`, MapType.ARRAY, 8, 1, true),
      map(`${name}.bss`, MapType.ARRAY, 16, 1, true),
    ],
    programs: [
      prog('write_shared'), prog('read_shared'), prog('times_multiplier'), prog('read_globals'), prog('whoami'),
      prog('count_getppid', ProgramType.TRACEPOINT, 'tracepoint/syscalls/sys_enter_getppid'),
    ],
    datasecs: {
      '.rodata': [
        { name: 'multiplier', typeId: 4, offset: 0, size: 4 }, { name: 'target_pid', typeId: 4, offset: 4, size: 4 },
        { name: 'signed_small', typeId: 8, offset: 8, size: 2 }, { name: 'label', typeId: 12, offset: 10, size: 8 },
      ],
      '.data': [{ name: 'data_value', typeId: 14, offset: 0, size: 8 }],
      '.bss': [{ name: 'bss_value', typeId: 14, offset: 0, size: 8 }, { name: 'tp_hits', typeId: 14, offset: 8, size: 8 }],
    },
    btf: BTF,
    images: { [`${name}.rodata`]: rodata, [`${name}.data`]: data },
  };
}

const fake = installFakeNative({ open: (_source, opts) => basic((opts as { objectName?: string }).objectName ?? 'basic') });
beforeEach(() => fake.reset());

function argError(argument: string, message?: RegExp) {
  return (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && e.code === 'ERR_BPF_INVALID_ARG' &&
    (!message || message.test(e.message));
}

/** The ops that would have reached libbpf or the kernel (listings and the log queue do not). */
function libbpfCalls(): string[] {
  return fake.ops().filter((op) => !['maps', 'programs', 'drainLog', 'close'].includes(op));
}

describe('BpfObject.open arguments', () => {
  it('wants a path or a Buffer', () => {
    assert.throws(() => BpfObject.open(42 as unknown as string), argError('pathOrBuffer'));
    assert.deepEqual(fake.calls, []);
  });
  it('reports a missing file as ENOENT of bpf_object__open, with the absolute path', () => {
    assert.throws(() => BpfObject.open('no/such.bpf.o'), (e: unknown) =>
      e instanceof BpfError && e.op === 'bpf_object__open' && e.code === 'ENOENT' && e.message.includes(path.resolve('no/such.bpf.o')));
    assert.deepEqual(fake.calls, []);
  });
  it('validates the options', () => {
    assert.throws(() => BpfObject.open(BASIC, null as unknown as object), argError('options'));
    assert.throws(() => BpfObject.open(BASIC, { objectName: '' }), argError('objectName'));
    assert.throws(() => BpfObject.open(BASIC, { logLevel: 9 }), argError('logLevel'));
    assert.throws(() => BpfObject.open(BASIC, { logLevel: 1.5 }), argError('logLevel'));
    assert.throws(() => BpfObject.open(BASIC, { btfCustomPath: '/no/such/btf' }), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT');
    assert.throws(() => BpfObject.open(BASIC, { checkStructure: 'no' as unknown as boolean }), argError('checkStructure'));
    assert.deepEqual(fake.calls, [], 'libbpf is not called with invalid options');
  });
  it('checks the structure before libbpf unless told not to', () => {
    const cut = objectBytes.subarray(0, 40);
    assert.throws(() => BpfObject.open(cut), (e: unknown) => e instanceof BpfError && e.code === 'LIBBPF_ERRNO__FORMAT');
    assert.deepEqual(fake.calls, [], 'refused before libbpf');
    // checkStructure: false hands the bytes to libbpf (here the fake, which takes anything).
    using o = BpfObject.open(cut, { checkStructure: false });
    assert.ok(fake.calls.length > 0);
  });
  it('names the object after the file, or after objectName, and hands libbpf the options', () => {
    using a = BpfObject.open(BASIC);
    assert.equal(a.name, 'basic');
    using b = BpfObject.open(BASIC, { objectName: 'other', logLevel: 2 });
    assert.equal(b.name, 'other');
    using c = BpfObject.open(objectBytes);
    assert.equal(c.name, 'object');
    // logCapture 0: the default logger takes libbpf's warnings only, the rest is not formatted
    assert.deepEqual(fake.calls.filter((call) => call.op === 'NativeObject').map((call) => call.args), [
      [BASIC, { objectName: undefined, btfCustomPath: undefined, kernelLogLevel: 0, logCapture: 0 }],
      [BASIC, { objectName: 'other', btfCustomPath: undefined, kernelLogLevel: 2, logCapture: 0 }],
      [objectBytes, { objectName: undefined, btfCustomPath: undefined, kernelLogLevel: 0, logCapture: 0 }],
    ]);
  });
  it('asks libbpf for what the logger takes: warnings for the default one, everything for a logger of the user', () => {
    fake.reset();
    fake.log(2, 'libbpf: a debug line\n');
    using a = BpfObject.open(BASIC);
    const logged: Array<[LogLevel, string]> = [];
    const previous = setLogger((level, message) => void logged.push([level, message]));
    try {
      fake.log(2, 'libbpf: another debug line\n');
      fake.log(0, 'libbpf: a warning\n');
      using b = BpfObject.open(BASIC);
    } finally {
      setLogger(previous);
    }
    assert.deepEqual(logged, [['debug', 'libbpf: another debug line\n'], ['warn', 'libbpf: a warning\n']], 'the first debug line was dropped in the addon');
    assert.deepEqual(fake.calls.filter((c) => c.op === 'NativeObject').map((c) => (c.args[1] as { logCapture: number }).logCapture), [0, 2]);
    assert.deepEqual(fake.calls.filter((c) => c.op === 'drainLog').map((c) => c.args), [[0], [2]]);
  });
});

describe('open-phase setters', () => {
  it('check their arguments before calling libbpf', () => {
    using open = BpfObject.open(BASIC);
    const shared = open.map('shared');
    assert.throws(() => shared.setMaxEntries(0), argError('maxEntries', /at least 1/));
    assert.throws(() => shared.setMaxEntries(-1), argError('maxEntries'));
    assert.throws(() => shared.setValueSize(2 ** 32), argError('valueSize'));
    assert.throws(() => shared.reuseFd(-1), argError('fd'));
    assert.throws(() => shared.reuseFd(1.5), argError('fd'));
    assert.throws(() => open.program('whoami').setAutoload('no' as unknown as boolean), argError('autoload'));
    assert.deepEqual(libbpfCalls(), ['NativeObject']);
  });
  it('apply what they set to the listing', () => {
    using open = BpfObject.open(BASIC);
    open.map('hash').setMaxEntries(4);
    assert.equal(open.map('hash').maxEntries, 4);
    open.program('whoami').setAutoload(false);
    assert.equal(open.program('whoami').autoload, false);
    assert.equal(open.programs.find((p) => p.name === 'whoami')?.autoload, false);
    assert.deepEqual(fake.calls.filter((c) => c.op.includes('Set')), [
      { op: 'mapSetMaxEntries', args: [2, 4] },
      { op: 'progSetAutoload', args: [4, false] },
    ]);
  });
  it('report unknown maps and programs with the known names', () => {
    using open = BpfObject.open(BASIC);
    assert.throws(() => open.map('nope'), (e: unknown) =>
      e instanceof BpfError && e.code === 'ENOENT' && /no map named 'nope' in BPF object 'basic' \(known: shared, percpu, hash, /.test(e.message));
    assert.throws(() => open.program('nope'), /known: write_shared, read_shared, times_multiplier, read_globals, whoami, count_getppid/);
  });
  it('read and range-check globals in the ELF image before load', () => {
    using open = BpfObject.open(BASIC);
    assert.equal(open.rodata.get('multiplier'), 1);
    assert.equal(open.rodata.get('signed_small'), -5);
    assert.equal(open.data.get('data_value'), 42n);
    assert.equal(open.bss.get('bss_value'), 0n);
    open.rodata.set('multiplier', 7);
    assert.equal(open.rodata.get('multiplier'), 7);
    assert.throws(() => open.rodata.set('multiplier', 2 ** 32), argError('multiplier', /out of range/));
    assert.throws(() => open.rodata.set('label', Buffer.alloc(3)), argError('label', /exactly 8 bytes/));
    // The one valid set went to the .rodata map's image, at multiplier's offset; the refused ones wrote nothing.
    assert.deepEqual(fake.calls.filter((c) => c.op === 'mapWriteData'), [{ op: 'mapWriteData', args: [RODATA_INDEX, 0, Buffer.from([7, 0, 0, 0])] }]);
    assert.equal(fake.objects[0].images[RODATA_INDEX].readUInt32LE(0), 7);
  });
});

describe('other entry points', () => {
  it('buffers want a map of a loaded object', () => {
    assert.throws(() => new RingBuffer({} as BpfMap), argError('map'));
    assert.throws(() => new PerfBuffer(undefined as unknown as BpfMap), argError('map'));
    assert.deepEqual(fake.calls, []);
  });
  it('runOnCpus wants a loaded program', async () => {
    await assert.rejects(runOnCpus({} as BpfProgram, [0]), argError('program'));
    assert.deepEqual(fake.calls, []);
  });
  it('fd helpers want fds', () => {
    assert.throws(() => perfEventOpen(null as unknown as { type: number; config: number }), argError('attr'));
    assert.throws(() => perfEventOpen({ type: 1, config: 0 }, { cpu: 0.5 }), argError('pid/cpu'));
    assert.throws(() => dupFd(-1), argError('fd'));
    assert.throws(() => writeAtExit('', '1'), argError('path'));
    assert.deepEqual(fake.calls, []);
  });
  it('checkCpuRuns passes clean results through and raises the first failure', () => {
    const ok = [{ cpu: 0, retval: 0, errno: 0, ctxOut: null, ranOn: 0 }];
    assert.equal(checkCpuRuns(ok), ok);
    assert.throws(() => checkCpuRuns([...ok, { cpu: 3, retval: 0, errno: 22, ctxOut: null, ranOn: -1 }]), (e: unknown) =>
      e instanceof BpfError && e.op === 'run on CPU 3' && e.code === 'EINVAL');
  });
  it('names map and program types', () => {
    assert.equal(mapTypeName(27), 'BPF_MAP_TYPE_RINGBUF');
    assert.equal(mapTypeName(999), 'BPF_MAP_TYPE_999');
    assert.equal(programTypeName(31), 'BPF_PROG_TYPE_SYSCALL');
  });
});
