// The open phase on the real basic.bpf.o, through libbpf: names, what the setters change in
// libbpf's listing, unknown names, and the globals of the ELF image before load. The unit
// tier checks the same TypeScript over a fake addon (test/unit/arguments.test.ts); these
// need the real addon and the compiled fixture.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfArgumentError, BpfError, BpfObject } from '../../src/index';
import { fixture, requireRoot } from './helpers';

requireRoot();

const BASIC = fixture('basic');

function argError(argument: string, message?: RegExp) {
  return (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && e.code === 'ERR_BPF_INVALID_ARG' &&
    (!message || message.test(e.message));
}

describe('BpfObject.open of a real object', () => {
  it('names the object after the file, or after objectName', () => {
    using a = BpfObject.open(BASIC);
    assert.equal(a.name, 'basic');
    using b = BpfObject.open(BASIC, { objectName: 'other' });
    assert.equal(b.name, 'other');
  });
});

describe('open-phase setters on a real object', () => {
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
