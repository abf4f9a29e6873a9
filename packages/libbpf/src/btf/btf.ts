// BTF (the kernel's BPF Type Format) read in pure TypeScript, from a BPF ELF object's
// `.BTF` section or from a raw blob such as /sys/kernel/btf/vmlinux: every kind, with
// bitfields, and the DATASEC sizes and offsets that clang leaves for libbpf to fill in.
// No native addon, no kernel: the skeleton generator runs anywhere.
import * as fs from 'node:fs';
import { BpfArgumentError, BtfParseError } from '../errors';
import { cString, ElfFile, isElf, STT_OBJECT } from './elf';

/** BTF kind numbers (uapi `BTF_KIND_*`). */
export const BtfKind = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16,
  DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

/** A BTF kind's name, as `bpftool btf dump` prints it; `VOID` is type id 0. */
export type BtfKindName = keyof typeof BtfKind | 'VOID';

const KIND_NAMES: readonly BtfKindName[] = ['VOID', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF',
  'VOLATILE', 'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'];

/** Linkage of a FUNC or VAR: `static`, `global`, or `extern` (defined elsewhere). */
export type BtfLinkage = 'static' | 'global' | 'extern';
const LINKAGES: readonly BtfLinkage[] = ['static', 'global', 'extern'];

interface Base<K extends BtfKindName> {
  /** The type id (index in `Btf.types`). */
  readonly id: number;
  readonly kind: K;
  /** The name ('' when anonymous). */
  readonly name: string;
}

/** `void` (id 0). */
export type BtfVoid = Base<'VOID'>;
/** An integer: `bits` wide starting `offset` bits into its `size` bytes. */
export interface BtfInt extends Base<'INT'> {
  readonly size: number;
  readonly bits: number;
  readonly offset: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
}
/** A pointer to `type`. */
export interface BtfPtr extends Base<'PTR'> { readonly type: number }
/** `type[nelems]`, indexed by `indexType`. */
export interface BtfArray extends Base<'ARRAY'> { readonly type: number; readonly indexType: number; readonly nelems: number }
/** A member of a struct or union; `bitSize` is 0 unless it is a bitfield. */
export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Offset from the start of the struct, in bits. */
  readonly bitOffset: number;
  /** Width of a bitfield in bits; 0 for a plain member. */
  readonly bitSize: number;
}
/** A struct or union of `size` bytes. */
export interface BtfComposite<K extends 'STRUCT' | 'UNION'> extends Base<K> {
  readonly size: number;
  readonly members: readonly BtfMember[];
}
/** A struct: members at their own offsets. */
export type BtfStruct = BtfComposite<'STRUCT'>;
/** A union: every member at offset 0. */
export type BtfUnion = BtfComposite<'UNION'>;
/** An enum of `size` bytes; values are numbers (ENUM) or bigints (ENUM64). */
export interface BtfEnumOf<K extends 'ENUM' | 'ENUM64', V extends number | bigint> extends Base<K> {
  readonly size: number;
  readonly signed: boolean;
  readonly values: ReadonlyArray<{ readonly name: string; readonly value: V }>;
}
/** An enum with 32-bit values (numbers). */
export type BtfEnum = BtfEnumOf<'ENUM', number>;
/** An enum with 64-bit values (bigints; kernel 6.0, clang 15). */
export type BtfEnum64 = BtfEnumOf<'ENUM64', bigint>;
/** A forward declaration: `struct name;` or `union name;`. */
export interface BtfFwd extends Base<'FWD'> { readonly union: boolean }
/** TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG: a name or qualifier on `type`. */
export interface BtfModifier<K extends 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT' | 'TYPE_TAG'> extends Base<K> { readonly type: number }
/** `typedef type name;` */
export type BtfTypedef = BtfModifier<'TYPEDEF'>;
/** `volatile type` */
export type BtfVolatile = BtfModifier<'VOLATILE'>;
/** `const type` */
export type BtfConst = BtfModifier<'CONST'>;
/** `type restrict` (pointers) */
export type BtfRestrict = BtfModifier<'RESTRICT'>;
/** `__attribute__((btf_type_tag(name)))` on `type`. */
export type BtfTypeTag = BtfModifier<'TYPE_TAG'>;
/** A function; `type` is its FUNC_PROTO. */
export interface BtfFunc extends Base<'FUNC'> { readonly type: number; readonly linkage: BtfLinkage }
/** A function signature; a last parameter of type 0 means `...`. */
export interface BtfFuncProto extends Base<'FUNC_PROTO'> {
  readonly returnType: number;
  readonly params: ReadonlyArray<{ readonly name: string; readonly type: number }>;
}
/** A variable. */
export interface BtfVar extends Base<'VAR'> { readonly type: number; readonly linkage: BtfLinkage }
/** One variable of a DATASEC: a VAR id and its place in the section. */
export interface BtfDatasecVar { readonly type: number; readonly offset: number; readonly size: number }
/** An ELF data section (`.data`, `.bss`, `.rodata`, `.maps`, ...) and the variables in it. */
export interface BtfDatasec extends Base<'DATASEC'> { readonly size: number; readonly vars: readonly BtfDatasecVar[] }
/** A floating-point type of `size` bytes. */
export interface BtfFloat extends Base<'FLOAT'> { readonly size: number }
/** `__attribute__((btf_decl_tag(name)))` on `type`, or on its member/parameter `componentIdx` (-1: the type itself). */
export interface BtfDeclTag extends Base<'DECL_TAG'> { readonly type: number; readonly componentIdx: number }

