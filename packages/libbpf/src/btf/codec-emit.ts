// Writes straight-line decode and encode code for BTF types: one function per struct,
// union and large array, the fields read by constant offsets, 8- to 32-bit integers
// inlined as byte arithmetic. The same text serves the codecs compiled at run time
// (new Function, plain JS) and the modules bpf-skel writes (TypeScript: `ts` adds the
// annotations). No interpreter walks the type tree per record.
import { BpfArgumentError } from '../errors';
import type { Btf, BtfComposite, BtfType } from './btf';

/** Which `char[N]` (byte array) fields are strings: `owner` is the C struct (or '' for a global), `field` the member. */
export type StringSelector = (owner: string, field: string) => boolean;

/** Makes a StringSelector from `type.field`, `field` (any struct) and `*` (every `char` array). */
export function stringSelector(specs: readonly string[] | undefined): StringSelector & { allChars: boolean } {
  const list = specs ?? [];
  for (const s of list) {
    if (typeof s !== 'string' || !/^(\*|([A-Za-z_$][\w$]*\.)?[A-Za-z_$][\w$]*)$/.test(s)) {
      throw new BpfArgumentError('strings', `'${String(s)}' is not 'type.field', 'field' or '*'`);
    }
  }
  const set = new Set(list);
  const sel = ((owner: string, field: string) => set.has(field) || set.has(`${owner}.${field}`)) as StringSelector & { allChars: boolean };
  sel.allChars = set.has('*');
  return sel;
}

/** Settings of one emitter. */
export interface EmitConfig {
  /** TypeScript (with annotations) or plain JavaScript. */
  ts: boolean;
  /** The expression naming the codec support object (`codecSupport`) in the emitted code. */
  h: string;
  strings: StringSelector & { allChars: boolean };
  /** TS names of the named types being emitted (TypeScript only). */
  names?: ReadonlyMap<number, string>;
}

/** A byte offset: `e` (an expression, '' for none) plus the constant `k`. */
interface Off { e: string; k: number }

/** A struct or union member after anonymous members are flattened into their parent. */
export interface Field {
  name: string;
  type: number;
  /** Bits from the start of the function's struct. */
  bitOffset: number;
  bitSize: number;
  /** The C struct whose member this is (the nearest named one), for string selection. */
  owner: string;
  /** Inside a union: encode writes it only when given. */
  optional: boolean;
  /** A member of an anonymous struct or union member, flattened into its parent. */
  flattened: boolean;
}

const UNROLL = 8;
const JS_OK_KEY = /^[A-Za-z_$][\w$]*$/;

function at(off: Off, j = 0): string {
  const k = off.k + j;
  if (!off.e) return String(k);
  return k === 0 ? off.e : `${off.e} + ${k}`;
}

function plus(off: Off, k: number): Off {
  return { e: off.e, k: off.k + k };
}

function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A property access `v.name` (or `v["name"]`). */
export function prop(v: string, name: string): string {
  return JS_OK_KEY.test(name) && name !== '__proto__' ? `${v}.${name}` : `${v}[${lit(name)}]`;
}

function key(name: string): string {
  return JS_OK_KEY.test(name) && name !== '__proto__' ? name : `[${lit(name)}]`;
}

/** Emits decode/encode functions for the types asked for, and the ones they contain. */
export class CodecEmitter {
  readonly #btf: Btf;
  readonly #c: EmitConfig;
  readonly #queued = new Set<string>();
  readonly #todo: Array<() => string> = [];
  readonly ts: TsTypes;

  constructor(btf: Btf, config: EmitConfig) {
    this.#btf = btf;
    this.#c = config;
    this.ts = new TsTypes(btf, config.names ?? new Map(), config.strings);
  }

