// The structural checks BpfObject.open runs before libbpf sees the bytes (src/elf-check.ts):
// every real object passes; each kind of damage is refused with its cause and place.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfFile } from '../../src/btf/elf';
import { checkBpfObject, checkBpfObjectBytes } from '../../src/elf-check';
import { BpfError } from '../../src/errors';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/obj');
const SHIPPED = path.resolve(__dirname, '../../../../bpf-sync-timer/dist/bpf');
const BASIC = fs.readFileSync(path.join(FIXTURES, 'basic.bpf.o'));

/** A copy of basic.bpf.o changed by `f`, which gets the bytes and the pristine layout. */
function damaged(f: (b: Buffer, elf: ElfFile, shdr: (name: string) => number) => void): Buffer {
  const b = Buffer.from(BASIC);
  const elf = new ElfFile(BASIC);
  const shoff = Number(b.readBigUInt64LE(40));
  f(b, elf, (name) => shoff + elf.section(name)!.index * 64);
  return b;
}

function section(name: string): { offset: number; size: number } {
  return new ElfFile(BASIC).section(name)!;
}

/** Asserts that the check refuses `b` as LIBBPF_ERRNO__FORMAT with a message matching `re`. */
function refused(b: Buffer, re: RegExp, hint = /truncated or corrupted/): void {
  assert.throws(() => checkBpfObjectBytes(b), (e: unknown) => {
    assert.ok(e instanceof BpfError, `expected a BpfError, got ${String(e)}`);
    assert.equal(e.op, 'bpf_object__open');
    assert.equal(e.code, 'LIBBPF_ERRNO__FORMAT');
    assert.match(e.message, re);
    assert.match(e.hint ?? '', hint);
    return true;
  });
}

