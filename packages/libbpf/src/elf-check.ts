// The structure of a BPF ELF object, checked before libbpf parses it: the ELF header, the
// section table and names, the symbol table, relocation tables, and the headers and
// layouts of .BTF and .BTF.ext. libbpf refuses all of these too, but mostly without saying
// why (LIBBPF_ERRNO__FORMAT, a bare EINVAL, or ENOENT for a missing symbol table), and it
// drops a damaged .BTF or .BTF.ext with only a log line and carries on without it (a
// damaged .BTF.ext silently loses the CO-RE relocations). Here each case is refused with
// the place and the cause. The ELF checks are a subset of what libbpf 1.7 itself refuses
// (sections it never reads, DWARF, are not checked), so no object libbpf can open is
// turned away for them. A damaged .BTF or .BTF.ext is refused on purpose where libbpf
// would go on without it: globals, map types and CO-RE would then be quietly wrong. What
// type records say (referenced ids, names) is left to libbpf, whose message names the type.
import * as fs from 'node:fs';
import { BpfError } from './errors';

/** libbpf's own code for "not a valid object", kept so that callers see one code for it. */
const LIBBPF_ERRNO__FORMAT = 4001;
const DAMAGED_HINT = 'the object is truncated or corrupted: build it again (clang -g -O2 -target bpf -c) or copy it again.';

const SHT_NULL = 0;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHT_REL = 9;
const SHT_PROGBITS = 1;
const SHT_LLVM_ADDRSIG = 0x6fff4c03;
const SHF_EXECINSTR = 0x4;
const SHF_COMPRESSED = 0x800;
const ET_REL = 1;
const EM_BPF = 247;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const BPF_INSN_SIZE = 8;
const BTF_MAGIC = 0xeb9f;
const BTF_HEADER_SIZE = 24;
const BTF_MAX_STR_OFFSET = 0x7fffffff;

/** A damaged object: what is wrong, where (a byte offset of the file). */
function damaged(what: string, offset: number): BpfError {
  return new BpfError('bpf_object__open', LIBBPF_ERRNO__FORMAT, `damaged BPF object: ${what} (at byte ${offset})`, { hint: DAMAGED_HINT });
}

/** Not a BPF object at all; the default hint says how one is built. */
function notBpf(what: string): BpfError {
  return new BpfError('bpf_object__open', LIBBPF_ERRNO__FORMAT, `not a BPF object: ${what}`);
}

/** Little- or big-endian reads; a u64 beyond 2^53 reads as a number larger than any file. */
class Reader {
  constructor(readonly b: Buffer, readonly le: boolean) {}
  u8(o: number): number {
    return this.b[o];
  }
  u16(o: number): number {
    return this.le ? this.b.readUInt16LE(o) : this.b.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.b.readUInt32LE(o) : this.b.readUInt32BE(o);
  }
  u64(o: number): number {
    return Number(this.le ? this.b.readBigUInt64LE(o) : this.b.readBigUInt64BE(o));
  }
}

interface Section {
  index: number;
  name: string;
  nameOffset: number;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** Byte offset of this section's header in the file. */
  header: number;
}

// Files that passed the check, by identity (see checkBpfObject); the oldest leave first.
const checkedFiles = new Set<string>();
const CHECKED_FILES_KEPT = 64;

/**
 * Checks the structure of a BPF object given by path or bytes; throws a BpfError
 * (op `bpf_object__open`, code `LIBBPF_ERRNO__FORMAT`) naming what is damaged and where.
 * A path that is not a regular file is left alone (it is refused elsewhere, and reading a
 * FIFO here would block).
 * @internal
 */