/** Any BTF type, told apart by `kind`. */
export type BtfType = BtfVoid | BtfInt | BtfPtr | BtfArray | BtfStruct | BtfUnion | BtfEnum | BtfEnum64 | BtfFwd
  | BtfTypedef | BtfVolatile | BtfConst | BtfRestrict | BtfTypeTag | BtfFunc | BtfFuncProto | BtfVar | BtfDatasec
  | BtfFloat | BtfDeclTag;

/** Options of `Btf.parse`. */
export interface BtfParseOptions {
  /**
   * Fill in what clang leaves for libbpf in an ELF object: DATASEC sizes (from the section
   * headers) and variable offsets (from the symbol table), as `bpf_object__open` does.
   * Default true; false gives the `.BTF` section exactly as stored (what bpftool prints).
   */
  fixupDatasecs?: boolean;
}

const MODIFIER_KINDS = new Set<BtfKindName>(['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'TYPE_TAG']);
const BTF_MAGIC = 0xeb9f;
const VOID: BtfVoid = Object.freeze({ id: 0, kind: 'VOID', name: '' });

/**
 * The BTF of a BPF object or of a kernel, read without libbpf or a kernel (pure
 * TypeScript: any machine, any user; no minimum kernel).
 *
 * @example
 * const btf = Btf.fromFile('probe.bpf.o');
 * const ev = btf.find('struct event');             // BtfStruct
 * console.log(btf.sizeOf(ev.id), ev.members.map((m) => btf.declaration(m.type, m.name)));
 */
export class Btf {
  /** Every type by id; `types[0]` is `void`. */
  readonly types: readonly BtfType[];
  /** The ELF file the BTF came from, when it came from one. */
  readonly elf: ElfFile | undefined;
  #byName: Map<string, BtfType[]> | undefined;
  #pointerSize: number | undefined;

  /** @internal use Btf.parse or Btf.fromFile */
  constructor(types: BtfType[], elf: ElfFile | undefined) {
    this.types = types;
    this.elf = elf;
  }

  /**
   * Reads BTF from a BPF ELF object (its `.BTF` section) or from a raw BTF blob (such as
   * `/sys/kernel/btf/vmlinux`). Throws a BtfParseError on anything malformed.
   */
  static parse(bytes: Uint8Array, options: BtfParseOptions = {}): Btf {
    if (!(bytes instanceof Uint8Array)) throw new BpfArgumentError('bytes', 'expected a Buffer or Uint8Array holding an ELF object or raw BTF');
    if (isElf(bytes)) {
      const elf = new ElfFile(bytes);
      const sec = elf.section('.BTF');
      if (!sec) {
        throw new BtfParseError('the ELF object has no .BTF section', {
          hint: 'compile with clang -g -target bpf (BTF comes from debug info), and do not strip the object',
        });
      }
      const types = parseBlob(elf.data(sec), sec.offset);
      if (options.fixupDatasecs ?? true) fixupDatasecs(types, elf);
      return new Btf(types, elf);
    }
    return new Btf(parseBlob(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0), undefined);
  }

  /** Reads the file at `path` and parses it (see `parse`). */
  static fromFile(path: string, options?: BtfParseOptions): Btf {
    if (typeof path !== 'string') throw new BpfArgumentError('path', 'expected a file path');
    return Btf.parse(fs.readFileSync(path), options);
  }

  /** The type with id `id`. */
  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new BpfArgumentError('id', `no BTF type ${id} (ids are 0..${this.types.length - 1})`);
    return t;
  }

  /** Every type named `name` (of the given kinds, when given). */
  named(name: string, kinds?: readonly BtfKindName[]): BtfType[] {
    if (!this.#byName) {
      this.#byName = new Map();
      for (const t of this.types) {
        if (!t.name) continue;
        const list = this.#byName.get(t.name);
        if (list) list.push(t);
        else this.#byName.set(t.name, [t]);
      }
    }
    const all = this.#byName.get(name) ?? [];
    return kinds ? all.filter((t) => kinds.includes(t.kind)) : all;
  }

  /**
   * The type a C spelling names: `struct x`, `union x`, `enum x` (ENUM or ENUM64), or a bare
   * name, which may be a typedef, struct, union, enum, INT or FLOAT (one of them; a name
   * that is several is refused with the choices). Forward declarations are skipped.
   */
  find(spec: string): BtfType {
    if (typeof spec !== 'string') throw new BpfArgumentError('type', `expected a C type name such as 'struct event', got ${typeof spec}`);
    const m = /^\s*(?:(struct|union|enum)\s+)?([A-Za-z_$][\w$]*(?:\s+[A-Za-z_$][\w$]*)*)\s*$/.exec(spec);
    if (m && m[1] && /\s/.test(m[2])) throw new BpfArgumentError('type', `'${spec}' is not a C type name`);
    if (m) m[2] = m[2].replace(/\s+/g, ' ');
    if (!m) throw new BpfArgumentError('type', `'${spec}' is not a C type name ('struct x', 'union x', 'enum x' or a typedef name)`);
    const [, tag, name] = m;
    const kinds: readonly BtfKindName[] = tag === 'struct' ? ['STRUCT'] : tag === 'union' ? ['UNION'] : tag === 'enum' ? ['ENUM', 'ENUM64']
      : ['TYPEDEF', 'STRUCT', 'UNION', 'ENUM', 'ENUM64', 'INT', 'FLOAT'];
    const found = this.named(name, kinds);
    if (found.length === 0) {
      const near = this.named(name).filter((t) => t.kind !== 'FWD').map((t) => describeKind(t));
      throw new BpfArgumentError('type', `no ${tag ? `${tag} ` : 'type '}named '${name}' in this BTF` +
        (near.length ? ` (there is ${near.join(', ')})` : this.named(name, ['FWD']).length ? ' (only a forward declaration: the object has no layout for it)'
          : `; clang writes to BTF only the types that globals, maps and function signatures use, so a type used only inside a function is dropped: ` +
            `reference it from a global in the BPF source, e.g. \`const ${tag ?? 'struct'} ${name} *unused_${name} __attribute__((unused));\``));
    }
    const distinct = tag ? found : found.filter((t, i) => found.findIndex((u) => u.kind === t.kind) === i);
    if (!tag && distinct.length > 1) {
      throw new BpfArgumentError('type', `'${name}' names ${distinct.map(describeKind).join(' and ')}: say which, e.g. '${distinct.find((t) => t.kind !== 'TYPEDEF')?.kind.toLowerCase().replace('64', '') ?? 'struct'} ${name}'`);
    }
    return found[0];
  }

  /** Follows typedefs, qualifiers and type tags from `id` to the type that gives the shape. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let depth = 0; MODIFIER_KINDS.has(t.kind); depth++) {
      if (depth > 64) throw new BtfParseError(`BTF type ${id}: the chain of typedefs and qualifiers loops`);
      t = this.type((t as BtfTypedef).type);
    }
    return t;
  }

  /** Bytes taken by a value of type `id`. */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case 'INT': case 'ENUM': case 'ENUM64': case 'STRUCT': case 'UNION': case 'FLOAT': case 'DATASEC': return t.size;
      case 'PTR': return this.pointerSize;
      case 'ARRAY': return t.nelems === 0 ? 0 : t.nelems * this.sizeOf(t.type);
      case 'VAR': return this.sizeOf(t.type);
      default: throw new BpfArgumentError('id', `${this.typeName(id)} (BTF ${t.kind}) has no size`);
    }
  }

  /** Pointer size: that of `long` in this BTF (8 for BPF objects and 64-bit kernels). */
  get pointerSize(): number {
    this.#pointerSize ??= (this.named('long', ['INT'])[0] as BtfInt | undefined)?.size
      ?? (this.named('long int', ['INT'])[0] as BtfInt | undefined)?.size ?? 8;
    return this.#pointerSize;
  }

  /** The C spelling of a type: `struct event`, `__u64`, `char[16]`, `const char *`. */
  typeName(id: number): string {
    return this.declaration(id, '');
  }

  /** A C declaration of `name` with type `id`: `char comm[16]`, `void *p`, `int (*f)(int)`. */
  declaration(id: number, name: string): string {
    return declare(this, id, name, 0).trim();
  }

  /** The DATASECs (`.data`, `.bss`, `.rodata`, `.maps`, `license`, ...). */
  get datasecs(): BtfDatasec[] {
    return this.types.filter((t): t is BtfDatasec => t.kind === 'DATASEC');
  }
}

