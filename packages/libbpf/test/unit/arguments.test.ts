// Argument checks of the public API that need no kernel and no privileges: opening an
// ELF object and its pre-load setters touch no BPF syscall.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  BpfArgumentError, BpfError, BpfObject, PerfBuffer, RingBuffer, checkCpuRuns, closeFd, dupFd, mapTypeName,
  perfEventOpen, programTypeName, runOnCpus, type BpfMap, type BpfProgram,
} from '../../src/index';

const BASIC = path.resolve(__dirname, '../../../test/fixtures/obj/basic.bpf.o');

function argError(argument: string, message?: RegExp) {
  return (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && e.code === 'ERR_BPF_INVALID_ARG' &&
    (!message || message.test(e.message));
}

describe('BpfObject.open arguments', () => {
  it('wants a path or a Buffer', () => {
    assert.throws(() => BpfObject.open(42 as unknown as string), argError('pathOrBuffer'));
  });
  it('reports a missing file as ENOENT of bpf_object__open, with the absolute path', () => {
    assert.throws(() => BpfObject.open('no/such.bpf.o'), (e: unknown) =>
      e instanceof BpfError && e.op === 'bpf_object__open' && e.code === 'ENOENT' && e.message.includes(path.resolve('no/such.bpf.o')));
  });
  it('validates the options', () => {
    assert.throws(() => BpfObject.open(BASIC, null as unknown as object), argError('options'));
    assert.throws(() => BpfObject.open(BASIC, { objectName: '' }), argError('objectName'));
    assert.throws(() => BpfObject.open(BASIC, { logLevel: 9 }), argError('logLevel'));
    assert.throws(() => BpfObject.open(BASIC, { logLevel: 1.5 }), argError('logLevel'));
    assert.throws(() => BpfObject.open(BASIC, { btfCustomPath: '/no/such/btf' }), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT');
  });
  it('names the object after the file, or after objectName', () => {
    using a = BpfObject.open(BASIC);
    assert.equal(a.name, 'basic');
    using b = BpfObject.open(BASIC, { objectName: 'other' });
    assert.equal(b.name, 'other');
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
  });
  it('apply what they set to the listing', () => {
    using open = BpfObject.open(BASIC);
    open.map('hash').setMaxEntries(4);
    assert.equal(open.map('hash').maxEntries, 4);
    open.program('whoami').setAutoload(false);
    assert.equal(open.program('whoami').autoload, false);
    assert.equal(open.programs.find((p) => p.name === 'whoami')?.autoload, false);
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
  });
});

describe('other entry points', () => {
  it('buffers want a map of a loaded object', () => {
    assert.throws(() => new RingBuffer({} as BpfMap), argError('map'));
    assert.throws(() => new PerfBuffer(undefined as unknown as BpfMap), argError('map'));
  });
  it('runOnCpus wants a loaded program', async () => {
    await assert.rejects(runOnCpus({} as BpfProgram, [0]), argError('program'));
  });
  it('fd helpers want fds', () => {
    assert.throws(() => perfEventOpen(null as unknown as { type: number; config: number }), argError('attr'));
    assert.throws(() => perfEventOpen({ type: 1, config: 0 }, { cpu: 0.5 }), argError('pid/cpu'));
    assert.throws(() => dupFd(-1), argError('fd'));
    assert.throws(() => closeFd(1.5), argError('fd'));
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