export function checkBpfObject(source: string | Buffer): void {
  if (Buffer.isBuffer(source)) return checkBpfObjectBytes(source);
  let fd: number;
  try {
    fd = fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return; // libbpf's open reports why it cannot be opened, with the errno
  }
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) return;
    // A file checked before and not changed since (same inode, size and times) is not read
    // again: a process that starts the same object repeatedly pays the check once.
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    if (checkedFiles.has(key)) return;
    checkBpfObjectBytes(fs.readFileSync(fd));
    if (checkedFiles.size >= CHECKED_FILES_KEPT) checkedFiles.delete(checkedFiles.values().next().value!);
    checkedFiles.add(key);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks an in-memory BPF object (see `checkBpfObject`); pure, no libbpf involved.
 * @internal
 */
export function checkBpfObjectBytes(bytes: Uint8Array): void {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = checkElfHeader(b);
  const sections = readSections(r);
  checkSectionBounds(b, sections);
  const symtab = checkSymbolTable(sections);
  for (const s of sections) {
    if (s.type === SHT_REL && !libbpfIgnores(s.name)) checkRelocations(r, s, sections, symtab);
    if (s.name === '.BTF') checkBtf(asProgbits(b, s));
    if (s.name === '.BTF.ext') checkBtfExt(asProgbits(b, s));
  }
}

function checkElfHeader(b: Buffer): Reader {
  if (b.length < 4 || b.readUInt32BE(0) !== 0x7f454c46) throw notBpf(`no ELF magic (\\x7fELF) at the start of the ${b.length} bytes`);
  if (b.length < 64) throw damaged(`the ELF header is cut short: ${b.length} bytes of the 64 an ELF64 header has`, 0);
  if (b[4] !== 2) throw notBpf(`ELF class ${b[4]} is not ELFCLASS64 (BPF objects are 64-bit)`);
  if (b[5] !== 1 && b[5] !== 2) throw damaged(`ELF byte order ${b[5]} is neither little (1) nor big endian (2)`, 5);
  const r = new Reader(b, b[5] === 1);
  const type = r.u16(16);
  const machine = r.u16(18);
  // Old LLVM wrote e_machine 0 (EM_NONE); libbpf still accepts that.
  if (type !== ET_REL || (machine !== 0 && machine !== EM_BPF)) {
    throw notBpf(`ELF type ${type} and machine ${machine}, where a BPF object is relocatable (1) for EM_BPF (247)`);
  }
  return r;
}

function readSections(r: Reader): Section[] {
  const b = r.b;
  const shoff = r.u64(40);
  // e_shentsize is not checked: libelf reads 64-byte headers whatever it says.
  let count = r.u16(60);
  let strndx = r.u16(62);
  if (shoff === 0) throw damaged('the ELF header points to no section table (e_shoff 0)', 40);
  if (shoff + SHDR_SIZE > b.length) throw damaged(`the section table at ${shoff} is past the end of the ${b.length}-byte file`, 40);
  // Past 0xff00 sections the count and the name table index live in section 0.
  if (count === 0) count = r.u64(shoff + 32);
  if (strndx === 0xffff) strndx = r.u32(shoff + 40);
  if (shoff + count * SHDR_SIZE > b.length) {
    throw damaged(`the table of ${count} section headers at ${shoff} runs past the end of the ${b.length}-byte file`, 40);
  }
  const raw = Array.from({ length: count }, (_, index) => readSection(r, shoff + index * SHDR_SIZE, index));
  const names = raw[strndx];
  if (!names || strndx === 0) throw damaged(`the section name table index ${strndx} is not one of the ${count} sections`, 62);
  if (names.type !== SHT_STRTAB) throw damaged(`the section name table (section ${strndx}) has type ${names.type}, not STRTAB`, names.header + 4);
  checkInFile(b, names, 'the section name table');
  return raw.map((s) => ({ ...s, name: s.index === 0 ? '' : sectionName(b, names, s) }));
}

function readSection(r: Reader, h: number, index: number): Section {
  return {
    index, name: '', nameOffset: r.u32(h), header: h, type: r.u32(h + 4), flags: r.u64(h + 8), offset: r.u64(h + 24), size: r.u64(h + 32),
    link: r.u32(h + 40), info: r.u32(h + 44), entsize: r.u64(h + 56),
  };
}