  get #h(): string {
    return this.#c.h;
  }

  #b(off: Off, j = 0): string {
    return `b[${at(off, j)}]${this.#c.ts ? '!' : ''}`;
  }

  /** A decode expression of type `id` at `off`; `str`: byte arrays as strings. */
  decode(id: number, off: Off, str: boolean): string {
    const t = this.#btf.resolve(id);
    const h = this.#h;
    switch (t.kind) {
      case 'INT':
        if (t.bits !== t.size * 8 || t.offset !== 0) return this.#bitfield(t, off, t.offset, t.bits);
        if (t.bool) return `(${this.#b(off)} !== 0)`;
        return this.#int(off, t.size, t.signed);
      case 'ENUM': return t.size === 8 ? `Number(${h}.${t.signed ? 'i' : 'u'}64(b, ${at(off)}))` : this.#int(off, t.size, t.signed);
      case 'ENUM64': return t.size === 8 ? `${h}.${t.signed ? 'i' : 'u'}64(b, ${at(off)})` : `BigInt(${this.#int(off, t.size, t.signed)})`;
      case 'PTR': return this.#btf.pointerSize === 8 ? `${h}.u64(b, ${at(off)})` : `BigInt(${this.#int(off, 4, false)})`;
      case 'FLOAT':
        if (t.size === 4 || t.size === 8) return `${h}.f${t.size * 8}(b, ${at(off)})`;
        return `${h}.bytes(b, ${at(off)}, ${t.size})`;
      case 'ARRAY': {
        const n = t.nelems;
        const es = this.#btf.sizeOf(t.type);
        if (this.isByte(t.type)) return `${h}.${str || this.#allChars(t.type) ? 'str' : 'bytes'}(b, ${at(off)}, ${n})`;
        if (n <= UNROLL) return `[${Array.from({ length: n }, (_, i) => this.decode(t.type, plus(off, i * es), str)).join(', ')}]`;
        return `${this.#fn(t, 'd', str)}(b, ${at(off)})`;
      }
      case 'STRUCT': case 'UNION': return `${this.#fn(t, 'd', false)}(b, ${at(off)})`;
      default: throw this.#unsupported(id);
    }
  }

  /** Statements encoding `v` (an expression) of type `id` at `off`; `f` is the field's path text (an expression). */
  encode(id: number, off: Off, v: string, f: string, str: boolean, out: string[]): void {
    const t = this.#btf.resolve(id);
    const h = this.#h;
    const w = (fn: string, ...extra: Array<string | number>): void => {
      out.push(`${h}.${fn}(b, ${at(off)}, ${[...extra, v, 'p', f].join(', ')});`);
    };
    switch (t.kind) {
      case 'INT':
        if (t.bits !== t.size * 8 || t.offset !== 0) {
          this.#bitfieldWrite(t, off, t.offset, t.bits, v, f, out);
          return;
        }
        if (t.bool) return w('wbool');
        return w(intWriter(t.size, t.signed));
      case 'ENUM': case 'ENUM64': return w(intWriter(t.size, t.signed));
      case 'PTR': return w(intWriter(this.#btf.pointerSize, false));
      case 'FLOAT':
        if (t.size === 4 || t.size === 8) return w(`wf${t.size * 8}`);
        return w('wbytes', t.size);
      case 'ARRAY': {
        const n = t.nelems;
        const es = this.#btf.sizeOf(t.type);
        if (this.isByte(t.type)) return w(str || this.#allChars(t.type) ? 'wstr' : 'wbytes', n);
        if (n <= UNROLL) {
          out.push(`${h}.arr(${v}, ${n}, p, ${f});`);
          for (let i = 0; i < n; i++) this.encode(t.type, plus(off, i * es), `${v}[${i}]${this.#c.ts ? '!' : ''}`, indexPath(f, i), str, out);
          return;
        }
        out.push(`${this.#fn(t, 'e', str)}(${v}, b, ${at(off)}, p, ${f});`);
        return;
      }
      case 'STRUCT': case 'UNION':
        out.push(`${this.#fn(t, 'e', false)}(${v}, b, ${at(off)}, ${subPath(f)});`);
        return;
      default: throw this.#unsupported(id);
    }
  }

  /** The decode/encode function of a struct, union or array (queued for `functions()`). */
  #fn(t: BtfType, which: 'd' | 'e', str: boolean): string {
    const name = `$${which}${t.id}${str ? 's' : ''}`;
    if (!this.#queued.has(name)) {
      this.#queued.add(name);
      this.#todo.push(() => (t.kind === 'ARRAY' ? this.#arrayFn(name, t.id, which, str) : this.#compositeFn(name, t as BtfComposite<'STRUCT' | 'UNION'>, which)));
    }
    return name;
  }

  /** Every function queued so far, and those they need, as declarations. */
  functions(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.#todo.length; i++) out.push(this.#todo[i]());
    return out;
  }

  #compositeFn(name: string, t: BtfComposite<'STRUCT' | 'UNION'>, which: 'd' | 'e'): string {
    const ts = this.#c.ts;
    const fields = flatten(this.#btf, t, 0, t.name, t.kind === 'UNION');
    const off: Off = { e: 'o', k: 0 };
    const type = ts ? this.ts.type(t.id, false) : '';
    if (which === 'd') {
      const parts = fields.map((m) => `${key(m.name)}: ${this.#field(m, off)}`);
      const body = `  return {${parts.length ? `\n    ${parts.join(',\n    ')},\n  ` : ''}};`;
      const sig = ts ? `(${unused('b', body)}b: Uint8Array, ${unused('o', body)}o: number): ${type}` : '(b, o)';
      return `function ${name}${sig} {\n${body}\n}`;
    }
    const lines: string[] = [`${this.#h}.obj(v, p, '');`];
    for (const m of fields) {
      const stmts: string[] = [];
      const v = prop('v', m.name);
      this.#fieldWrite(m, off, v, stmts);
      if (m.optional) lines.push(`if (${v} !== undefined) {`, ...stmts.map((s) => `  ${s}`), '}');
      else lines.push(...stmts);
    }
    const body = `  ${lines.join('\n  ')}`;
    const vType = inputType(fields, t.kind, type);
    const sig = ts ? `(v: ${vType}, ${unused('b', body)}b: Uint8Array, ${unused('o', body)}o: number, p: string): void` : '(v, b, o, p)';
    return `function ${name}${sig} {\n${body}\n}`;
  }

  #arrayFn(name: string, id: number, which: 'd' | 'e', str: boolean): string {
    const t = this.#btf.type(id);
    if (t.kind !== 'ARRAY') throw new Error(`internal: ${id} is not an array`);
    const ts = this.#c.ts;
    const es = this.#btf.sizeOf(t.type);
    const elem: Off = { e: `o + i * ${es}`, k: 0 };
    const type = ts ? this.ts.type(id, str) : '';
    if (which === 'd') {
      const sig = ts ? `(b: Uint8Array, o: number): ${type}` : '(b, o)';
      const decl = ts ? `const a: ${type} = new Array(${t.nelems});` : `const a = new Array(${t.nelems});`;
      return `function ${name}${sig} {\n  ${decl}\n  for (let i = 0; i < ${t.nelems}; i++) a[i] = ${this.decode(t.type, elem, str)};\n  return a;\n}`;
    }
    const stmts: string[] = [];
    this.encode(t.type, elem, `v[i]${ts ? '!' : ''}`, `f + '[' + i + ']'`, str, stmts);
    const sig = ts ? `(v: ${type}, b: Uint8Array, o: number, p: string, f: string): void` : '(v, b, o, p, f)';
    return `function ${name}${sig} {\n  ${this.#h}.arr(v, ${t.nelems}, p, f);\n  for (let i = 0; i < ${t.nelems}; i++) {\n    ${stmts.join('\n    ')}\n  }\n}`;
  }

  #isString(m: Field): boolean {
    return this.#c.strings(m.owner, m.name);
  }

  #field(m: Field, base: Off): string {
    const r = this.#btf.resolve(m.type);
    if (m.bitSize > 0 || m.bitOffset % 8 !== 0) {
      const bits = m.bitSize || (r.kind === 'INT' ? r.bits : this.#btf.sizeOf(m.type) * 8);
      return this.#bitfield(r, base, m.bitOffset + (r.kind === 'INT' ? r.offset : 0), bits);
    }
    return this.decode(m.type, plus(base, m.bitOffset / 8), this.#isString(m));
  }

  #fieldWrite(m: Field, base: Off, v: string, out: string[]): void {
    const r = this.#btf.resolve(m.type);
    const f = lit(m.name);
    if (m.bitSize > 0 || m.bitOffset % 8 !== 0) {
      const bits = m.bitSize || (r.kind === 'INT' ? r.bits : this.#btf.sizeOf(m.type) * 8);
      this.#bitfieldWrite(r, base, m.bitOffset + (r.kind === 'INT' ? r.offset : 0), bits, v, f, out);
      return;
    }
    this.encode(m.type, plus(base, m.bitOffset / 8), v, f, this.#isString(m), out);
  }

  #bitShape(t: BtfType): { signed: boolean; big: boolean; bool: boolean } {
    if (t.kind === 'INT') return { signed: t.signed, big: t.size > 4, bool: t.bool };
    if (t.kind === 'ENUM') return { signed: t.signed, big: false, bool: false };
    if (t.kind === 'ENUM64') return { signed: t.signed, big: true, bool: false };
    throw new BpfArgumentError('type', `a bitfield of ${t.kind} ${t.name} cannot be decoded (only integers and enums)`);
  }

  /** A bitfield read: `bits` bits at bit `bitOff` from `base`. */
  #bitfield(t: BtfType, base: Off, bitOff: number, bits: number): string {
    const { signed, big, bool } = this.#bitShape(t);
    const s = Math.floor(bitOff / 8);
    const shift = bitOff % 8;
    const n = Math.ceil((shift + bits) / 8);
    const h = this.#h;
    const start = plus(base, s);
    let expr: string;
    if (!big && n <= 4) {
      const raw = Array.from({ length: n }, (_, i) => (i === 0 ? this.#b(start, 0) : `${this.#b(start, i)} << ${8 * i}`)).join(' | ');
      const left = 32 - shift - bits;
      expr = `((${raw}) << ${left} ${signed ? '>>' : '>>>'} ${32 - bits})`;
    } else if (!big) {
      expr = `${h}.bitsNum(b, ${at(start)}, ${n}, ${shift}, ${bits}, ${signed})`;
    } else {
      expr = `${h}.bitsBig(b, ${at(start)}, ${n}, ${shift}, ${bits}, ${signed})`;
    }
    return bool ? `(${expr} !== 0)` : expr;
  }

  #bitfieldWrite(t: BtfType, base: Off, bitOff: number, bits: number, v: string, f: string, out: string[]): void {
    const { signed, big } = this.#bitShape(t);
    const s = Math.floor(bitOff / 8);
    const shift = bitOff % 8;
    const n = Math.ceil((shift + bits) / 8);
    out.push(`${this.#h}.${big ? 'wbitsBig' : 'wbits'}(b, ${at(plus(base, s))}, ${n}, ${shift}, ${bits}, ${signed}, ${v}, p, ${f});`);
  }

  #int(off: Off, size: number, signed: boolean): string {
    const b = (j: number) => this.#b(off, j);
    switch (size) {
      case 1: return signed ? `(${b(0)} << 24 >> 24)` : b(0);
      case 2: return signed ? `((${b(0)} | ${b(1)} << 8) << 16 >> 16)` : `(${b(0)} | ${b(1)} << 8)`;
      case 4: {
        const x = `${b(0)} | ${b(1)} << 8 | ${b(2)} << 16 | ${b(3)} << 24`;
        return signed ? `(${x})` : `((${x}) >>> 0)`;
      }
      case 8: return `${this.#h}.${signed ? 'i' : 'u'}64(b, ${at(off)})`;
      case 16: return `${this.#h}.${signed ? 'i' : 'u'}128(b, ${at(off)})`;
      default: throw new BpfArgumentError('type', `a ${size}-byte integer cannot be decoded (1, 2, 4, 8 or 16 bytes)`);
    }
  }

  /** True for 1-byte integers other than bool: arrays of them are bytes (or strings). */
  isByte(id: number): boolean {
    const t = this.#btf.resolve(id);
    return t.kind === 'INT' && t.size === 1 && !t.bool && t.bits === 8;
  }

  #allChars(elem: number): boolean {
    if (!this.#c.strings.allChars) return false;
    const t = this.#btf.resolve(elem);
    return t.kind === 'INT' && t.name === 'char';
  }

  #unsupported(id: number): Error {
    const t = this.#btf.resolve(id);
    const what = this.#btf.typeName(id);
    if (t.kind === 'FWD') return new BpfArgumentError('type', `${what} is only declared (a forward declaration): this BTF has no layout for it`);
    return new BpfArgumentError('type', `${what} (BTF ${t.kind}) is not data and has no codec`);
  }
}

