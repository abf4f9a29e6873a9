// Deterministic mutations of real BPF objects for the fuzz test (test/kernel/fuzz.test.ts):
// item i of seed s is always the same bytes, so a child process rebuilds its batch from
// (seed, index) alone and a failure is replayed from the two numbers.
import { ElfFile, type ElfSection } from '../../src/btf/elf';

/** The kinds of damage, each aimed at a part of the object libbpf parses. */
export const MUTATION_KINDS = ['flip', 'truncate', 'section', 'btf', 'btf-ext', 'reloc'] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** One fuzz input: which object, what was done to it, and whether it is opened by path. */
export interface FuzzItem {
  index: number;
  base: number;
  kind: MutationKind;
  byPath: boolean;
}

/** A small, fast PRNG (mulberry32) over a 32-bit state; `next()` is uniform in [0, 2^32). */
export class Prng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.next() / 0x1_0000_0000) * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
}

/** The seed of one item: a hash of (seed, index), so items are independent of each other. */
export function itemSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The plan of a run: kinds in turn, objects in turn within each kind, and one item in
 * eight opened by path (libbpf reads the file itself then, a different code path).
 */
export function planItem(index: number, bases: number): FuzzItem {
  const kinds = MUTATION_KINDS.length;
  return { index, kind: MUTATION_KINDS[index % kinds], base: Math.floor(index / kinds) % bases, byPath: index % 8 === 3 };
}

/** Values that tend to break parsers: edges of the field widths, and the field's own neighbours. */
function interesting(rng: Prng, original: number, fileSize: number, width: 1 | 2 | 4 | 8): number {
  const max = width === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (width * 8) - 1;
  const choices = [0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
    original + 1, original - 1, original + 4, original - 4, original * 2, original >>> 1, fileSize, fileSize + 1, fileSize - 1,
    rng.next(), rng.below(fileSize + 64)];
  const v = rng.pick(choices);
  return Math.min(Math.max(0, v), max);
}

function writeField(b: Buffer, offset: number, width: 1 | 2 | 4 | 8, value: number): void {
  if (offset < 0 || offset + width > b.length) return;
  if (width === 1) b.writeUInt8(value & 0xff, offset);
  else if (width === 2) b.writeUInt16LE(value & 0xffff, offset);
  else if (width === 4) b.writeUInt32LE(value >>> 0, offset);
  else b.writeBigUInt64LE(BigInt(value), offset);
}

function readField(b: Buffer, offset: number, width: 1 | 2 | 4 | 8): number {
  if (offset < 0 || offset + width > b.length) return 0;
  if (width === 1) return b.readUInt8(offset);
  if (width === 2) return b.readUInt16LE(offset);
  if (width === 4) return b.readUInt32LE(offset);
  return Number(b.readBigUInt64LE(offset) & 0x1f_ffff_ffff_ffffn);
}

/** Sets the field at `offset` to an interesting value. */
function damageField(rng: Prng, b: Buffer, offset: number, width: 1 | 2 | 4 | 8): void {
  writeField(b, offset, width, interesting(rng, readField(b, offset, width), b.length, width));
}

/** Where the parts libbpf reads are, found once per base object (it is not damaged). */
export interface ObjectMap {
  sections: readonly ElfSection[];
  shoff: number;
  shentsize: number;
  btf: ElfSection | undefined;
  btfExt: ElfSection | undefined;
  /** Offsets (in the file) of each BTF type record and of its kind-specific data words. */
  btfRecords: Array<{ start: number; words: number }>;
  rels: ElfSection[];
  symtab: ElfSection | undefined;
}

/** Locates sections, BTF type records, relocations and symbols of a pristine object. */
export function mapObject(bytes: Buffer): ObjectMap {
  const elf = new ElfFile(bytes);
  const btf = elf.section('.BTF');
  return {
    sections: elf.sections,
    shoff: Number(bytes.readBigUInt64LE(40)),
    shentsize: bytes.readUInt16LE(58),
    btf,
    btfExt: elf.section('.BTF.ext'),
    btfRecords: btf ? btfRecords(bytes, btf.offset) : [],
    rels: elf.sections.filter((s) => s.type === 9 /* SHT_REL */),
    symtab: elf.sections.find((s) => s.type === 2 /* SHT_SYMTAB */),
  };
}