function sectionName(b: Buffer, names: Section, s: Section): string {
  const off = s.nameOffset;
  if (off >= names.size) throw damaged(`section ${s.index}'s name offset ${off} is past the ${names.size}-byte name table`, s.header);
  const end = b.indexOf(0, names.offset + off);
  if (end < 0 || end >= names.offset + names.size) throw damaged(`section ${s.index}'s name is not NUL-terminated inside the name table`, s.header);
  return b.toString('latin1', names.offset + off, end);
}

function checkInFile(b: Buffer, s: Section, what: string): void {
  if (s.offset + s.size > b.length) {
    throw damaged(`${what} (${s.size} bytes at ${s.offset}) runs past the end of the ${b.length}-byte file`, s.header + 24);
  }
}

function checkSectionBounds(b: Buffer, sections: Section[]): void {
  for (const s of sections) {
    if (s.index === 0 || s.type === SHT_NULL || s.type === SHT_LLVM_ADDRSIG || libbpfIgnores(s.name)) continue;
    // clang compresses DWARF only (-gz); libelf cannot read names or data of others compressed.
    if (s.flags & SHF_COMPRESSED) throw damaged(`section ${s.index} (${s.name}) is marked compressed (SHF_COMPRESSED)`, s.header + 8);
    if (s.type !== SHT_NOBITS && s.size > 0) checkInFile(b, s, `section ${s.index} (${s.name})`);
  }
}

/** Sections libbpf skips without reading: DWARF and the relocations of DWARF and BTF. */
function libbpfIgnores(name: string): boolean {
  return /^(\.rel)?\.debug_/.test(name) || name === '.rel.BTF' || name === '.rel.BTF.ext';
}

function checkSymbolTable(sections: Section[]): Section {
  const tables = sections.filter((s) => s.type === SHT_SYMTAB);
  if (tables.length === 0) throw damaged('there is no symbol table (.symtab): was the object stripped?', 0);
  if (tables.length > 1) throw damaged(`there are ${tables.length} symbol tables (sections ${tables.map((t) => t.index).join(', ')})`, tables[1].header);
  const symtab = tables[0];
  if (symtab.entsize !== SYM_SIZE) throw damaged(`the symbol table has ${symtab.entsize}-byte entries, not ${SYM_SIZE}`, symtab.header + 56);
  if (symtab.size % SYM_SIZE !== 0) throw damaged(`the symbol table's ${symtab.size} bytes are not a whole number of ${SYM_SIZE}-byte symbols`, symtab.header + 32);
  const strings = sections[symtab.link];
  if (symtab.link === 0 || !strings || strings.type !== SHT_STRTAB) {
    throw damaged(`the symbol table links to section ${symtab.link}, which is not a string table`, symtab.header + 40);
  }
  return symtab;
}

function checkRelocations(r: Reader, rel: Section, sections: Section[], symtab: Section): void {
  if (rel.entsize !== REL_SIZE) throw damaged(`relocation section ${rel.index} (${rel.name}) has ${rel.entsize}-byte entries, not ${REL_SIZE}`, rel.header + 56);
  if (rel.size % REL_SIZE !== 0) throw damaged(`relocation section ${rel.index} (${rel.name}): ${rel.size} bytes are not a whole number of ${REL_SIZE}-byte entries`, rel.header + 32);
  const target = sections[rel.info];
  if (!target) throw damaged(`relocation section ${rel.index} (${rel.name}) applies to section ${rel.info}, which does not exist`, rel.header + 44);
  // libbpf relocates instructions only; relocations of other sections are checked where used.
  if (!(target.flags & SHF_EXECINSTR)) return;
  const symbols = Math.floor(symtab.size / SYM_SIZE);
  for (let o = rel.offset; o + REL_SIZE <= rel.offset + rel.size; o += REL_SIZE) {
    const n = (o - rel.offset) / REL_SIZE;
    // ELF64_R_SYM: the upper half of r_info.
    const symbol = r.u32(r.le ? o + 12 : o + 8);
    if (symbol >= symbols) throw damaged(`relocation #${n} of ${rel.name} names symbol ${symbol}, past the ${symbols} symbols`, o + 8);
    const symbolSection = r.u16(symtab.offset + symbol * SYM_SIZE + 6);
    if (symbolSection >= sections.length) {
      throw damaged(`relocation #${n} of ${rel.name} is against symbol ${symbol}, which points to section ${symbolSection} of ${sections.length}`, symtab.offset + symbol * SYM_SIZE + 6);
    }
    const at = r.u64(o);
    if (at % BPF_INSN_SIZE !== 0 || at >= target.size) {
      throw damaged(`relocation #${n} of ${rel.name} is at offset ${at}, not an instruction of ${target.name} (${target.size} bytes)`, o);
    }
  }
}

