// Builds raw BTF blobs type by type, for what clang does not emit (ENUM64 with clang 14,
// names that collide with TypeScript's) and for malformed input.
import { BtfKind } from '../../src/btf/btf';

type Kind = keyof typeof BtfKind;

/** A raw BTF blob under construction; each method returns the new type's id. */
export class BtfBuilder {
  #strings: string[] = [''];
  #stringOffsets = new Map<string, number>([['', 0]]);
  #stringLen = 1;
  #types: number[][] = [];

  /** The offset of `s` in the string section (added when new). */
  str(s: string): number {
    let off = this.#stringOffsets.get(s);
    if (off === undefined) {
      off = this.#stringLen;
      this.#stringOffsets.set(s, off);
      this.#strings.push(s);
      this.#stringLen += Buffer.byteLength(s) + 1;
    }
    return off;
  }

  /** Any type record: the 12-byte header words and the kind's extra words. */
  raw(kind: Kind | number, name: string, vlen: number, kindFlag: boolean, sizeOrType: number, extra: number[] = []): number {
    const k = typeof kind === 'number' ? kind : BtfKind[kind];
    this.#types.push([this.str(name), ((kindFlag ? 1 : 0) << 31 | k << 24 | vlen) >>> 0, sizeOrType, ...extra]);
    return this.#types.length;
  }

  int(name: string, size: number, o: { signed?: boolean; bool?: boolean; char?: boolean; bits?: number; offset?: number } = {}): number {
    const enc = (o.signed ? 1 : 0) | (o.char ? 2 : 0) | (o.bool ? 4 : 0);
    return this.raw('INT', name, 0, false, size, [(enc << 24 | (o.offset ?? 0) << 16 | (o.bits ?? size * 8)) >>> 0]);
  }

  ptr(type: number): number { return this.raw('PTR', '', 0, false, type); }
  array(type: number, index: number, nelems: number): number { return this.raw('ARRAY', '', 0, false, 0, [type, index, nelems]); }

  struct(name: string, size: number, members: Array<[string, number, number, number?]>, union = false): number {
    const bitfields = members.some((m) => (m[3] ?? 0) > 0);
    const extra = members.flatMap(([n, type, bitOffset, bitSize]) => [this.str(n), type, bitfields ? ((bitSize ?? 0) << 24 | bitOffset) >>> 0 : bitOffset]);
    return this.raw(union ? 'UNION' : 'STRUCT', name, members.length, bitfields, size, extra);
  }

  enum(name: string, size: number, values: Array<[string, number]>, signed = false): number {
    return this.raw('ENUM', name, values.length, signed, size, values.flatMap(([n, v]) => [this.str(n), v >>> 0]));
  }

  enum64(name: string, size: number, values: Array<[string, bigint]>, signed = false): number {
    return this.raw('ENUM64', name, values.length, signed, size, values.flatMap(([n, v]) => {
      const u = BigInt.asUintN(64, v);
      return [this.str(n), Number(u & 0xffffffffn), Number(u >> 32n)];
    }));
  }

  fwd(name: string, union = false): number { return this.raw('FWD', name, 0, union, 0); }
  typedef(name: string, type: number): number { return this.raw('TYPEDEF', name, 0, false, type); }
  modifier(kind: 'VOLATILE' | 'CONST' | 'RESTRICT' | 'TYPE_TAG', type: number, name = ''): number { return this.raw(kind, name, 0, false, type); }
  funcProto(ret: number, params: Array<[string, number]>): number {
    return this.raw('FUNC_PROTO', '', params.length, false, ret, params.flatMap(([n, t]) => [this.str(n), t]));
  }
  func(name: string, proto: number, linkage = 1): number { return this.raw('FUNC', name, linkage, false, proto); }
  variable(name: string, type: number, linkage = 1): number { return this.raw('VAR', name, 0, false, type, [linkage]); }
  datasec(name: string, size: number, vars: Array<[number, number, number]>): number {
    return this.raw('DATASEC', name, vars.length, false, size, vars.flat());
  }
  float(name: string, size: number): number { return this.raw('FLOAT', name, 0, false, size); }
  declTag(name: string, type: number, componentIdx = -1): number { return this.raw('DECL_TAG', name, 0, false, type, [componentIdx >>> 0]); }

  /** The blob: header, types, strings. */
  build(): Buffer {
    const types = Buffer.alloc(this.#types.reduce((n, t) => n + t.length * 4, 0));
    let o = 0;
    for (const t of this.#types) for (const w of t) o = types.writeUInt32LE(w >>> 0, o);
    const strings = Buffer.concat(this.#strings.map((s) => Buffer.from(`${s}\0`)));
    const header = Buffer.alloc(24);
    header.writeUInt16LE(0xeb9f, 0);
    header[2] = 1;
    header.writeUInt32LE(24, 4);
    header.writeUInt32LE(0, 8);
    header.writeUInt32LE(types.length, 12);
    header.writeUInt32LE(types.length, 16);
    header.writeUInt32LE(strings.length, 20);
    return Buffer.concat([header, types, strings]);
  }
}