// Bytes after the 12-byte common record: per kind, fixed and per-vlen-entry sizes.
const KIND_EXTRA: Record<number, [fixed: number, perEntry: number]> = {
  1: [4, 0], 2: [0, 0], 3: [12, 0], 4: [0, 12], 5: [0, 12], 6: [0, 8], 7: [0, 0], 8: [0, 0], 9: [0, 0], 10: [0, 0],
  11: [0, 0], 12: [0, 0], 13: [0, 8], 14: [4, 0], 15: [0, 12], 16: [0, 0], 17: [4, 0], 18: [0, 0], 19: [0, 12],
};

function btfRecords(b: Buffer, base: number): Array<{ start: number; words: number }> {
  const hdrLen = b.readUInt32LE(base + 4);
  const typeOff = b.readUInt32LE(base + 8);
  const typeLen = b.readUInt32LE(base + 12);
  const out: Array<{ start: number; words: number }> = [];
  let o = base + hdrLen + typeOff;
  const end = o + typeLen;
  while (o + 12 <= end) {
    const info = b.readUInt32LE(o + 4);
    const [fixed, per] = KIND_EXTRA[(info >>> 24) & 0x1f] ?? [0, 0];
    const size = 12 + fixed + per * (info & 0xffff);
    out.push({ start: o, words: size / 4 });
    o += size;
  }
  return out;
}

function flip(rng: Prng, b: Buffer): Buffer {
  const n = 1 + rng.below(rng.below(4) === 0 ? 16 : 3);
  for (let k = 0; k < n; k++) {
    const at = rng.below(b.length);
    b[at] = rng.below(2) ? b[at] ^ (1 << rng.below(8)) : rng.below(256);
  }
  return b;
}

function truncate(rng: Prng, b: Buffer, m: ObjectMap): Buffer {
  // Half the cuts land at or next to a section boundary, where length checks matter most.
  const edges = m.sections.flatMap((s) => [s.offset, s.offset + s.size]).concat([64, m.shoff, m.shoff + m.shentsize]);
  const cut = rng.below(2) ? rng.pick(edges) + rng.below(9) - 4 : rng.below(b.length);
  return b.subarray(0, Math.min(Math.max(0, cut), b.length - 1));
}

// Section header fields: [offset in the header, width].
const SHDR_FIELDS: Array<[number, 4 | 8]> = [[0, 4], [4, 4], [8, 8], [24, 8], [32, 8], [40, 4], [44, 4], [48, 8], [56, 8]];
// ELF header fields that locate the section table: e_shoff, e_shentsize, e_shnum, e_shstrndx, e_machine, e_type.
const EHDR_FIELDS: Array<[number, 2 | 8]> = [[40, 8], [58, 2], [60, 2], [62, 2], [18, 2], [16, 2]];

function section(rng: Prng, b: Buffer, m: ObjectMap): Buffer {
  const rounds = 1 + rng.below(2);
  for (let k = 0; k < rounds; k++) {
    if (rng.below(6) === 0) {
      const [o, w] = rng.pick(EHDR_FIELDS);
      damageField(rng, b, o, w);
      continue;
    }
    // Aim at the sections libbpf cares about more often than at debug info.
    const named = m.sections.filter((s) => /^(\.BTF|\.rel|\.symtab|\.strtab|\.maps|\.rodata|\.data|\.bss|license|syscall|tp|tracepoint|raw_tp|\.text)/.test(s.name));
    const s = rng.below(3) ? rng.pick(named.length ? named : m.sections) : rng.pick(m.sections);
    const [o, w] = rng.pick(SHDR_FIELDS);
    const at = m.shoff + s.index * m.shentsize + o;
    if (rng.below(4) === 0) {
      // Another section's value: overlapping or swapped sections rather than wild numbers.
      const other = rng.pick(m.sections);
      writeField(b, at, w, readField(b, m.shoff + other.index * m.shentsize + o, w));
    } else {
      damageField(rng, b, at, w);
    }
  }
  return b;
}

// struct btf_header: magic u16, version u8, flags u8, hdr_len, type_off, type_len, str_off, str_len.
const BTF_HDR_FIELDS: Array<[number, 1 | 2 | 4]> = [[0, 2], [2, 1], [3, 1], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4]];