function asProgbits(b: Buffer, s: Section): Blob {
  if (s.type !== SHT_PROGBITS) throw damaged(`section ${s.index} (${s.name}) has type ${s.type}, not PROGBITS`, s.header + 4);
  const data = b.subarray(s.offset, s.offset + s.size);
  // The magic says the byte order (libbpf reads BTF of either); anything else reads as little endian.
  const le = data.length < 2 || data.readUInt16BE(0) !== BTF_MAGIC;
  return { r: new Reader(data, le), base: s.offset, size: s.size, name: s.name };
}

interface Blob {
  r: Reader;
  base: number;
  size: number;
  name: string;
}

function checkBtf({ r, base, size }: Blob): void {
  const at = (o: number) => base + o;
  if (size < BTF_HEADER_SIZE) throw damaged(`.BTF is ${size} bytes, less than its ${BTF_HEADER_SIZE}-byte header`, base);
  if (r.u16(0) !== BTF_MAGIC) throw damaged(`.BTF starts with 0x${r.u16(0).toString(16)}, not the BTF magic 0xeb9f`, base);
  const hdrLen = r.u32(4);
  const [typeOff, typeLen, strOff, strLen] = [r.u32(8), r.u32(12), r.u32(16), r.u32(20)];
  if (hdrLen < BTF_HEADER_SIZE || hdrLen > size) throw damaged(`.BTF header length ${hdrLen} is outside ${BTF_HEADER_SIZE}..${size}`, at(4));
  if (strOff + strLen > size - hdrLen) {
    throw damaged(`.BTF strings (${strLen} bytes at ${strOff}) run past the ${size - hdrLen} bytes after the header`, at(16));
  }
  if (typeOff + typeLen > strOff) throw damaged(`.BTF types (${typeLen} bytes at ${typeOff}) overlap the strings at ${strOff}`, at(8));
  if (typeOff % 4 !== 0) throw damaged(`.BTF types start at ${typeOff}, not a multiple of 4`, at(8));
  const strings = hdrLen + strOff;
  if (strLen === 0 || strLen - 1 > BTF_MAX_STR_OFFSET) throw damaged(`.BTF string section length ${strLen} is invalid`, at(20));
  if (r.u8(strings) !== 0) throw damaged('.BTF strings do not start with the empty string (a NUL byte)', at(strings));
  if (r.u8(strings + strLen - 1) !== 0) throw damaged('.BTF strings do not end with a NUL byte: the last one is cut', at(strings + strLen - 1));
  checkBtfRecords(r, base, hdrLen + typeOff, typeLen);
}

// Bytes after a type's 12-byte head, by kind: [fixed, per vlen entry]. Kinds libbpf 1.7 knows.
const KIND_SIZES: ReadonlyArray<readonly [number, number] | undefined> = [
  undefined, [4, 0], [0, 0], [12, 0], [0, 12], [0, 12], [0, 8], [0, 0], [0, 0], [0, 0], [0, 0],
  [0, 0], [0, 0], [0, 8], [4, 0], [0, 12], [0, 0], [4, 0], [0, 0], [0, 12],
];

