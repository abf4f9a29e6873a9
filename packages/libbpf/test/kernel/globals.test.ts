// Globals by name against the kernel: const volatile values set before load change what
// the verified program does; .bss/.data after load are the memory the program runs on.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfError, BpfObject } from '../../src/index';
import { args, fixture, readArgs, requireRoot } from './helpers';

requireRoot();

describe('.rodata (const volatile)', () => {
  it('a value set before load changes what the program computes', () => {
    using plain = BpfObject.open(fixture('basic')).load();
    const r1 = plain.program('times_multiplier').testRun({ ctxIn: args(5n) });
    assert.equal(r1.retval, 1);
    assert.deepEqual(readArgs(r1.ctxOut), [5n, 5n]);

    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('multiplier', 7);
    using seven = open.load();
    const r7 = seven.program('times_multiplier').testRun({ ctxIn: args(5n) });
    assert.equal(r7.retval, 7);
    assert.deepEqual(readArgs(r7.ctxOut), [5n, 35n]);
    assert.equal(seven.rodata.get('multiplier'), 7, 'the loaded object reads the frozen value back');
  });

  it('reads every kind of global with its C type', () => {
    const open = BpfObject.open(fixture('basic'));
    open.rodata.set('signed_small', -300);
    open.rodata.set('label', Buffer.from('changed\0'));
    using obj = open.load();
    assert.equal(obj.rodata.get('signed_small'), -300);
    assert.deepEqual(obj.rodata.get('label'), Buffer.from('changed\0'));
    assert.deepEqual(obj.rodata.describe('label'), { name: 'label', offset: 10, size: 8, kind: 'bytes', signed: false, typeName: 'char[8]' });
    assert.deepEqual(obj.rodata.names, ['multiplier', 'target_pid', 'signed_small', 'label']);
  });

  it('is read-only after load, with a hint that says when to set it', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    assert.throws(() => obj.rodata.set('multiplier', 2), (e: unknown) =>
      e instanceof BpfError && e.code === 'EPERM' && e.op === 'write to .rodata' && /before load\(\)/.test(e.hint ?? ''));
    assert.equal(obj.rodata.get('multiplier'), 1);
  });
});

describe('.bss and .data', () => {
  it('a .bss value written after load is seen by the running program', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const read = () => readArgs(obj.program('read_globals').testRun({ ctxIn: args(0n) }).ctxOut);
    assert.deepEqual(read(), [42n, 0n], 'data_value starts at 42, bss_value at 0');
    obj.bss.set('bss_value', 0x1234_5678_9abc_def0n);
    assert.deepEqual(read(), [42n, 0x1234_5678_9abc_def0n]);
    obj.data.set('data_value', 7n);
    assert.deepEqual(read(), [7n, 0x1234_5678_9abc_def0n]);
  });

  it('initial values set before load are what the program first sees', () => {
    const open = BpfObject.open(fixture('basic'));
    open.bss.set('bss_value', 11n);
    open.data.set('data_value', 22n);
    using obj = open.load();
    assert.deepEqual(readArgs(obj.program('read_globals').testRun({ ctxIn: args(0n) }).ctxOut), [22n, 11n]);
    assert.equal(obj.bss.get('bss_value'), 11n);
  });

  it('.bss written by user space is the same memory the map holds', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    obj.bss.set('tp_hits', 3n);
    const bss = obj.map('basic.bss').lookup(0);
    assert.ok(bss);
    const { offset } = obj.bss.describe('tp_hits');
    assert.equal(bss.readBigUInt64LE(offset), 3n);
  });

  it('an unknown global is ENOENT naming the known ones', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    assert.throws(() => obj.bss.get('nope'), (e: unknown) =>
      e instanceof BpfError && e.code === 'ENOENT' && /no global named 'nope' in \.bss \(known: bss_value, tp_hits\)/.test(e.message));
  });

  it('a global asked for in the wrong section says where it is and why, before and after load', () => {
    const open = BpfObject.open(fixture('basic'));
    // `__u64 data_value = 42;` has an initializer, so it lives in .data.
    const where = (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' &&
      e.message.startsWith("'data_value' is in .data (it has an initializer), not in .bss") && /use the object's data instead of its bss/.test(e.message);
    assert.throws(() => open.bss.set('data_value', 1n), where);
    using obj = open.load();
    assert.throws(() => obj.bss.get('data_value'), where);
    assert.equal(obj.data.get('data_value'), 42n);
    assert.throws(() => obj.rodata.get('bss_value'), (e: unknown) => e instanceof BpfError && /'bss_value' is in \.bss \(it has no initializer\), not in \.rodata/.test(e.message));
  });
});
