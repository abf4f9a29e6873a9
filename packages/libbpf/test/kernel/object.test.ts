// Object phases and sharing: open -> load -> close, maps shared between two objects with
// reuseFd, autoload, loading from memory, and what close releases.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { BpfArgumentError, BpfObject, ClosedError, MapType, ProgramType, dupFd } from '../../src/index';
import { args, countFds, fdIsOpen, fixture, readArgs, requireRoot } from './helpers';

requireRoot();

describe('two objects sharing one map through reuseFd', () => {
  it('a value written by one object\'s program is read by the other\'s', () => {
    using first = BpfObject.open(fixture('basic')).load();
    const open = BpfObject.open(fixture('second'));
    open.map('shared').reuseFd(first.map('shared').fd);
    using second = open.load();

    assert.equal(readArgs(second.program('read_shared').testRun({ ctxIn: args(0n) }).ctxOut)[1], 0n, 'the shared value starts at 0');
    first.program('write_shared').testRun({ ctxIn: args(0xdead_beef_cafen) });
    assert.equal(readArgs(second.program('read_shared').testRun({ ctxIn: args(0n) }).ctxOut)[1], 0xdead_beef_cafen);
    // ...and the other way round, through user space: the second object's map handle sees
    // the first program's write, and the first program sees a write made via the second.
    assert.equal(second.map('shared').lookup(0)?.readBigUInt64LE(0), 0xdead_beef_cafen);
    second.map('shared').update(0, 77n);
    assert.equal(readArgs(first.program('read_shared').testRun({ ctxIn: args(0n) }).ctxOut)[1], 77n);
  });

  it('the reusing object keeps the map alive after the first object closes', () => {
    const first = BpfObject.open(fixture('basic')).load();
    const open = BpfObject.open(fixture('second'));
    open.map('shared').reuseFd(first.map('shared').fd);
    using second = open.load();
    first.program('write_shared').testRun({ ctxIn: args(5n) });
    first.close();
    assert.equal(readArgs(second.program('read_shared').testRun({ ctxIn: args(0n) }).ctxOut)[1], 5n);
  });

  it('reuseFd duplicates the fd: the caller still owns (and closes) its own', () => {
    using first = BpfObject.open(fixture('basic')).load();
    const mine = dupFd(first.map('shared').fd);
    const open = BpfObject.open(fixture('second'));
    open.map('shared').reuseFd(mine.fd);
    mine.close();
    using second = open.load();
    first.map('shared').update(0, 9n);
    assert.equal(readArgs(second.program('read_shared').testRun({ ctxIn: args(0n) }).ctxOut)[1], 9n);
  });
});