/** '_' when the parameter `name` is not used in `body` (so that noUnusedParameters holds). */
function unused(name: string, body: string): string {
  return new RegExp(`\\b${name}\\b`).test(body.replace(/'[^']*'/g, "''")) ? '' : '_';
}

/** The field text `f` with `[i]` appended, folded when `f` is a literal. */
function indexPath(f: string, i: number): string {
  const m = /^'([^'\\]*)'$/.exec(f);
  return m ? `'${m[1]}[${i}]'` : `${f} + '[${i}]'`;
}

/** The path of a member for messages: `p` joined with the field text `f` (a literal, or an expression). */
function subPath(f: string): string {
  if (f === "''") return 'p';
  const m = /^'([^'\\]*)'$/.exec(f);
  return m ? `p + '.${m[1]}'` : `p + '.' + ${f}`;
}

function intWriter(size: number, signed: boolean): string {
  if (![1, 2, 4, 8, 16].includes(size)) throw new BpfArgumentError('type', `a ${size}-byte integer cannot be encoded (1, 2, 4, 8 or 16 bytes)`);
  return `w${signed ? 'i' : 'u'}${size * 8}`;
}

/**
 * The members of a struct or union with anonymous struct/union members flattened into it
 * (as C reads them: `s.x` for a member of an anonymous union in `s`), and unnamed
 * bitfields (padding) left out.
 */
