// Global variables by their C names, located through BTF (DATASEC .rodata/.data/.bss).
import { BpfArgumentError, BpfError, BtfParseError } from './errors';
import type { NativeBtfType, NativeDatasecVar } from './native';
import { constants as osConstants } from 'node:os';
import { BtfKind } from './btf/btf';
import type { Codec } from './btf/codec-support';

/** BTF kinds (uapi `BTF_KIND_*`); the same object as `BtfKind` of src/btf. */
export { BtfKind };

/** How a global's bytes are read and written. */
export type GlobalKind = 'int' | 'bool' | 'bytes';

/** A global variable's place and shape. */
export interface GlobalVar {
  name: string;
  offset: number;
  size: number;
  kind: GlobalKind;
  signed: boolean;
  /** C type name after typedefs, for messages (`__u64`, `struct foo`, `char[16]`). */
  typeName: string;
}

const MODIFIERS = new Set<number>([BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG]);

/** Follows typedefs and qualifiers of a type id to the type that gives the shape. */
export function resolveBtfType(typeOf: (id: number) => NativeBtfType, id: number): { type: NativeBtfType; name: string } {
  const start = id;
  let name = '';
  for (let depth = 0; depth < 32; depth++) {
    const t = typeOf(id);
    if (t.kind === BtfKind.TYPEDEF && !name) name = t.name;
    if (!MODIFIERS.has(t.kind)) return { type: t, name: name || t.name };
    id = t.type ?? 0;
  }
  // libbpf's BTF validation accepts a modifier that refers back to itself; C never makes one.
  throw new BtfParseError(`BTF type [${start}] is followed by more than 32 typedefs and qualifiers in a row: a loop in damaged BTF`,
    { hint: 'the object is truncated or corrupted: build it again (clang -g -O2 -target bpf -c).' });
}

/** Builds the table of globals of one section from its DATASEC variables. */
export function describeGlobals(vars: NativeDatasecVar[], typeOf: (id: number) => NativeBtfType): Map<string, GlobalVar> {
  const out = new Map<string, GlobalVar>();
  for (const v of vars) {
    const { type, name } = resolveBtfType(typeOf, v.typeId);
    let kind: GlobalKind = 'bytes';
    let signed = false;
    let typeName = name;
    if (type.kind === BtfKind.INT && [1, 2, 4, 8].includes(v.size)) {
      kind = type.bool ? 'bool' : 'int';
      signed = !!type.signed;
    } else if ((type.kind === BtfKind.ENUM || type.kind === BtfKind.ENUM64) && [1, 2, 4, 8].includes(v.size)) {
      kind = 'int';
      signed = !!type.signed;
      typeName = `enum ${type.name}`;
    } else if (type.kind === BtfKind.PTR && v.size === 8) {
      // A pointer of any other size comes only from damaged BTF: read it as bytes.
      kind = 'int';
    } else if (type.kind === BtfKind.ARRAY) {
      typeName = `${resolveBtfType(typeOf, type.elemType ?? 0).name}[${type.nelems}]`;
    } else if (type.kind === BtfKind.STRUCT || type.kind === BtfKind.UNION) {
      typeName = `${type.kind === BtfKind.STRUCT ? 'struct' : 'union'} ${type.name}`;
    }
    out.set(v.name, { name: v.name, offset: v.offset, size: v.size, kind, signed, typeName });
  }
  return out;
}

/** Reads and writes a section's bytes; supplied by the open or the loaded object. */
export interface SectionAccess {
  read(offset: number, length: number): Buffer;
  write(offset: number, bytes: Buffer): void;
  /** Throws when writes are not allowed (`.rodata` after load). */
  checkWritable(): void;
  /** Throws when the owner is closed or consumed. */
  checkOpen(): void;
}

/** Value of a global: integers as number (<= 32 bits) or bigint (64 bits), bool, or bytes. */
export type GlobalValue = number | bigint | boolean | Buffer;

