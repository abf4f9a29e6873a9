// Programs in the kernel: testRun results, and a tracepoint attached and counted.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfArgumentError, BpfError, BpfObject, onlineCpus } from '../../src/index';
import { args, fixture, readArgs, requireRoot } from './helpers';

requireRoot();

describe('testRun', () => {
  it('syscall programs: retval, and the context written back as ctxOut (a copy; ctxIn is untouched)', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    obj.bss.set('bss_value', 99n);
    const ctxIn = args(1n, 2n);
    const r = obj.program('read_globals').testRun({ ctxIn });
    assert.equal(r.retval, 0);
    assert.equal(r.dataOut, null);
    assert.deepEqual(readArgs(r.ctxOut), [42n, 99n]);
    assert.deepEqual(readArgs(ctxIn), [1n, 2n]);
    assert.notEqual(r.ctxOut, ctxIn);
  });

  it('syscall programs: the return value is the program\'s', () => {
    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('multiplier', 123456);
    using obj = open.load();
    assert.equal(obj.program('times_multiplier').testRun({ ctxIn: args(2n) }).retval, 123456);
  });

  it('syscall programs take only ctxIn', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const p = obj.program('whoami');
    for (const bad of [{ repeat: 2 }, { ctxOutSize: 8 }, { cpu: 0 }, { dataIn: Buffer.alloc(4) }]) {
      assert.throws(() => p.testRun(bad), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'options', JSON.stringify(bad));
    }
  });

  it('raw_tp programs get their u64 arguments from ctxIn', () => {
    using obj = BpfObject.open(fixture('probes')).load();
    const ctx = Buffer.alloc(16);
    ctx.writeBigUInt64LE(40n, 0);
    ctx.writeBigUInt64LE(2n, 8);
    assert.equal(obj.program('raw_sum').testRun({ ctxIn: ctx }).retval, 42);
    ctx.writeBigUInt64LE(1000n, 8);
    assert.equal(obj.program('raw_sum').testRun({ ctxIn: ctx }).retval, 1040);
  });

  it('raw_tp programs run on the CPU given as cpu', () => {
    using obj = BpfObject.open(fixture('probes')).load();
    for (const cpu of onlineCpus()) {
      assert.equal(obj.program('raw_whoami').testRun({ cpu }).retval, cpu);
    }
    assert.throws(() => obj.program('raw_whoami').testRun({ cpu: 4096 }), /CPU 4096 is not a possible CPU/);
  });

  it('a context shorter than the program reads is EINVAL from the kernel', () => {
    using obj = BpfObject.open(fixture('probes')).load();
    assert.throws(() => obj.program('raw_sum').testRun({ ctxIn: Buffer.alloc(8) }), (e: unknown) =>
      e instanceof BpfError && e.op === 'bpf_prog_test_run' && e.code === 'EINVAL');
  });
});

describe('tracepoint programs', () => {
  it('attached, count exactly the hits of this process; detached, count no more', () => {
    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('target_pid', process.pid);
    using obj = open.load();
    const links = obj.attachAll();
    assert.deepEqual(links.map((l) => l.target), ['tracepoint/syscalls/sys_enter_getppid']);
    assert.ok(links[0].fd >= 0);
    assert.equal(obj.bss.get('tp_hits'), 0n);
    let ppid = 0;
    for (let i = 0; i < 250; i++) ppid = process.ppid; // each read is one getppid(2)
    assert.ok(ppid > 0);
    assert.equal(obj.bss.get('tp_hits'), 250n);
    links[0].destroy();
    assert.equal(links[0].attached, false);
    for (let i = 0; i < 10; i++) ppid = process.ppid;
    assert.equal(obj.bss.get('tp_hits'), 250n);
  });

  it('attachTracepoint attaches by category and name', () => {
    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('target_pid', process.pid);
    using obj = open.load();
    using link = obj.program('count_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
    assert.equal(link.target, 'tracepoint/syscalls/sys_enter_getppid');
    for (let i = 0; i < 3; i++) void process.ppid;
    assert.equal(obj.bss.get('tp_hits'), 3n);
    assert.throws(() => obj.program('count_getppid').attachTracepoint('syscalls', 'a/b'), { name: 'BpfArgumentError', argument: 'name' });
  });
});