export function flatten(btf: Btf, t: BtfComposite<'STRUCT' | 'UNION'>, baseBits: number, owner: string, optional: boolean, flattened = false): Field[] {
  const out: Field[] = [];
  for (const m of t.members) {
    if (m.name === '') {
      const r = btf.resolve(m.type);
      if ((r.kind === 'STRUCT' || r.kind === 'UNION') && m.bitSize === 0) {
        out.push(...flatten(btf, r, baseBits + m.bitOffset, owner, optional || r.kind === 'UNION', true));
      }
      continue;
    }
    out.push({ name: m.name, type: m.type, bitOffset: baseBits + m.bitOffset, bitSize: m.bitSize, owner, optional, flattened });
  }
  return out;
}

/**
 * The TS type an encoder takes for a struct or union whose decoded type is `type`: what
 * C lets an initialiser leave out is optional (any union member; in a struct, the members
 * of its anonymous unions), since encode writes those only when given.
 */
export function inputType(fields: readonly Field[], kind: 'STRUCT' | 'UNION', type: string): string {
  if (kind === 'UNION') return `Partial<${type}>`;
  const optional = fields.filter((f) => f.optional).map((f) => JSON.stringify(f.name));
  if (optional.length === 0) return type;
  const names = optional.join(' | ');
  return `Omit<${type}, ${names}> & Partial<Pick<${type}, ${names}>>`;
}