describe('checkBpfObjectBytes', () => {
  it('passes every object this repository builds', () => {
    const dirs = [FIXTURES, SHIPPED, path.resolve(__dirname, '../../../../bpf-sync-timer/test/fixtures/obj')];
    const objects = dirs.flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.bpf.o')).map((f) => path.join(d, f)));
    assert.ok(objects.length >= 10, `found only ${objects.length} objects`);
    const refusedOnes = objects.filter((o) => {
      try {
        checkBpfObjectBytes(fs.readFileSync(o));
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(refusedOnes, []);
  });

  it('refuses what is not a BPF object with the hint on how to build one', () => {
    const notBpf = /not a BPF ELF object: build it with clang/;
    refused(Buffer.from('this is not an ELF file'), /^not a BPF object: no ELF magic/, notBpf);
    refused(damaged((b) => b.writeUInt16LE(62, 18)), /ELF type 1 and machine 62/, notBpf);
    refused(damaged((b) => void (b[4] = 1)), /ELF class 1 is not ELFCLASS64/, notBpf);
  });

  it('refuses a cut header, a cut or misplaced section table, and sections past the end of the file', () => {
    refused(BASIC.subarray(0, 40), /ELF header is cut short: 40 bytes/);
    refused(BASIC.subarray(0, BASIC.length - 100), /table of \d+ section headers at \d+ runs past the end of the \d+-byte file/);
    refused(damaged((b) => b.writeBigUInt64LE(0n, 40)), /no section table \(e_shoff 0\)/);
    refused(damaged((b, _e, shdr) => b.writeBigUInt64LE(BigInt(BASIC.length - 8), shdr('.BTF') + 24)),
      /section \d+ \(\.BTF\) \(\d+ bytes at \d+\) runs past the end/);
    refused(damaged((b) => b.writeUInt16LE(999, 62)), /section name table index 999/);
    refused(damaged((b, _e, shdr) => b.writeUInt32LE(0xffffff, shdr('.BTF'))), /name offset 16777215 is past the \d+-byte name table/);
    refused(damaged((b, _e, shdr) => b.writeBigUInt64LE(0x800n, shdr('license') + 8)), /\(license\) is marked compressed/);
  });

  it('refuses a missing or malformed symbol table and relocations that point outside it', () => {
    refused(damaged((b, _e, shdr) => b.writeUInt32LE(1, shdr('.symtab') + 4)), /no symbol table \(\.symtab\): was the object stripped\?/);
    refused(damaged((b, _e, shdr) => b.writeBigUInt64LE(16n, shdr('.symtab') + 56)), /symbol table has 16-byte entries/);
    refused(damaged((b, _e, shdr) => b.writeUInt32LE(0, shdr('.symtab') + 40)), /symbol table links to section 0/);
    const rel = new ElfFile(BASIC).sections.find((s) => s.type === 9 && !s.name.includes('debug') && !s.name.includes('BTF'))!;
    refused(damaged((b, _e, shdr) => b.writeBigUInt64LE(8n, shdr(rel.name) + 56)), new RegExp(`relocation section \\d+ \\(${rel.name.replace('.', '\\.')}\\) has 8-byte entries`));
    refused(damaged((b) => b.writeUInt32LE(0xffff, rel.offset + 12)), /relocation #0 of .* names symbol 65535, past the \d+ symbols/);
    refused(damaged((b) => b.writeBigUInt64LE(b.readBigUInt64LE(rel.offset) + 3n, rel.offset)), /relocation #0 of .* is at offset \d+, not an instruction/);
  });

  it('refuses a damaged .BTF header, string section or type layout, naming the byte', () => {
    const btf = section('.BTF');
    refused(damaged((b) => b.writeUInt16LE(0x1234, btf.offset)), new RegExp(`\\.BTF starts with 0x1234.*\\(at byte ${btf.offset}\\)`));
    refused(damaged((b) => b.writeUInt32LE(btf.size + 1, btf.offset + 4)), /\.BTF header length \d+ is outside 24\.\./);
    refused(damaged((b) => b.writeUInt32LE(b.readUInt32LE(btf.offset + 20) + 64, btf.offset + 20)), /\.BTF strings \(\d+ bytes at \d+\) run past/);
    refused(damaged((b) => b.writeUInt32LE(b.readUInt32LE(btf.offset + 12) + 8, btf.offset + 12)), /\.BTF types .* overlap the strings/);
    refused(damaged((b) => b.writeUInt32LE(b.readUInt32LE(btf.offset + 12) - 4, btf.offset + 12)), /ends inside a type record|runs past the end of the type section/);
    const firstType = btf.offset + BASIC.readUInt32LE(btf.offset + 4) + BASIC.readUInt32LE(btf.offset + 8);
    refused(damaged((b) => b.writeUInt32LE((b.readUInt32LE(firstType + 4) & ~0x1f000000) | (31 << 24), firstType + 4)),
      /BTF type \[1\] has kind 31, which libbpf does not know/);
    const strings = btf.offset + BASIC.readUInt32LE(btf.offset + 4) + BASIC.readUInt32LE(btf.offset + 16);
    refused(damaged((b) => void (b[strings] = 0x41)), /\.BTF strings do not start with the empty string/);
    refused(damaged((b) => void (b[strings + BASIC.readUInt32LE(btf.offset + 20) - 1] = 0x41)), /\.BTF strings do not end with a NUL byte: the last one is cut/);
  });

  it('refuses a damaged .BTF.ext, which libbpf would drop (and with it CO-RE) without failing', () => {
    const ext = section('.BTF.ext');
    const hdrLen = BASIC.readUInt32LE(ext.offset + 4);
    const funcInfo = ext.offset + hdrLen + BASIC.readUInt32LE(ext.offset + 8);
    const lineInfo = ext.offset + hdrLen + BASIC.readUInt32LE(ext.offset + 16);
    refused(damaged((b) => void (b[ext.offset + 2] = 2)), /\.BTF\.ext version 2 is not 1/);
    refused(damaged((b) => b.writeUInt32LE(3, funcInfo)), /\.BTF\.ext func_info records are 3 bytes/);
    refused(damaged((b) => b.writeUInt32LE(0xffff, lineInfo + 8)), /\.BTF\.ext line_info claims 65535 records of 16 bytes where they do not fit/);
    refused(damaged((b) => b.writeUInt32LE(ext.size, ext.offset + 8)), /\.BTF\.ext func_info \(\d+ bytes at \d+\) runs past the end of \.BTF\.ext/);
  });
});

describe('checkBpfObject by path', () => {
  it('refuses a damaged file as its bytes are refused, and leaves missing paths and FIFOs to the open that follows', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elf-check-'));
    try {
      const file = path.join(dir, 'cut.bpf.o');
      fs.writeFileSync(file, BASIC.subarray(0, 40));
      assert.throws(() => checkBpfObject(file), { name: 'BpfError', code: 'LIBBPF_ERRNO__FORMAT', message: /ELF header is cut short/ });
      assert.equal(checkBpfObject(path.join(dir, 'missing.bpf.o')), undefined);
      const fifo = path.join(dir, 'fifo.bpf.o');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) is needed for this test');
      // Opened non-blocking and not read: a blocking read here would hang the test.
      assert.equal(checkBpfObject(fifo), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks a file once while it is unchanged, and again once it changes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elf-check-'));
    try {
      const file = path.join(dir, 'obj.bpf.o');
      fs.writeFileSync(file, BASIC);
      assert.equal(checkBpfObject(file), undefined);
      assert.equal(checkBpfObject(file), undefined);
      // Damaged in place (same inode): the times and size differ, so it is read again.
      fs.writeFileSync(file, BASIC.subarray(0, 40));
      assert.throws(() => checkBpfObject(file), { name: 'BpfError', code: 'LIBBPF_ERRNO__FORMAT', message: /ELF header is cut short/ });
      // Same size, new content: the change time still tells.
      const flipped = Buffer.from(BASIC);
      flipped[0] = 0;
      fs.writeFileSync(file, BASIC);
      assert.equal(checkBpfObject(file), undefined);
      fs.writeFileSync(file, flipped);
      assert.throws(() => checkBpfObject(file), { name: 'BpfError', code: 'LIBBPF_ERRNO__FORMAT' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