/** Range-checks and encodes an integer into `size` little-endian bytes. */
export function encodeInt(name: string, value: unknown, size: number, signed: boolean): Buffer {
  checkIntSize(name, size);
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value)) {
    throw new BpfArgumentError(name, `${value} is beyond 2^53 and may already have lost precision: pass a bigint`);
  } else if (typeof value === 'boolean') big = value ? 1n : 0n;
  else throw new BpfArgumentError(name, `expected an integer (number or bigint), got ${describe(value)}`);
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (big < min || big > max) {
    throw new BpfArgumentError(name, `${big} is out of range for a ${signed ? 'signed' : 'unsigned'} ${size * 8}-bit integer (${min}..${max})`);
  }
  // Little-endian, two 32-bit words at a time: Buffer's writeBigUInt64LE and subarray are
  // JS of Node's that V8 compiles at their first call, ~0.1 ms of a process's first start.
  const u = BigInt.asUintN(64, big);
  const words = [Number(u & 0xffffffffn), Number(u >> 32n)];
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = words[i >> 2] >>> ((i & 3) * 8);
  return bytes;
}

/** Decodes `size` little-endian bytes: number up to 32 bits, bigint for 64 bits. */
export function decodeInt(bytes: Buffer, signed: boolean): number | bigint {
  checkIntSize('bytes', bytes.length);
  switch (bytes.length) {
    case 1: return signed ? bytes.readInt8(0) : bytes.readUInt8(0);
    case 2: return signed ? bytes.readInt16LE(0) : bytes.readUInt16LE(0);
    case 4: return signed ? bytes.readInt32LE(0) : bytes.readUInt32LE(0);
    default: return signed ? bytes.readBigInt64LE(0) : bytes.readBigUInt64LE(0);
  }
}

function checkIntSize(name: string, size: number): void {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
    throw new BpfArgumentError(name, `integers are 1, 2, 4 or 8 bytes, not ${size}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  return typeof v === 'number' ? String(v) : typeof v;
}

/**
 * The globals of one section (`.rodata`, `.data` or `.bss`) by C name.
 * Before load, `set` changes the initial image (for `.rodata`, what `const volatile`
 * values the verifier sees); after load, `.data`/`.bss` are the live kernel memory.
 */
export class GlobalSection {
  readonly #section: string;
  readonly #vars: Map<string, GlobalVar>;
  readonly #access: SectionAccess | undefined;
  readonly #locate: GlobalLocator | undefined;

  /**
   * @internal `locate` names the section a global of another section is in, so that a
   * lookup in the wrong one says where it is.
   */
  constructor(section: string, vars: Map<string, GlobalVar>, access: SectionAccess | undefined, locate?: GlobalLocator) {
    this.#section = section;
    this.#vars = vars;
    this.#access = access;
    this.#locate = locate;
  }

  /** The section name, e.g. `.bss`. */
  get section(): string {
    return this.#section;
  }

  /** Names of the globals in this section. */
  get names(): string[] {
    return [...this.#vars.keys()];
  }

  /** Place and shape of a global. */
  describe(name: string): GlobalVar {
    const v = this.#vars.get(name);
    if (!v) {
      const elsewhere = typeof name === 'string' ? this.#locate?.(name) : undefined;
      if (elsewhere !== undefined && elsewhere !== this.#section) {
        throw new BpfError(`global lookup in ${this.#section}`, osConstants.errno.ENOENT, wrongSectionMessage(name, this.#section, elsewhere),
          { hint: `use the object's ${sectionProperty(elsewhere)} instead of its ${sectionProperty(this.#section)}` });
      }
      const known = this.names.length ? this.names.join(', ') : 'none';
      throw new BpfError(`global lookup in ${this.#section}`, osConstants.errno.ENOENT,
        `no global named '${name}' in ${this.#section} (known: ${known})`);
    }
    return v;
  }

  /**
   * Reads a global: number/bigint for integers, boolean for `bool`, a copy of the bytes for
   * anything else; or, given the codec of its type (`btfCodec`, or a bpf-skel module's
   * codecs), the decoded value: structs as objects, arrays as arrays.
   *
   * @example
   * const cfg = open.rodata.get('config', btfCodec('probe.bpf.o', 'struct config'));
   */
  get(name: string): GlobalValue;
  get<T>(name: string, codec: Codec<T, unknown>): T;
  get<T>(name: string, codec?: Codec<T, unknown>): GlobalValue | T {
    const v = this.describe(name);
    if (codec !== undefined) {
      checkGlobalCodec(v, codec);
      return codec.decode(this.#read(v));
    }
    const bytes = this.#read(v);
    if (v.kind === 'int') return decodeInt(bytes, v.signed);
    if (v.kind === 'bool') return bytes[0] !== 0;
    return bytes;
  }

  /**
   * Writes a global; integers are range-checked, byte values must have the exact size. With
   * the codec of its type, `value` is encoded through it (structs, arrays, strings...).
   *
   * @example
   * open.rodata.set('config', { rate: 10, verbose: true }, config); // config: a codec
   */
  set(name: string, value: GlobalValue): void;
  set<E>(name: string, value: E, codec: Codec<unknown, E>): void;
  set<E>(name: string, value: GlobalValue | E, codec?: Codec<unknown, E>): void {
    const v = this.describe(name);
    let bytes: Buffer;
    if (codec !== undefined) {
      checkGlobalCodec(v, codec);
      this.#writable();
      bytes = codec.encode(value as E);
    } else if (v.kind === 'bytes') {
      this.#writable();
      if (!Buffer.isBuffer(value) || value.length !== v.size) {
        throw new BpfArgumentError(name, `${v.typeName} needs a Buffer of exactly ${v.size} bytes, got ${describe(value)}`);
      }
      bytes = value;
    } else {
      this.#writable();
      bytes = encodeInt(name, value, v.size, v.signed);
    }
    this.#requireAccess().write(v.offset, bytes);
  }

  /** A copy of a global's bytes, whatever its type. */
  getBytes(name: string): Buffer {
    return this.#read(this.describe(name));
  }

  /** Writes a global's bytes, whatever its type: exactly its size. */
  setBytes(name: string, bytes: Uint8Array): void {
    const v = this.describe(name);
    this.#writable();
    if (!(bytes instanceof Uint8Array) || bytes.length !== v.size) {
      throw new BpfArgumentError(name, `${v.typeName} needs exactly ${v.size} bytes, got ${describe(bytes)}`);
    }
    this.#requireAccess().write(v.offset, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  #read(v: GlobalVar): Buffer {
    const access = this.#requireAccess();
    access.checkOpen();
    return access.read(v.offset, v.size);
  }

  #writable(): void {
    const access = this.#requireAccess();
    access.checkOpen();
    access.checkWritable();
  }

  #requireAccess(): SectionAccess {
    if (!this.#access) {
      throw new BpfError(`global access in ${this.#section}`, osConstants.errno.ENOENT,
        `the object has no ${this.#section} section (declare a global there first)`);
    }
    return this.#access;
  }
}