/** TypeScript type text of BTF types, as the codecs decode them. */
export class TsTypes {
  readonly #btf: Btf;
  readonly #names: ReadonlyMap<number, string>;
  readonly #strings: StringSelector & { allChars: boolean };

  constructor(btf: Btf, names: ReadonlyMap<number, string>, strings: StringSelector & { allChars: boolean }) {
    this.#btf = btf;
    this.#names = names;
    this.#strings = strings;
  }

  /** The TS name given to a type (or to the typedef naming it), if it has one. */
  nameOf(id: number): string | undefined {
    for (let t = this.#btf.type(id), depth = 0; depth < 64; depth++) {
      const n = this.#names.get(t.id);
      if (n) return n;
      if (t.kind !== 'TYPEDEF' && t.kind !== 'CONST' && t.kind !== 'VOLATILE' && t.kind !== 'RESTRICT' && t.kind !== 'TYPE_TAG') return undefined;
      t = this.#btf.type(t.type);
    }
    return undefined;
  }

  /** The TS type of a value of type `id`; `str`: byte arrays as strings. */
  type(id: number, str: boolean): string {
    const named = this.nameOf(id);
    const t = this.#btf.resolve(id);
    if (named && (t.kind === 'STRUCT' || t.kind === 'UNION' || t.kind === 'ENUM' || t.kind === 'ENUM64')) return named;
    switch (t.kind) {
      case 'INT': return t.bool ? 'boolean' : t.size > 4 ? 'bigint' : 'number';
      case 'ENUM': return 'number';
      case 'ENUM64': case 'PTR': return 'bigint';
      case 'FLOAT': return t.size <= 8 ? 'number' : 'Uint8Array';
      case 'ARRAY': {
        const e = this.#btf.resolve(t.type);
        if (e.kind === 'INT' && e.size === 1 && !e.bool && e.bits === 8) {
          return str || (this.#strings.allChars && e.name === 'char') ? 'string' : 'Uint8Array';
        }
        const inner = this.type(t.type, str);
        return /^[\w$]+(\[\])*$/.test(inner) ? `${inner}[]` : `Array<${inner}>`;
      }
      case 'STRUCT': case 'UNION': return `{ ${this.fields(t).map((f) => `${key(f.name)}: ${f.type};`).join(' ')} }`;
      default: return 'never';
    }
  }

  /** The fields of a struct or union: name, TS type, and the C declaration. */
  fields(t: BtfComposite<'STRUCT' | 'UNION'>): Array<{ name: string; type: string; decl: string; field: Field }> {
    return flatten(this.#btf, t, 0, t.name, t.kind === 'UNION').map((f) => {
      const str = this.#strings(f.owner, f.name);
      const decl = `${this.#btf.declaration(f.type, f.name)}${f.bitSize ? `: ${f.bitSize}` : ''}`;
      return { name: f.name, type: this.type(f.type, str), decl, field: f };
    });
  }
}
