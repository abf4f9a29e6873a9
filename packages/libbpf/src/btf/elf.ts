// The little of ELF64 (little-endian) that BTF reading needs: section headers by name and
// the symbol table. BPF objects are relocatable files (ET_REL) from clang -target bpf.
import { BtfParseError } from '../errors';

/** One section header. */
export interface ElfSection {
  index: number;
  name: string;
  /** `sh_type` (SHT_PROGBITS 1, SHT_SYMTAB 2, SHT_NOBITS 8, ...). */
  type: number;
  /** `sh_flags` (SHF_WRITE 1, SHF_ALLOC 2, SHF_EXECINSTR 4, SHF_COMPRESSED 0x800). */
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}

/** One symbol of `.symtab`. */
export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  /** `STT_*`: NOTYPE 0, OBJECT 1, FUNC 2, SECTION 3. */
  type: number;
  /** `STB_*`: LOCAL 0, GLOBAL 1, WEAK 2. */
  bind: number;
  /** Index of the section the symbol is defined in (0: undefined, >= 0xff00: special). */
  section: number;
}

export const SHT_SYMTAB = 2;
export const SHT_NOBITS = 8;
export const SHF_EXECINSTR = 0x4;
const SHF_COMPRESSED = 0x800;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
const SHN_XINDEX = 0xffff;
/** `EM_BPF`. */
export const EM_BPF = 247;

/** True when `bytes` starts with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** A parsed ELF file: its sections and symbols; `bytes` stays referenced for section data. */
export class ElfFile {
  readonly bytes: Buffer;
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  #symbols: ElfSymbol[] | undefined;

  constructor(input: Uint8Array) {
    const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.bytes = b;
    if (!isElf(b)) throw new BtfParseError('not an ELF file (no \\x7fELF magic)', { offset: 0, hint: NOT_BPF_HINT });
    if (b.length < 64) throw new BtfParseError(`truncated ELF header: ${b.length} bytes, an ELF64 header has 64`, { offset: 0 });
    if (b[4] !== 2) throw new BtfParseError(`ELF class ${b[4]} is not ELFCLASS64`, { offset: 4, hint: NOT_BPF_HINT });
    if (b[5] !== 1) {
      throw new BtfParseError(b[5] === 2 ? 'big-endian ELF (clang -target bpfeb) is not supported: build with -target bpf on a little-endian host' : `ELF data encoding ${b[5]} is not ELFDATA2LSB`, { offset: 5 });
    }
    this.machine = b.readUInt16LE(18);
    const shoff = readU64(b, 40);
    const shentsize = b.readUInt16LE(58);
    let shnum = b.readUInt16LE(60);
    let shstrndx = b.readUInt16LE(62);
    if (shoff === 0) throw new BtfParseError('the ELF file has no section headers', { offset: 40 });
    if (shentsize < 64) throw new BtfParseError(`ELF section header size ${shentsize} is below 64`, { offset: 58 });
    checkRange(b, shoff, shentsize, 'section header 0');
    // More than 0xff00 sections: the real count and string table index live in section 0.
    if (shnum === 0) shnum = readU64(b, shoff + 32);
    if (shstrndx === SHN_XINDEX) shstrndx = b.readUInt32LE(shoff + 40);
    checkRange(b, shoff, shnum * shentsize, `${shnum} section headers`);
    const raw: Array<Omit<ElfSection, 'name'> & { nameOff: number }> = [];
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * shentsize;
      raw.push({
        index: i,
        nameOff: b.readUInt32LE(h),
        type: b.readUInt32LE(h + 4),
        flags: readU64(b, h + 8),
        offset: readU64(b, h + 24),
        size: readU64(b, h + 32),
        link: b.readUInt32LE(h + 40),
        info: b.readUInt32LE(h + 44),
      });
    }
    const strtab = raw[shstrndx];
    if (!strtab) throw new BtfParseError(`section name table index ${shstrndx} is past the ${shnum} sections`, { offset: 62 });
    checkRange(b, strtab.offset, strtab.size, 'the section name table');
    this.sections = raw.map(({ nameOff, ...s }) => {
      if (s.type !== SHT_NOBITS && s.index !== 0) checkRange(b, s.offset, s.size, `section ${s.index}`);
      return { ...s, name: cString(b, strtab.offset, strtab.size, nameOff, `name of section ${s.index}`) };
    });
  }

  /** The first section named `name`. */
  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The bytes of a section (a view; NOBITS sections have none). */
  data(section: ElfSection): Buffer {
    if (section.flags & SHF_COMPRESSED) {
      throw new BtfParseError(`section ${section.name} is compressed (SHF_COMPRESSED); decompress the object first (objcopy --decompress-debug-sections)`, { offset: section.offset });
    }
    if (section.type === SHT_NOBITS) return Buffer.alloc(0);
    return this.bytes.subarray(section.offset, section.offset + section.size);
  }

  /** The symbols of `.symtab` (empty when the object has none). */
  get symbols(): readonly ElfSymbol[] {
    this.#symbols ??= this.#readSymbols();
    return this.#symbols;
  }

  #readSymbols(): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    const strtab = this.sections[symtab.link];
    if (!strtab) throw new BtfParseError(`.symtab links to string table ${symtab.link}, which does not exist`, { offset: symtab.offset });
    const b = this.bytes;
    const out: ElfSymbol[] = [];
    for (let o = symtab.offset; o + 24 <= symtab.offset + symtab.size; o += 24) {
      const info = b[o + 4];
      out.push({
        name: cString(b, strtab.offset, strtab.size, b.readUInt32LE(o), 'a symbol name'),
        type: info & 0xf,
        bind: info >> 4,
        section: b.readUInt16LE(o + 6),
        value: readU64(b, o + 8),
        size: readU64(b, o + 16),
      });
    }
    return out;
  }
}

const NOT_BPF_HINT = 'expected a BPF object from clang -g -target bpf (or a raw BTF file such as /sys/kernel/btf/vmlinux)';

function readU64(b: Buffer, o: number): number {
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BtfParseError(`64-bit field ${v} is too large`, { offset: o });
  return Number(v);
}

function checkRange(b: Buffer, offset: number, size: number, what: string): void {
  if (offset + size > b.length) throw new BtfParseError(`${what} (${size} bytes at ${offset}) runs past the end of the ${b.length}-byte file`, { offset });
}

/** A NUL-terminated string at `off` of the table at `base` (`size` bytes). */
export function cString(b: Buffer, base: number, size: number, off: number, what: string): string {
  if (off >= size && !(off === 0 && size === 0)) throw new BtfParseError(`${what}: string offset ${off} is past the ${size}-byte string table`, { offset: base });
  const end = b.indexOf(0, base + off);
  if (end < 0 || end >= base + size) throw new BtfParseError(`${what}: string at ${off} is not NUL-terminated inside its table`, { offset: base + off });
  return b.toString('latin1', base + off, end);
}