/** Which section a global is in, by name; undefined when it is in none. */
export type GlobalLocator = (name: string) => string | undefined;

/**
 * A GlobalLocator over the DATASECs of an object: `datasec(section)` lists a section's
 * variables (the addon's btfDatasec). Looks them up only when a name is missed.
 */
export function locateGlobals(datasec: (section: string) => ReadonlyArray<{ name: string }> | undefined,
  sections: readonly string[] = ['.rodata', '.data', '.bss']): GlobalLocator {
  return (name) => sections.find((s) => datasec(s)?.some((v) => v.name === name));
}

const SECTION_REASONS: Record<string, string> = {
  '.data': 'it has an initializer',
  '.bss': 'it has no initializer',
  '.rodata': 'it is const',
};

function sectionProperty(section: string): string {
  return section.startsWith('.') ? section.slice(1) : section;
}

/**
 * The message for a global looked up in the wrong section: `'id' is in .data (it has an
 * initializer), not in .bss`. Which section a C global lands in follows from how it is
 * declared (const: .rodata; initialized: .data; else .bss), which is easy to get wrong.
 */
export function wrongSectionMessage(name: string, asked: string, found: string): string {
  const why = SECTION_REASONS[found];
  return `'${name}' is in ${found}${why ? ` (${why})` : ''}, not in ${asked}`;
}

function checkGlobalCodec(v: GlobalVar, codec: Codec<unknown, never>): void {
  if (codec === null || typeof codec !== 'object' || typeof codec.decode !== 'function' || typeof codec.size !== 'number') {
    throw new BpfArgumentError('codec', `expected a codec (from btfCodec or a bpf-skel module) for global '${v.name}'`);
  }
  if (codec.size !== v.size) {
    throw new BpfArgumentError('codec', `global '${v.name}' is ${v.typeName} (${v.size} bytes), the codec is for ${codec.typeName} (${codec.size} bytes)`);
  }
}
