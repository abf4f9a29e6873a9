// What BpfObject.open refuses before libbpf sees it (a FIFO would block the open forever),
// and how libbpf's failures read: its own error codes in words, the object and libbpf's
// reason named. Over the fake addon: no libbpf, kernel or root.
import { after, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfArgumentError, BpfError } from '../../src/errors';
import { BpfObject, explainOpenFailure, untypedNativeError } from '../../src/object';
import { installFakeNative } from '../support/fake-native';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libbpf-files-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const fake = installFakeNative();
beforeEach(() => fake.reset());

function refused(kind: string, file: string, argument = 'pathOrBuffer') {
  return (e: unknown): boolean => e instanceof BpfArgumentError && e.argument === argument &&
    e.message === `${argument}: ${file} is ${kind}, not a ${argument === 'pathOrBuffer' ? 'BPF object file' : 'BTF file'} (a regular file is needed)`;
}

describe('BpfObject.open refuses what is not a regular file, before libbpf', () => {
  it('a FIFO (which would block the open forever), a directory, a character device, a socket', () => {
    const fifo = path.join(dir, 'obj.fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => BpfObject.open(fifo), refused('a FIFO (named pipe)', fifo));
    assert.throws(() => BpfObject.open(dir), refused('a directory', dir));
    assert.throws(() => BpfObject.open('/dev/null'), refused('a character device', '/dev/null'));
    const sock = path.join(dir, 'obj.sock');
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, function () { this.close(); })`]);
    if (fs.existsSync(sock)) assert.throws(() => BpfObject.open(sock), refused('a socket', sock));
    assert.deepEqual(fake.calls, [], 'libbpf was never called');
  });

  it('a symlink to a FIFO is the FIFO; a missing file is ENOENT naming the absolute path', () => {
    const fifo = path.join(dir, 'second.fifo');
    execFileSync('mkfifo', [fifo]);
    const link = path.join(dir, 'link.bpf.o');
    fs.symlinkSync(fifo, link);
    assert.throws(() => BpfObject.open(link), refused('a FIFO (named pipe)', link));
    assert.throws(() => BpfObject.open('no-such.bpf.o'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' &&
      e.message.startsWith(`no BPF object file at ${path.resolve('no-such.bpf.o')}`));
    assert.deepEqual(fake.calls, []);
  });

  it('btfCustomPath gets the same check', () => {
    const file = path.join(dir, 'real.bpf.o');
    fs.writeFileSync(file, '');
    assert.throws(() => BpfObject.open(file, { btfCustomPath: dir }), refused('a directory', dir, 'btfCustomPath'));
    assert.deepEqual(fake.calls, []);
  });
});

describe('libbpf failures read as words', () => {
  it('libbpf\'s own codes 4000..4013 have a meaning instead of "Unknown error 4001"', () => {
    const e = new BpfError('bpf_object__open', 4001, 'bpf_object__open: Unknown error 4001');
    assert.equal(e.message.split(' (')[0], 'bpf_object__open: the ELF object is not a valid BPF object');
    assert.equal(e.code, 'LIBBPF_ERRNO__FORMAT');
    for (let n = 4000; n <= 4013; n++) assert.doesNotMatch(new BpfError('op', n).message, /Unknown error|E40\d\d/, `code ${n}`);
  });

  it('a failed open names the object and libbpf\'s last warnings, not strerror alone', () => {
    const native = new BpfError('bpf_object__open', 2, 'bpf_object__open: No such file or directory');
    const log = [{ level: 'debug', text: 'libbpf: elf: section(3) .text\n' },
      { level: 'warn', text: "libbpf: map 'hash': attr 'max_entries': expected ARRAY, got void.\n" }];
    const e = explainOpenFailure(native, log, '/x/probe.bpf.o') as BpfError;
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.message.split(' (ENOENT)')[0],
      "cannot open the BPF object /x/probe.bpf.o: it is malformed (map 'hash': attr 'max_entries': expected ARRAY, got void.)");
    assert.match(e.hint ?? '', /rebuild it with clang -target bpf -g/);
    const bare = explainOpenFailure(native, [], 'from a Buffer of 10 bytes') as BpfError;
    assert.match(bare.message, /^cannot open the BPF object from a Buffer of 10 bytes: it is malformed \(something it refers to \(a section, symbol or BTF type\) is missing\)/);
  });

  it('a plain "Error in native callback" becomes a BpfError saying what was being done; TypeErrors pass through', () => {
    const e = explainOpenFailure(new Error('Error in native callback'), [], '/x/a.bpf.o') as BpfError;
    assert.ok(e instanceof BpfError);
    assert.equal(e.message, 'cannot open the BPF object /x/a.bpf.o: the native layer failed without an errno (Error in native callback) (EINVAL)');
    const t = new TypeError('map index must be a number');
    assert.equal(untypedNativeError(t, 'op', 'doing'), t);
  });
});