function btf(rng: Prng, b: Buffer, m: ObjectMap): Buffer {
  if (!m.btf) return flip(rng, b);
  const base = m.btf.offset;
  const choice = rng.below(10);
  if (choice < 3 || m.btfRecords.length === 0) {
    const [o, w] = rng.pick(BTF_HDR_FIELDS);
    damageField(rng, b, base + o, w);
  } else if (choice < 9) {
    // A type record: name_off, info (kind, vlen, kflag), size/type, or a word of its members.
    const r = rng.pick(m.btfRecords);
    const word = rng.below(3) ? rng.below(3) : rng.below(r.words);
    const at = r.start + word * 4;
    if (word === 1 && rng.below(2)) {
      const info = b.readUInt32LE(at);
      const part = rng.below(3);
      const next = part === 0 ? (info & ~0x1f000000) | (rng.below(32) << 24)
        : part === 1 ? (info & ~0xffff) | interesting(rng, info & 0xffff, b.length, 2)
          : info ^ 0x80000000;
      b.writeUInt32LE(next >>> 0, at);
    } else {
      damageField(rng, b, at, 4);
    }
  } else {
    // The string section: drop its terminating NUL or garble a name.
    const strOff = base + b.readUInt32LE(base + 4) + b.readUInt32LE(base + 16);
    const strLen = b.readUInt32LE(base + 20);
    const at = rng.below(2) ? strOff + strLen - 1 : strOff + rng.below(strLen);
    if (at < b.length) b[at] = rng.below(2) ? 0x41 : rng.below(256);
  }
  return b;
}

// struct btf_ext_header: magic u16, version u8, flags u8, hdr_len, func_info_off/len,
// line_info_off/len, core_relo_off/len.
const BTF_EXT_HDR_FIELDS: Array<[number, 1 | 2 | 4]> = [[0, 2], [2, 1], [3, 1], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4]];

function btfExt(rng: Prng, b: Buffer, m: ObjectMap): Buffer {
  const s = m.btfExt;
  if (!s) return btf(rng, b, m);
  if (rng.below(3) === 0) {
    const [o, w] = rng.pick(BTF_EXT_HDR_FIELDS);
    damageField(rng, b, s.offset + o, w);
  } else {
    // A word of the info blocks: record sizes, section name offsets, counts, insn offsets, type ids.
    const hdrLen = b.readUInt32LE(s.offset + 4);
    const words = Math.floor((s.size - hdrLen) / 4);
    const n = 1 + rng.below(2);
    for (let k = 0; k < n && words > 0; k++) damageField(rng, b, s.offset + hdrLen + rng.below(words) * 4, 4);
  }
  return b;
}

function reloc(rng: Prng, b: Buffer, m: ObjectMap): Buffer {
  const rounds = 1 + rng.below(2);
  for (let k = 0; k < rounds; k++) {
    const sym = m.symtab;
    if (sym && (rng.below(3) === 0 || m.rels.length === 0)) {
      // A symbol the relocations point at: st_name, st_info, st_shndx, st_value, st_size.
      const at = sym.offset + rng.below(Math.floor(sym.size / 24)) * 24;
      const [o, w] = rng.pick<[number, 1 | 2 | 4 | 8]>([[0, 4], [4, 1], [6, 2], [8, 8], [16, 8]]);
      damageField(rng, b, at + o, w);
      continue;
    }
    if (m.rels.length === 0) return flip(rng, b);
    const rel = rng.pick(m.rels.filter((r) => !r.name.includes('debug')).concat(m.rels.slice(0, 1)));
    const at = rel.offset + rng.below(Math.max(1, Math.floor(rel.size / 16))) * 16;
    const part = rng.below(4);
    if (part === 0) damageField(rng, b, at, 8); // r_offset
    else if (part === 1) damageField(rng, b, at + 12, 4); // symbol index
    else if (part === 2) damageField(rng, b, at + 8, 4); // relocation type
    else damageField(rng, b, at + 12, 4);
  }
  return b;
}

/** The mutated bytes of `item` (a fresh copy; `base` and `map` are the pristine object's). */
export function mutate(seed: number, item: FuzzItem, base: Buffer, map: ObjectMap): Buffer {
  const rng = new Prng(itemSeed(seed, item.index));
  const b = Buffer.from(base);
  switch (item.kind) {
    case 'flip': return flip(rng, b);
    case 'truncate': return truncate(rng, b, map);
    case 'section': return section(rng, b, map);
    case 'btf': return btf(rng, b, map);
    case 'btf-ext': return btfExt(rng, b, map);
    case 'reloc': return reloc(rng, b, map);
  }
}