function describeKind(t: BtfType): string {
  if (t.kind === 'STRUCT' || t.kind === 'UNION') return `${t.kind.toLowerCase()} ${t.name}`;
  if (t.kind === 'ENUM' || t.kind === 'ENUM64') return `enum ${t.name}`;
  return `a ${t.kind.toLowerCase()} ${t.name}`;
}

function declare(btf: Btf, id: number, inner: string, depth: number): string {
  if (depth > 64) return `<loop> ${inner}`;
  const t = btf.type(id);
  const join = (base: string) => (!inner ? base : inner.startsWith('[') ? `${base}${inner}` : `${base} ${inner}`);
  switch (t.kind) {
    case 'VOID': return join('void');
    case 'INT': case 'FLOAT': case 'TYPEDEF': return join(t.name);
    case 'STRUCT': case 'UNION': return join(`${t.kind.toLowerCase()} ${t.name || '{...}'}`);
    case 'ENUM': case 'ENUM64': return join(`enum ${t.name || '{...}'}`);
    case 'FWD': return join(`${t.union ? 'union' : 'struct'} ${t.name}`);
    case 'PTR': {
      const target = btf.type(t.type);
      const star = `*${inner}`;
      return declare(btf, t.type, target.kind === 'ARRAY' || target.kind === 'FUNC_PROTO' ? `(${star})` : star, depth + 1);
    }
    case 'ARRAY': return declare(btf, t.type, `${inner}[${t.nelems}]`, depth + 1);
    case 'CONST': case 'VOLATILE': case 'RESTRICT': {
      const q = t.kind.toLowerCase();
      const target = btf.type(t.type);
      // A qualified pointer is `T *const p`; a qualified anything else is `const T p`.
      if (target.kind === 'PTR') return declare(btf, t.type, inner ? `${q} ${inner}` : q, depth + 1);
      return `${q} ${declare(btf, t.type, inner, depth + 1)}`;
    }
    case 'TYPE_TAG': return declare(btf, t.type, inner, depth + 1);
    case 'FUNC_PROTO': {
      const params = t.params.map((p) => (p.type === 0 ? '...' : declare(btf, p.type, p.name, depth + 1).trim()));
      return declare(btf, t.returnType, `${inner}(${params.length ? params.join(', ') : 'void'})`, depth + 1);
    }
    case 'FUNC': case 'VAR': return declare(btf, t.type, inner || t.name, depth + 1);
    case 'DATASEC': return join(`SEC("${t.name}")`);
    case 'DECL_TAG': return join(`__attribute__((btf_decl_tag("${t.name}")))`);
  }
}