describe('reuseFd arguments', () => {
  it('refuses an fd that is not a BPF map, leaving the map as it was', () => {
    const fd = fs.openSync(fixture('basic'), 'r');
    try {
      using open = BpfObject.open(fixture('second'));
      assert.throws(() => open.map('shared').reuseFd(fd), (e: unknown) =>
        e instanceof BpfArgumentError && e.argument === 'fd' && e.message.includes(`fd ${fd} is not a BPF map (it is ${fixture('basic')})`));
      assert.deepEqual(open.maps.map((m) => [m.name, m.type, m.maxEntries]), [['shared', MapType.ARRAY, 1]]);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('refuses a closed fd with EBADF', () => {
    using first = BpfObject.open(fixture('basic')).load();
    using open = BpfObject.open(fixture('second'));
    const dup = dupFd(first.map('shared').fd);
    const fd = dup.fd;
    dup.close(); // nothing opens an fd between this and the call below
    assert.throws(() => open.map('shared').reuseFd(fd), { name: 'BpfError', code: 'EBADF', op: 'bpf_map__reuse_fd' });
  });
});

describe('phases', () => {
  it('lists maps (internal ones included) and programs with their kernel types', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    assert.deepEqual(obj.maps.map((m) => [m.name, m.typeName, m.keySize, m.valueSize, m.maxEntries]), [
      ['shared', 'BPF_MAP_TYPE_ARRAY', 4, 8, 1],
      ['percpu', 'BPF_MAP_TYPE_PERCPU_ARRAY', 4, 8, 1],
      ['hash', 'BPF_MAP_TYPE_HASH', 4, 8, 128],
      ['basic.rodata', 'BPF_MAP_TYPE_ARRAY', 4, 18, 1],
      ['basic.data', 'BPF_MAP_TYPE_ARRAY', 4, 8, 1],
      ['basic.bss', 'BPF_MAP_TYPE_ARRAY', 4, 16, 1],
    ]);
    assert.deepEqual(obj.programs.map((p) => [p.name, p.type, p.section]), [
      ['write_shared', ProgramType.SYSCALL, 'syscall'],
      ['read_shared', ProgramType.SYSCALL, 'syscall'],
      ['times_multiplier', ProgramType.SYSCALL, 'syscall'],
      ['read_globals', ProgramType.SYSCALL, 'syscall'],
      ['whoami', ProgramType.SYSCALL, 'syscall'],
      ['count_getppid', ProgramType.TRACEPOINT, 'tracepoint/syscalls/sys_enter_getppid'],
    ]);
    assert.equal(obj.map('percpu').type, MapType.PERCPU_ARRAY);
    assert.equal(obj.map('percpu').perCpu, true);
  });

  it('setAutoload(false) leaves a program out of the kernel and out of programs', () => {
    const open = BpfObject.open(fixture('basic'));
    open.program('count_getppid').setAutoload(false);
    using obj = open.load();
    assert.ok(!obj.programs.some((p) => p.name === 'count_getppid'));
    assert.equal(obj.program('count_getppid').fd < 0, true, 'a program not loaded has no fd');
    assert.deepEqual(obj.attachAll(), []);
  });

  it('setMaxEntries before load sizes the kernel map', () => {
    const open = BpfObject.open(fixture('basic'));
    open.map('hash').setMaxEntries(2);
    using obj = open.load();
    const hash = obj.map('hash');
    assert.equal(hash.maxEntries, 2);
    hash.update(1, 1n);
    hash.update(2, 2n);
    assert.throws(() => hash.update(3, 3n), { name: 'BpfError', code: 'E2BIG' });
  });

  it('loads from a Buffer as from a file', () => {
    using obj = BpfObject.open(fs.readFileSync(fixture('basic')), { objectName: 'frommem' }).load();
    assert.equal(obj.name, 'frommem');
    assert.ok(obj.maps.some((m) => m.name === 'frommem.bss'));
    assert.equal(obj.program('times_multiplier').testRun({ ctxIn: args(6n) }).retval, 1);
  });

  it('the OpenBpfObject is consumed by load() and refuses every use after it', () => {
    const open = BpfObject.open(fixture('basic'));
    const earlyMap = open.map('shared');
    using obj = open.load();
    const consumed = (e: unknown) => e instanceof ClosedError && e.code === 'EBADF' &&
      /of OpenBpfObject 'basic' cannot be used after load\(\)/.test(e.message) && e.hint === 'use the BpfObject that load() returned';
    assert.throws(() => open.map('shared'), consumed);
    assert.throws(() => open.program('whoami'), consumed);
    assert.throws(() => open.maps, consumed);
    assert.throws(() => open.programs, consumed);
    assert.throws(() => open.rodata.set('multiplier', 2), consumed);
    assert.throws(() => open.bss.get('bss_value'), consumed);
    assert.throws(() => open.load(), consumed);
    assert.throws(() => earlyMap.setMaxEntries(5), consumed);
    assert.throws(() => earlyMap.reuseFd(obj.map('hash').fd), consumed);
    open.close(); // harmless: it must not close the loaded object's handle
    assert.equal(obj.open, true);
    assert.equal(obj.program('times_multiplier').testRun({ ctxIn: args(1n) }).retval, 1);
  });

  it('close() releases every fd of the object and its links, and is idempotent', () => {
    const before = countFds();
    const obj = BpfObject.open(fixture('basic')).load();
    const [link] = obj.attachAll();
    const fds = [obj.map('shared').fd, obj.map('hash').fd, obj.program('whoami').fd, link.fd];
    assert.ok(fds.every(fdIsOpen));
    assert.ok(countFds() > before + fds.length - 1);
    obj.close();
    obj.close();
    assert.equal(obj.open, false);
    assert.equal(link.attached, false, 'closing the object destroyed its link');
    assert.equal(countFds(), before);
  });

  it('close of an unloaded OpenBpfObject releases it; [Symbol.dispose] closes too', () => {
    const before = countFds();
    {
      using open = BpfObject.open(fixture('basic'));
      assert.equal(open.name, 'basic');
    }
    {
      using obj = BpfObject.open(fixture('basic')).load();
      assert.equal(obj.open, true);
    }
    assert.equal(countFds(), before);
  });
});