/** The type records must tile the type section; what they say is libbpf's to check. */
function checkBtfRecords(r: Reader, base: number, start: number, length: number): void {
  let o = start;
  const end = start + length;
  for (let id = 1; o + 12 <= end; id++) {
    const info = r.u32(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const sizes = KIND_SIZES[kind];
    if (!sizes) throw damaged(`BTF type [${id}] has kind ${kind}, which libbpf does not know`, base + o + 4);
    const size = 12 + sizes[0] + sizes[1] * (info & 0xffff);
    if (o + size > end) throw damaged(`BTF type [${id}] (${size} bytes) runs past the end of the type section`, base + o);
    o += size;
  }
  if (o !== end) throw damaged(`the BTF type section ends inside a type record (${end - o} bytes left over)`, base + o);
}

// func_info, line_info and core_relo records at least this large (bpf_func_info_min, ...).
const EXT_INFOS: ReadonlyArray<{ name: string; header: number; minRecord: number }> = [
  { name: 'func_info', header: 8, minRecord: 8 },
  { name: 'line_info', header: 16, minRecord: 16 },
  { name: 'core_relo', header: 24, minRecord: 16 },
];

function checkBtfExt(blob: Blob): void {
  const { r, base, size } = blob;
  if (size < 8) throw damaged(`.BTF.ext is ${size} bytes, too short for its header`, base);
  if (r.u16(0) !== BTF_MAGIC) throw damaged(`.BTF.ext starts with 0x${r.u16(0).toString(16)}, not the BTF magic 0xeb9f`, base);
  if (r.u8(2) !== 1) throw damaged(`.BTF.ext version ${r.u8(2)} is not 1, the one libbpf reads`, base + 2);
  if (r.u8(3) !== 0) throw damaged(`.BTF.ext flags 0x${r.u8(3).toString(16)} are not 0`, base + 3);
  const hdrLen = r.u32(4);
  if (hdrLen < 24 || hdrLen >= size) throw damaged(`.BTF.ext header length ${hdrLen} is outside 24..${size - 1}`, base + 4);
  for (const info of EXT_INFOS) {
    if (info.header + 8 > hdrLen) break; // an older header without core_relo
    checkExtInfo(blob, hdrLen, info.name, info.header, info.minRecord);
  }
}

/** One info block: a record size, then per ELF section a (name, count) head and its records. */
function checkExtInfo({ r, base, size }: Blob, hdrLen: number, name: string, header: number, minRecord: number): void {
  const off = r.u32(header);
  const len = r.u32(header + 4);
  if (len === 0) return;
  const where = base + header;
  if (off % 4 !== 0) throw damaged(`.BTF.ext ${name} starts at ${off}, not a multiple of 4`, where);
  if (hdrLen + off + len > size) throw damaged(`.BTF.ext ${name} (${len} bytes at ${off}) runs past the end of .BTF.ext`, where);
  if (len < 4) throw damaged(`.BTF.ext ${name} is too short to hold its record size`, where);
  let o = hdrLen + off;
  const end = o + len;
  const record = r.u32(o);
  if (record < minRecord || record % 4 !== 0) throw damaged(`.BTF.ext ${name} records are ${record} bytes, not a multiple of 4 of at least ${minRecord}`, base + o);
  o += 4;
  if (o === end) throw damaged(`.BTF.ext ${name} has no records`, base + o);
  while (o < end) {
    if (o + 8 > end) throw damaged(`.BTF.ext ${name} ends inside a section head`, base + o);
    const count = r.u32(o + 4);
    if (count === 0 || o + 8 + count * record > end) throw damaged(`.BTF.ext ${name} claims ${count} records of ${record} bytes where they do not fit`, base + o + 4);
    o += 8 + count * record;
  }
}