// ---- the blob ---------------------------------------------------------------------------

/** Parses a raw BTF blob; `base` is its offset in the file, for error offsets. */
function parseBlob(b: Buffer, base: number): BtfType[] {
  if (b.length < 24) throw new BtfParseError(`BTF is ${b.length} bytes, shorter than its 24-byte header`, { offset: base });
  const magic = b.readUInt16LE(0);
  if (magic !== BTF_MAGIC) {
    const hint = magic === 0x9feb ? 'this BTF is big-endian; only little-endian BTF is supported' : 'expected a BPF ELF object or raw BTF (magic 0xeB9F)';
    throw new BtfParseError(`bad BTF magic 0x${magic.toString(16)}`, { offset: base, hint });
  }
  if (b[2] !== 1) throw new BtfParseError(`BTF version ${b[2]} is not supported (only version 1)`, { offset: base + 2 });
  const hdrLen = b.readUInt32LE(4);
  if (hdrLen < 24 || hdrLen > b.length) throw new BtfParseError(`BTF header length ${hdrLen} is invalid`, { offset: base + 4 });
  const typeOff = b.readUInt32LE(8);
  const typeLen = b.readUInt32LE(12);
  const strOff = b.readUInt32LE(16);
  const strLen = b.readUInt32LE(20);
  const typeStart = hdrLen + typeOff;
  const strStart = hdrLen + strOff;
  if (typeStart + typeLen > b.length) throw new BtfParseError(`BTF type section (${typeLen} bytes at ${typeOff}) runs past the ${b.length}-byte blob`, { offset: base + 8 });
  if (strStart + strLen > b.length) throw new BtfParseError(`BTF string section (${strLen} bytes at ${strOff}) runs past the ${b.length}-byte blob`, { offset: base + 16 });
  if (strLen > 0 && b[strStart + strLen - 1] !== 0) throw new BtfParseError('BTF string section does not end with NUL', { offset: base + strStart + strLen - 1 });

  const names = new Map<number, string>();
  const str = (off: number, what: string): string => {
    let s = names.get(off);
    if (s === undefined) {
      s = cString(b, strStart, strLen, off, what);
      names.set(off, s);
    }
    return s;
  };

  const types: BtfType[] = [VOID];
  const end = typeStart + typeLen;
  let o = typeStart;
  while (o < end) {
    const id = types.length;
    const at = o;
    const need = (n: number) => {
      if (o + n > end) throw new BtfParseError(`BTF type ${id} is truncated: needs ${n} more bytes, the type section has ${end - o}`, { offset: base + o });
    };
    need(12);
    const name = str(b.readUInt32LE(o), `name of BTF type ${id}`);
    const info = b.readUInt32LE(o + 4);
    const sizeOrType = b.readUInt32LE(o + 8);
    o += 12;
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kindFlag = (info >>> 31) === 1;
    const kind = KIND_NAMES[kindNum];
    if (kind === undefined || kind === 'VOID') throw new BtfParseError(`BTF type ${id} has unknown kind ${kindNum}`, { offset: base + at + 4 });
    let t: BtfType;
    switch (kind) {
      case 'INT': {
        need(4);
        const v = b.readUInt32LE(o);
        o += 4;
        const enc = (v >>> 24) & 0x0f;
        t = { id, kind, name, size: sizeOrType, bits: v & 0xff, offset: (v >>> 16) & 0xff, signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0 };
        if (t.bits === 0 || t.offset + t.bits > sizeOrType * 8) throw new BtfParseError(`BTF INT ${id} '${name}': ${t.bits} bits at bit ${t.offset} do not fit in ${sizeOrType} bytes`, { offset: base + at });
        break;
      }
      case 'PTR': t = { id, kind, name, type: sizeOrType }; break;
      case 'ARRAY': {
        need(12);
        t = { id, kind, name, type: b.readUInt32LE(o), indexType: b.readUInt32LE(o + 4), nelems: b.readUInt32LE(o + 8) };
        o += 12;
        break;
      }
      case 'STRUCT': case 'UNION': {
        need(12 * vlen);
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = b.readUInt32LE(o + 8);
          members.push({
            name: str(b.readUInt32LE(o), `name of member ${i} of BTF type ${id}`),
            type: b.readUInt32LE(o + 4),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        t = { id, kind, name, size: sizeOrType, members };
        break;
      }
      case 'ENUM': {
        need(8 * vlen);
        const values: Array<{ name: string; value: number }> = [];
        for (let i = 0; i < vlen; i++, o += 8) {
          values.push({ name: str(b.readUInt32LE(o), `enumerator ${i} of BTF type ${id}`), value: kindFlag ? b.readInt32LE(o + 4) : b.readUInt32LE(o + 4) });
        }
        t = { id, kind, name, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case 'ENUM64': {
        need(12 * vlen);
        const values: Array<{ name: string; value: bigint }> = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const raw = (BigInt(b.readUInt32LE(o + 8)) << 32n) | BigInt(b.readUInt32LE(o + 4));
          values.push({ name: str(b.readUInt32LE(o), `enumerator ${i} of BTF type ${id}`), value: kindFlag ? BigInt.asIntN(64, raw) : raw });
        }
        t = { id, kind, name, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case 'FWD': t = { id, kind, name, union: kindFlag }; break;
      case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
        t = { id, kind, name, type: sizeOrType } as BtfModifier<typeof kind>;
        break;
      case 'FUNC': t = { id, kind, name, type: sizeOrType, linkage: linkage(vlen, id, base + at) }; break;
      case 'FUNC_PROTO': {
        need(8 * vlen);
        const params: Array<{ name: string; type: number }> = [];
        for (let i = 0; i < vlen; i++, o += 8) params.push({ name: str(b.readUInt32LE(o), `parameter ${i} of BTF type ${id}`), type: b.readUInt32LE(o + 4) });
        t = { id, kind, name, returnType: sizeOrType, params };
        break;
      }
      case 'VAR': {
        need(4);
        t = { id, kind, name, type: sizeOrType, linkage: linkage(b.readUInt32LE(o), id, base + o) };
        o += 4;
        break;
      }
      case 'DATASEC': {
        need(12 * vlen);
        const vars: BtfDatasecVar[] = [];
        for (let i = 0; i < vlen; i++, o += 12) vars.push({ type: b.readUInt32LE(o), offset: b.readUInt32LE(o + 4), size: b.readUInt32LE(o + 8) });
        t = { id, kind, name, size: sizeOrType, vars };
        break;
      }
      case 'FLOAT': t = { id, kind, name, size: sizeOrType }; break;
      case 'DECL_TAG': {
        need(4);
        t = { id, kind, name, type: sizeOrType, componentIdx: b.readInt32LE(o) };
        o += 4;
        break;
      }
    }
    types.push(t);
  }
  checkReferences(types);
  return types;
}

function linkage(n: number, id: number, offset: number): BtfLinkage {
  const l = LINKAGES[n];
  if (!l) throw new BtfParseError(`BTF type ${id} has unknown linkage ${n}`, { offset });
  return l;
}

/** Every type id a type refers to must exist, and kinds must fit where they are used. */
function checkReferences(types: BtfType[]): void {
  const n = types.length;
  const bad = (t: BtfType, ref: number, what: string) => {
    throw new BtfParseError(`BTF type ${t.id} (${t.kind}${t.name ? ` '${t.name}'` : ''}): ${what} refers to type ${ref}, but there are only ${n} types`);
  };
  const ref = (t: BtfType, id: number, what: string) => {
    if (id >= n) bad(t, id, what);
  };
  for (const t of types) {
    switch (t.kind) {
      case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG': case 'FUNC': case 'VAR': case 'DECL_TAG':
        ref(t, t.type, 'its type');
        break;
      case 'ARRAY': ref(t, t.type, 'its element type'); ref(t, t.indexType, 'its index type'); break;
      case 'STRUCT': case 'UNION':
        for (const m of t.members) {
          ref(t, m.type, `member '${m.name}'`);
          if (m.bitOffset + (m.bitSize || 0) > t.size * 8 && t.size > 0 && m.bitSize > 0) {
            throw new BtfParseError(`BTF ${t.kind} ${t.id} '${t.name}': bitfield '${m.name}' (${m.bitSize} bits at bit ${m.bitOffset}) lies outside its ${t.size} bytes`);
          }
        }
        break;
      case 'FUNC_PROTO':
        ref(t, t.returnType, 'its return type');
        for (const p of t.params) ref(t, p.type, `parameter '${p.name}'`);
        break;
      case 'DATASEC':
        for (const v of t.vars) {
          ref(t, v.type, 'a variable');
          const k = types[v.type].kind;
          if (k !== 'VAR' && k !== 'FUNC') throw new BtfParseError(`BTF DATASEC ${t.id} '${t.name}' lists type ${v.type}, a ${k}, not a VAR`);
        }
        break;
      default:
        break;
    }
  }
}

/**
 * What bpf_object__open does to an object's BTF before use: clang writes DATASEC sizes and
 * variable offsets as 0 in .o files, the ELF section headers and symbols have the values.
 * Variables are then sorted by offset, as libbpf sorts them.
 */
function fixupDatasecs(types: BtfType[], elf: ElfFile): void {
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    if (t.kind !== 'DATASEC') continue;
    const sec = elf.section(t.name);
    if (!sec) continue; // .kconfig, .ksyms: extern sections libbpf makes up itself
    const symbols = new Map<string, number>();
    for (const s of elf.symbols) if (s.section === sec.index && s.type === STT_OBJECT) symbols.set(s.name, s.value);
    const vars = t.vars.map((v) => {
      const name = types[v.type].name;
      const value = symbols.get(name);
      return value !== undefined && v.offset === 0 ? { ...v, offset: value } : v;
    }).sort((a, z) => a.offset - z.offset);
    types[i] = { ...t, size: t.size || sec.size, vars };
  }
}

/** Reads BTF from a path or bytes (see `Btf.parse`); a Btf is passed through. */
export function loadBtf(source: string | Uint8Array | Btf, options?: BtfParseOptions): Btf {
  if (source instanceof Btf) return source;
  if (typeof source === 'string') return Btf.fromFile(source, options);
  if (source instanceof Uint8Array) return Btf.parse(source, options);
  throw new BpfArgumentError('source', `expected a file path, a Buffer or a Btf, got ${source === null ? 'null' : typeof source}`);
}
