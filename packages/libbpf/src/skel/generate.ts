// bpf-skel: one TypeScript module from a BPF object's BTF (what bpf2go is to Go and
// libbpf-cargo's skeletons are to Rust). The module has a type and a codec for every
// named struct, union and enum, and open()/load() giving typed globals, maps and programs.
// Pure TypeScript: reads the object itself (src/btf), needs no addon, no kernel, no root.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Btf, type BtfComposite, type BtfEnum, type BtfEnum64 } from '../btf/btf';
import { CodecEmitter, inputType, stringSelector, type StringSelector } from '../btf/codec-emit';
import { codecSupport } from '../btf/codec-support';
import { mapDefinitions, programDefinitions, type MapDefinition } from '../btf/objects';
import { MapType, mapTypeName } from '../constants';
import { BpfArgumentError } from '../errors';

/** Options of `generateSkeleton` (and of the `bpf-skel` command). */
export interface SkeletonOptions {
  /**
   * The skeleton's name: `open()` returns an `Open<Name>`, `load()` a `<Name>` (PascalCase),
   * and libbpf names the object (and its `.bss`... maps) so. Default: the file name up to
   * its first dot (`probe` for probe.bpf.o).
   */
  name?: string;
  /** Put the object's bytes into the module (base64), so that it is the only file to ship. */
  embed?: boolean;
  /** Byte arrays to type and decode as strings: `type.field`, `field` (in any struct or a global), or `*` (every `char` array). */
  strings?: readonly string[];
  /** Record types of ring and perf buffer maps, by map name: `{ events: 'struct event' }`. */
  records?: Readonly<Record<string, string>>;
  /** Only these named types (and the named types they contain) instead of every one; C spellings. */
  types?: readonly string[];
  /**
   * Where `open()` finds the object when it is not embedded (default: the path given to
   * the generator, as given; relative paths are relative to the working directory at run time).
   */
  objectPath?: string;
}

const OPTION_NAMES = ['name', 'embed', 'strings', 'records', 'types', 'objectPath'];
const IMPORT_FROM = '@bpf-sync-timer/libbpf';

// Names a C type cannot keep: JS and TS keywords, names TS reserves at a module's top
// level, and the globals the generated code uses. They get a trailing underscore.
const RESERVED = new Set(('break case catch class const continue debugger default delete do else enum export extends false ' +
  'finally for function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
  'yield let static implements interface package private protected public await arguments eval any unknown never number ' +
  'string boolean bigint symbol object undefined type as from of namespace module declare abstract readonly keyof infer is ' +
  'asserts global require exports Uint8Array Buffer BigInt Array Number Object Partial Record Readonly Symbol Error NaN ' +
  'Infinity Math String globalThis Promise').split(' '));
const CODEC_MEMBERS = new Set(['size', 'typeName', 'decode', 'encode', 'prototype', 'name', 'length']);

interface Named {
  id: number;
  /** The composite or enum type (after a typedef, for `typedef struct {...} name_t`). */
  type: BtfComposite<'STRUCT' | 'UNION'> | BtfEnum | BtfEnum64;
  /** Its C spelling: `struct event`, or the typedef name. */
  cName: string;
  /** The TS name. */
  ts: string;
  /** The expression naming its codec. */
  codec: string;
}

interface GlobalInfo {
  section: '.rodata' | '.data' | '.bss';
  name: string;
  varType: number;
  offset: number;
  size: number;
  codec: string;
  tsType: string;
  decl: string;
}

/**
 * The source text of a TypeScript module for a BPF object (path or bytes): types and codecs
 * of its named structs, unions and enums; `open(options?)` returning the typed open object
 * (`rodata`/`data`/`bss` with one property per global, `maps`, `programs`) whose `load()`
 * gives the typed loaded object (maps that encode and decode keys and values, ring and perf
 * buffers of records, live `bss`/`data`). Raw BTF (e.g. /sys/kernel/btf/vmlinux) gives the
 * types and codecs only. Needs no kernel and no native addon.
 *
 * @example
 * fs.writeFileSync('probe.skel.ts', generateSkeleton('probe.bpf.o', { records: { events: 'struct event' } }));
 */
export function generateSkeleton(source: string | Uint8Array, options: SkeletonOptions = {}): string {
  checkOptions(options);
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) {
    throw new BpfArgumentError('source', 'expected the path of a BPF object (or raw BTF), or its bytes');
  }
  const bytes = typeof source === 'string' ? fs.readFileSync(source) : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  const btf = Btf.parse(bytes);
  const fileName = typeof source === 'string' ? path.basename(source) : 'object.bpf.o';
  const base = options.name ?? fileName.split('.')[0];
  if (!/^[A-Za-z_][\w]*$/.test(base)) {
    throw new BpfArgumentError('name', `'${base}' is not a usable name (letters, digits and underscores, not starting with a digit); pass one with --name`);
  }
  return new Generator(btf, bytes, {
    base, fileName, options, objectPath: options.objectPath ?? (typeof source === 'string' ? source : undefined),
  }).module();
}

function checkOptions(o: SkeletonOptions): void {
  if (o === null || typeof o !== 'object') throw new BpfArgumentError('options', 'expected an object of options');
  const unknown = Object.keys(o).find((k) => !OPTION_NAMES.includes(k));
  if (unknown !== undefined) throw new BpfArgumentError('options', `unknown option '${unknown}' of generateSkeleton (known: ${OPTION_NAMES.join(', ')})`);
  if (o.records !== undefined && (o.records === null || typeof o.records !== 'object')) throw new BpfArgumentError('records', 'expected { mapName: "struct type" }');
  if (o.types !== undefined && !Array.isArray(o.types)) throw new BpfArgumentError('types', 'expected an array of C type names');
  if (o.strings !== undefined && !Array.isArray(o.strings)) throw new BpfArgumentError('strings', 'expected an array of type.field names');
}

/** `id` without its const, volatile, restrict and type tags (typedefs kept). */
function unqualified(btf: Btf, id: number): number {
  for (let t = btf.type(id), depth = 0; depth < 64; depth++, t = btf.type(id)) {
    if (t.kind !== 'CONST' && t.kind !== 'VOLATILE' && t.kind !== 'RESTRICT' && t.kind !== 'TYPE_TAG') return id;
    id = t.type;
  }
  return id;
}

function pascal(name: string): string {
  const p = name.split(/_+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return /^\d/.test(p) ? `Bpf${p}` : p || 'Skeleton';
}

/** A string as a single-quoted TS literal. */
function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** A property name: as is when it is an identifier, quoted otherwise. */
function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) && name !== '__proto__' ? name : lit(name);
}

/** Text safe inside a TSDoc comment. */
function doc(s: string): string {
  return s.replace(/\*\//g, '*\\/');
}

interface GeneratorInput {
  base: string;
  fileName: string;
  options: SkeletonOptions;
  objectPath: string | undefined;
}

class Generator {
  readonly #btf: Btf;
  readonly #bytes: Buffer;
  readonly #in: GeneratorInput;
  readonly #strings: StringSelector & { allChars: boolean };
  readonly #used = new Set<string>(RESERVED);
  readonly #named = new Map<number, Named>();
  readonly #names = new Map<number, string>();
  readonly #codecs = new Map<string, string>();
  readonly #codecDecls: string[] = [];
  readonly #em: CodecEmitter;
  readonly #p: string;
  readonly #skel: Record<'open' | 'loaded' | 'options' | 'rodata' | 'data' | 'bss' | 'maps' | 'openMaps' | 'programs' | 'openPrograms', string>;

  constructor(btf: Btf, bytes: Buffer, input: GeneratorInput) {
    this.#btf = btf;
    this.#bytes = bytes;
    this.#in = input;
    this.#strings = stringSelector(input.options.strings);
    this.#p = pascal(input.base);
    const p = this.#p;
    this.#skel = {
      open: `Open${p}`, loaded: p, options: `${p}OpenOptions`, rodata: `${p}Rodata`, data: `${p}Data`, bss: `${p}Bss`,
      maps: `${p}Maps`, openMaps: `Open${p}Maps`, programs: `${p}Programs`, openPrograms: `Open${p}Programs`,
    };
    if (btf.elf) for (const n of [...Object.values(this.#skel), 'open', 'load', 'adopt', 'objectSha256', 'objectPath', 'objectBytes']) this.#used.add(n);
    this.#pickNamedTypes();
    this.#em = new CodecEmitter(btf, { ts: true, h: '$h', strings: this.#strings, names: this.#names });
  }

  // ---- which types get names -----------------------------------------------------------

  #pickNamedTypes(): void {
    const btf = this.#btf;
    const candidates = new Map<number, string>(); // composite/enum id -> C spelling
    for (const t of btf.types) {
      if ((t.kind === 'STRUCT' || t.kind === 'UNION' || t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name) {
        candidates.set(t.id, `${t.kind === 'STRUCT' ? 'struct' : t.kind === 'UNION' ? 'union' : 'enum'} ${t.name}`);
      }
    }
    for (const t of btf.types) {
      if (t.kind !== 'TYPEDEF') continue;
      const target = btf.type(t.type);
      if ((target.kind === 'STRUCT' || target.kind === 'UNION' || target.kind === 'ENUM' || target.kind === 'ENUM64') && !target.name && !candidates.has(target.id)) {
        candidates.set(target.id, t.name);
      }
    }
    let chosen: number[];
    if (this.#in.options.types) {
      chosen = this.#in.options.types.map((spec) => {
        const t = btf.resolve(btf.find(spec).id);
        if (!candidates.has(t.id)) throw new BpfArgumentError('types', `'${spec}' is ${btf.typeName(t.id)}, not a named struct, union or enum`);
        return t.id;
      });
    } else {
      chosen = [...candidates.keys()];
    }
    // What the chosen types, the globals, the maps and the records contain by value gets
    // a name too (pointers are numbers: what they point to is not needed).
    const roots = [...chosen];
    for (const g of this.#datasecVars()) roots.push(g.varType);
    for (const m of mapDefinitions(btf)) {
      if (m.keyType !== undefined) roots.push(m.keyType);
      if (m.valueType !== undefined) roots.push(m.valueType);
    }
    for (const spec of Object.values(this.#in.options.records ?? {})) roots.push(btf.find(spec).id);
    const keep = new Set<number>();
    const seen = new Set<number>();
    const visit = (id: number): void => {
      const t = btf.resolve(id);
      if (seen.has(t.id)) return;
      seen.add(t.id);
      if (candidates.has(t.id)) keep.add(t.id);
      if (t.kind === 'STRUCT' || t.kind === 'UNION') for (const m of t.members) visit(m.type);
      else if (t.kind === 'ARRAY') visit(t.type);
    };
    for (const id of roots) visit(id);
    for (const id of [...keep].sort((a, b) => a - b)) {
      const t = btf.type(id) as Named['type'];
      const cName = candidates.get(id) ?? t.name;
      const ts = this.#claim(t.name || cName, t.kind);
      this.#names.set(id, ts);
      const enumCodecFits = !('values' in t) || !(t.values as ReadonlyArray<{ name: string }>).some((v) => CODEC_MEMBERS.has(v.name));
      const codec = enumCodecFits ? ts : this.#claim(`${ts}Codec`, 'codec');
      this.#named.set(id, { id, type: t, cName, ts, codec });
    }
  }

  /** A free identifier for `name`: itself, else with its kind, else with a number. */
  #claim(name: string, kind: string): string {
    const clean = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `t_${name.replace(/[^\w$]/g, '_')}`;
    const tries = [clean, `${clean}_`, `${clean}_${kind.toLowerCase()}`];
    for (let i = 2; ; i++) {
      const n = tries.shift() ?? `${clean}_${i}`;
      if (!this.#used.has(n)) {
        this.#used.add(n);
        return n;
      }
    }
  }

  // ---- codecs ----------------------------------------------------------------------------

  /** The codec expression for values of type `id` (a named type's, or an internal one). */
  #codecFor(id: number, str: boolean): string {
    const r = this.#btf.resolve(id);
    const named = this.#named.get(r.id);
    if (named && !str) return named.codec;
    const k = `${r.id}${str ? 's' : ''}`;
    let name = this.#codecs.get(k);
    if (!name) {
      name = `$c${k}`;
      this.#codecs.set(k, name);
      const cName = this.#btf.typeName(unqualified(this.#btf, id));
      const tsType = this.#em.ts.type(id, str);
      this.#codecDecls.push(`/** Codec of \`${doc(cName)}\`. */\nconst ${name}: $Codec<${tsType}> = ${this.#codecLiteral(id, tsType, tsType, cName, cName, str)};`);
    }
    return name;
  }

  /** The parts of a codec for type `id`: its size, C name, decode method and encode expression. */
  #codecParts(id: number, tsType: string, inType: string, cName: string, pathName: string, str: boolean): { size: number; typeName: string; decode: string; encode: string } {
    const size = this.#btf.sizeOf(id);
    const root = { e: 'o', k: 0 };
    const decode = this.#em.decode(id, root, str);
    const enc: string[] = [];
    this.#em.encode(id, root, 'v', "''", str, enc);
    return {
      size,
      typeName: lit(cName),
      decode: `decode(b: Uint8Array, o = 0): ${tsType} {
    if (!(b instanceof Uint8Array) || (o >>> 0) !== o || o + ${size} > b.length) $h.outOfRange(${lit(cName)}, ${size}, b, o);
    return ${decode};
  }`,
      encode: `$h.encoder<${inType}>(${lit(cName)}, ${size}, ${lit(pathName)}, (v: ${inType}, b: Uint8Array, o: number, p: string): void => {
    ${enc.join('\n    ')}
  })`,
    };
  }

  /** `{ size, typeName, decode, encode }` for type `id`, with `extra` properties first. */
  #codecLiteral(id: number, tsType: string, inType: string, cName: string, pathName: string, str: boolean, extra: string[] = []): string {
    const c = this.#codecParts(id, tsType, inType, cName, pathName, str);
    return `{\n${extra.map((e) => `  ${e}\n`).join('')}  size: ${c.size},\n  typeName: ${c.typeName},\n  ${c.decode},\n  encode: ${c.encode},\n}`;
  }

  // ---- named types -----------------------------------------------------------------------

  #typeSection(n: Named): string {
    const t = n.type;
    if (t.kind === 'ENUM') return this.#enum(n, t);
    if (t.kind === 'ENUM64') return this.#enum64(n, t);
    return this.#composite(n, t);
  }

  #composite(n: Named, t: BtfComposite<'STRUCT' | 'UNION'>): string {
    const btf = this.#btf;
    const fields = this.#em.ts.fields(t);
    const lines = fields.map((f) => {
      const where = f.field.bitSize || f.field.bitOffset % 8 ? `bit ${f.field.bitOffset}` : `byte ${f.field.bitOffset / 8}`;
      const anon = f.field.flattened ? ' (member of an anonymous struct or union)' : '';
      return `  /** \`${doc(f.decl)};\` at ${where}${anon}. */\n  ${key(f.name)}: ${f.type};`;
    });
    const what = t.kind === 'UNION' ? 'Every member is decoded from the same bytes; encode writes the members given, in order.' : '';
    const cDecl = t.name ? n.cName : `typedef ${t.kind.toLowerCase()} {...} ${n.cName}`;
    const inType = inputType(fields.map((f) => f.field), t.kind, n.ts);
    return `/** \`${doc(cDecl)}\` (${t.size} bytes, BTF type ${t.id}).${what ? ` ${what}` : ''} */
export interface ${n.ts} {
${lines.join('\n')}
}

/** Codec of \`${doc(cDecl)}\`: ${t.size} bytes. */
export const ${n.codec}: $Codec<${n.ts}${inType !== n.ts ? `, ${inType}` : ''}> = ${this.#codecLiteral(t.id, n.ts, inType, t.name ? btf.typeName(t.id) : n.cName, t.name || n.cName, false)};
`;
  }

  #enum(n: Named, t: BtfEnum): string {
    const members = t.values.map((v) => `  /** \`${doc(v.name)} = ${v.value}\` */\n  ${key(v.name)} = ${v.value},`);
    const cDecl = t.name ? n.cName : `typedef enum {...} ${n.cName}`;
    const head = `/** \`${doc(cDecl)}\` (${t.size} bytes, ${t.signed ? 'signed' : 'unsigned'}; BTF type ${t.id}). Decoded as a number: any value, named or not. */
export enum ${n.ts} {
${members.join('\n')}
}
`;
    if (n.codec !== n.ts) {
      const lit0 = this.#codecLiteral(t.id, n.ts, n.ts, t.name ? this.#btf.typeName(t.id) : n.cName, t.name || n.cName, false);
      return `${head}\n/** Codec of \`${doc(cDecl)}\`. */\nexport const ${n.codec}: $Codec<${n.ts}> = ${lit0};\n`;
    }
    // The codec merges with the enum: \`color.decode(...)\`, and \`color\` is a $Codec<color>.
    const c = this.#codecParts(t.id, n.ts, n.ts, t.name ? this.#btf.typeName(t.id) : n.cName, t.name || n.cName, false);
    return `${head}
/** Codec of \`${doc(cDecl)}\`: \`${n.ts}\` is a \`Codec<${n.ts}>\` too. */
export namespace ${n.ts} {
  export const size = ${c.size};
  export const typeName = ${c.typeName};
  export function ${c.decode}
  export const encode: $Codec<${n.ts}>['encode'] = ${c.encode};
}
`;
  }

  #enum64(n: Named, t: BtfEnum64): string {
    const cDecl = t.name ? n.cName : `typedef enum {...} ${n.cName}`;
    const values = t.values.map((v) => `  /** \`${doc(v.name)} = ${v.value}\` */\n  ${key(v.name)}: BigInt(${lit(String(v.value))}),`);
    const head = `/** \`${doc(cDecl)}\` (${t.size} bytes, a 64-bit enum; BTF type ${t.id}): values are bigints. */
export type ${n.ts} = bigint;
`;
    if (n.codec !== n.ts) {
      const codec = this.#codecLiteral(t.id, 'bigint', 'bigint', this.#btf.typeName(t.id), t.name || n.cName, false);
      return `${head}\n/** The values of \`${doc(cDecl)}\`. */\nexport const ${n.ts} = {\n${values.join('\n')}\n} as const;\n\n/** Codec of \`${doc(cDecl)}\`. */\nexport const ${n.codec}: $Codec<bigint> = ${codec};\n`;
    }
    const codec = this.#codecLiteral(t.id, 'bigint', 'bigint', this.#btf.typeName(t.id), t.name || n.cName, false, values.map((v) => v.trim().replace(/\n\s*/, '\n  ')));
    return `${head}
/** The values of \`${doc(cDecl)}\` (bigints), and its codec: \`${n.ts}\` is a \`Codec<bigint>\` too. */
export const ${n.ts} = ${codec};
`;
  }

  // ---- globals, maps, programs -------------------------------------------------------------

  #datasecVars(): Array<{ section: GlobalInfo['section']; name: string; varType: number; offset: number; size: number }> {
    const out: Array<{ section: GlobalInfo['section']; name: string; varType: number; offset: number; size: number }> = [];
    if (!this.#btf.elf) return out;
    for (const d of this.#btf.datasecs) {
      if (d.name !== '.rodata' && d.name !== '.data' && d.name !== '.bss') continue;
      for (const v of d.vars) {
        const variable = this.#btf.type(v.type);
        if (variable.kind !== 'VAR' || !/^[A-Za-z_$][\w$]*$/.test(variable.name)) continue;
        out.push({ section: d.name, name: variable.name, varType: variable.type, offset: v.offset, size: v.size });
      }
    }
    return out;
  }

  #globals(): GlobalInfo[] {
    return this.#datasecVars().map((g) => {
      const str = this.#strings('', g.name);
      return {
        ...g,
        codec: this.#codecFor(g.varType, str),
        tsType: this.#em.ts.type(g.varType, str),
        decl: this.#btf.declaration(g.varType, g.name),
      };
    });
  }

  #recordCodec(m: MapDefinition): string {
    const spec = this.#in.options.records?.[m.name];
    if (spec === undefined) return '$rawRecord';
    return this.#codecFor(this.#btf.find(spec).id, false);
  }

  /** The loaded object's property for map `m`: its TS type and the expression that makes it. */
  #loadedMap(m: MapDefinition): { type: string; make: string; note: string } {
    const get = `obj.map(${lit(m.name)})`;
    if (m.type === MapType.RINGBUF || m.type === MapType.PERF_EVENT_ARRAY) {
      const codec = this.#recordCodec(m);
      const rec = codec === '$rawRecord' ? 'Buffer' : this.#tsOfCodec(m.name);
      const cls = m.type === MapType.RINGBUF ? '$RingBufferMap' : '$PerfBufferMap';
      const note = codec === '$rawRecord' ? 'records are Buffers (generate with `--record ' + m.name + '=<type>` for typed ones, or use `.as(codec)`)' : `records are \`${this.#recordSpec(m.name)}\``;
      return { type: `${cls}<${rec}>`, make: `new ${cls}(${get}, ${codec})`, note };
    }
    const typed = m.keyType !== undefined && m.valueType !== undefined && !m.hasInnerValues && this.#isData(m.keyType) && this.#isData(m.valueType);
    if (!typed) return { type: '$BpfMap', make: get, note: 'no BTF key and value types: a plain BpfMap' };
    const perCpu = m.type === MapType.PERCPU_HASH || m.type === MapType.PERCPU_ARRAY || m.type === MapType.LRU_PERCPU_HASH || m.type === MapType.PERCPU_CGROUP_STORAGE;
    const k = this.#codecFor(m.keyType!, false);
    const v = this.#codecFor(m.valueType!, false);
    const kt = this.#em.ts.type(m.keyType!, false);
    const vt = this.#em.ts.type(m.valueType!, false);
    const vIn = this.#isUnion(m.valueType!) ? `, ${kt}, Partial<${vt}>` : '';
    const kIn = this.#isUnion(m.keyType!) ? `, Partial<${kt}>` : '';
    const generics = vIn || kIn ? `${kt}, ${vt}, ${kIn ? `Partial<${kt}>` : kt}, ${vIn ? `Partial<${vt}>` : vt}` : `${kt}, ${vt}`;
    const cls = perCpu ? '$PerCpuTypedMap' : '$TypedMap';
    const note = `\`${doc(this.#btf.typeName(m.keyType!))}\` keys, \`${doc(this.#btf.typeName(m.valueType!))}\` values${perCpu ? ' (one per CPU)' : ''}`;
    return { type: `${cls}<${generics}>`, make: `new ${cls}(${get}, ${k}, ${v})`, note };
  }

  #recordSpec(map: string): string {
    return this.#btf.typeName(this.#btf.find(this.#in.options.records![map]).id);
  }

  #tsOfCodec(map: string): string {
    return this.#em.ts.type(this.#btf.find(this.#in.options.records![map]).id, false);
  }

  #isUnion(id: number): boolean {
    return this.#btf.resolve(id).kind === 'UNION';
  }

  #isData(id: number): boolean {
    const t = this.#btf.resolve(id);
    return !['VOID', 'FWD', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'DECL_TAG'].includes(t.kind) && this.#btf.sizeOf(id) > 0;
  }

  #checkRecords(maps: MapDefinition[]): void {
    for (const [name, spec] of Object.entries(this.#in.options.records ?? {})) {
      const m = maps.find((x) => x.name === name);
      if (!m) throw new BpfArgumentError('records', `the object has no map '${name}' (maps: ${maps.map((x) => x.name).join(', ') || 'none'})`);
      if (m.type !== MapType.RINGBUF && m.type !== MapType.PERF_EVENT_ARRAY) {
        throw new BpfArgumentError('records', `map '${name}' is ${mapTypeName(m.type)}; record types are for RINGBUF and PERF_EVENT_ARRAY maps`);
      }
      if (typeof spec !== 'string') throw new BpfArgumentError('records', `the record type of '${name}' must be a C type name`);
      this.#btf.find(spec);
    }
  }

  // ---- the module -----------------------------------------------------------------------

  module(): string {
    const isObject = this.#btf.elf !== undefined;
    const maps = isObject ? mapDefinitions(this.#btf) : [];
    this.#checkRecords(maps);
    const types = [...this.#named.values()].map((n) => this.#typeSection(n));
    const skeleton = isObject ? this.#skeleton(maps) : '';
    const functions = this.#em.functions();
    const sha = createHash('sha256').update(this.#bytes).digest('hex');
    const header = `// Generated by bpf-skel (${IMPORT_FROM}) from ${this.#in.fileName} (sha256 ${sha.slice(0, 16)}): do not edit;
// run bpf-skel again when the C changes. Types, codecs${isObject ? ', and the typed skeleton' : ''} of its BTF.
/* eslint-disable */
`;
    const body = [...types, ...this.#codecDecls.map((d) => `${d}\n`), skeleton,
      '// ---- decoders and encoders (straight-line code generated from the BTF) ----', '', ...functions.map((f) => `${f}\n`)].join('\n');
    // Only what the module uses, so that noUnusedLocals holds.
    const names = ['BpfObject', 'PerCpuTypedMap', 'PerfBufferMap', 'RingBufferMap', 'TypedMap', 'checkSkeletonLayout', 'globalsView',
      'rawRecord', 'type BpfLink', 'type BpfMap', 'type BpfProgram', 'type Codec', 'type OpenBpfObject', 'type OpenMap', 'type OpenOptions',
      'type OpenProgram'].filter((n) => new RegExp(`\\$${n.replace('type ', '')}\\b`).test(body));
    const imports = `import {\n  codecSupport as $codecSupport,${names.map((n) => `\n  ${n} as $${n.replace('type ', '')},`).join('')}\n} from '${IMPORT_FROM}';`;
    // A module-level const, not the import: CommonJS output reads an import through the
    // package's export getter on every use, and the codecs use it once per field.
    const version = `const $h = $codecSupport;
if ($h.version !== ${codecSupport.version}) {
  throw new Error('this module was generated for codec support version ${codecSupport.version} of ${IMPORT_FROM}, which has ' + $h.version + ': run bpf-skel again');
}`;
    return [header, imports, '', version, '', body].join('\n').replace(/\n{3,}/g, '\n\n');
  }

  #skeleton(maps: MapDefinition[]): string {
    const s = this.#skel;
    const globals = this.#globals();
    const programs = programDefinitions(this.#btf);
    const src = this.#in.fileName;
    const sections = (['.rodata', '.data', '.bss'] as const).map((section) => ({ section, vars: globals.filter((g) => g.section === section) }));
    const sectionDoc: Record<string, string> = {
      '.rodata': '`const volatile` globals: set them on the open object, and the verifier sees the values; read-only after load',
      '.data': 'initialized globals: initial values before load, the live kernel memory after',
      '.bss': 'zero-initialized globals: initial values before load, the live kernel memory after',
    };
    const sectionTypes = sections.map(({ section, vars }) => {
      const name = s[section.slice(1) as 'rodata' | 'data' | 'bss'];
      const props = vars.map((g) => `  /** \`${doc(g.decl)};\` (${g.size} bytes at ${g.offset} of ${section}). */\n  ${key(g.name)}: ${g.tsType};`);
      return `/** \`${section}\` of ${src}: ${sectionDoc[section]}. */\nexport interface ${name} {\n${props.join('\n')}\n}\n`;
    });
    const codecTables = sections.map(({ section, vars }) =>
      `const $${section.slice(1)}Codecs = {${vars.map((g) => ` ${key(g.name)}: ${g.codec}`).join(',')} } as const;`);
    const layout = `const $layout: { maps: Record<string, readonly [number, number]>; globals: Record<string, Record<string, readonly [number, number]>> } = {
  maps: {${maps.map((m) => `\n    ${key(m.name)}: [${m.keyType !== undefined ? m.keySize : 0}, ${m.valueType !== undefined ? m.valueSize : 0}],`).join('')}
  },
  globals: {${sections.map(({ section, vars }) => `\n    ${lit(section)}: {${vars.map((g) => ` ${key(g.name)}: [${g.offset}, ${g.size}]`).join(',')} },`).join('')}
  },
};`;
    const loadedMaps = maps.map((m) => ({ m, ...this.#loadedMap(m) }));
    const typeLine = (m: MapDefinition) => `${mapTypeName(m.type)}${m.maxEntries !== undefined ? `, ${m.maxEntries} entries` : ''}`;
    const openMapsType = `/** The maps of ${src}, before load (set sizes, reuse fds). */\nexport interface ${s.openMaps} {\n${maps.map((m) =>
      `  /** \`${doc(m.name)}\` (${typeLine(m)}). */\n  readonly ${key(m.name)}: $OpenMap;`).join('\n')}\n}\n`;
    const mapsType = `/** The maps of ${src}, loaded, with their keys and values decoded. */\nexport interface ${s.maps} {\n${loadedMaps.map(({ m, type, note }) =>
      `  /** \`${doc(m.name)}\` (${typeLine(m)}): ${note}. */\n  readonly ${key(m.name)}: ${type};`).join('\n')}\n}\n`;
    const progType = (name: string, cls: string, what: string) => `/** The programs of ${src}${what}. */\nexport interface ${name} {\n${programs.map((p) =>
      `  /** \`${doc(p.name)}\`, \`SEC("${doc(p.section)}")\`. */\n  readonly ${key(p.name)}: ${cls};`).join('\n')}\n}\n`;
    const embed = this.#in.options.embed;
    const objectPath = this.#in.objectPath;
    if (!embed && objectPath === undefined) {
      throw new BpfArgumentError('objectPath', 'the object was given as bytes: pass objectPath (where open() finds it) or embed: true');
    }
    const objectDecl = embed
      ? `/** The bytes of ${src}, embedded (bpf-skel --embed). */\nexport const objectBytes: Buffer = Buffer.from(${lit(this.#bytes.toString('base64'))}, 'base64');\n`
      : `/** Where \`open()\` finds ${src} (as given to bpf-skel; a relative path is relative to the working directory). */\nexport const objectPath: string = ${lit(objectPath!)};\n`;
    const objName = this.#in.base;
    return `${sectionTypes.join('\n')}
${openMapsType}
${mapsType}
${progType(s.openPrograms, '$OpenProgram', ', before load (autoload on or off)')}
${progType(s.programs, '$BpfProgram', ', loaded')}
/** Options of \`open()\`: those of \`BpfObject.open\`, and \`object\`: another path or bytes of the same object. */
export interface ${s.options} extends $OpenOptions {
  /** The object to open instead of ${embed ? 'the embedded one' : '`objectPath`'} (built from the same source). */
  object?: string | Buffer;
}

/**
 * ${src} opened, not loaded: set \`rodata\` (and initial \`data\`/\`bss\`) values, change maps and
 * programs, then \`load()\`. After load this object is unusable; use what \`load()\` returned.
 */
export interface ${s.open} {
  /** The OpenBpfObject underneath. */
  readonly object: $OpenBpfObject;
  /** ${sectionDoc['.rodata']}. */
  readonly rodata: ${s.rodata};
  /** ${sectionDoc['.data']}. */
  readonly data: ${s.data};
  /** ${sectionDoc['.bss']}. */
  readonly bss: ${s.bss};
  readonly maps: ${s.openMaps};
  readonly programs: ${s.openPrograms};
  /** Loads the object into the kernel (see \`OpenBpfObject.load\`). */
  load(): ${s.loaded};
  /** Releases the object without loading it. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

/** ${src} loaded: typed maps and live globals. */
export interface ${s.loaded} {
  /** The BpfObject underneath. */
  readonly object: $BpfObject;
  /** \`.rodata\`, frozen at load. */
  readonly rodata: Readonly<${s.rodata}>;
  /** \`.data\`: reads and writes go to the kernel's memory. */
  readonly data: ${s.data};
  /** \`.bss\`: reads and writes go to the kernel's memory. */
  readonly bss: ${s.bss};
  readonly maps: ${s.maps};
  readonly programs: ${s.programs};
  /** Attaches every program whose section says where (see \`BpfObject.attachAll\`). */
  attachAll(): $BpfLink[];
  /** Detaches, and releases maps and programs. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

${objectDecl}
/** SHA-256 of the object bpf-skel read. */
export const objectSha256: string = ${lit(createHash('sha256').update(this.#bytes).digest('hex'))};

${codecTables.join('\n')}

${layout}

/**
 * Opens ${src} (nothing is loaded yet). Checks that the object has the maps and globals this
 * module was generated for, and fails naming what differs otherwise.
 *
 * @example
 * using skel = open().load();
 */
export function open(options: ${s.options} = {}): ${s.open} {
  const { object: source, ...openOptions } = options;
  const obj = $BpfObject.open(source ?? ${embed ? 'objectBytes' : 'objectPath'}, { objectName: ${lit(objName)}, ...openOptions });
  try {
    $checkSkeletonLayout(obj, $layout, ${lit(src)});
    return {
      object: obj,
      rodata: $globalsView<${s.rodata}>(obj.rodata, $rodataCodecs, true),
      data: $globalsView<${s.data}>(obj.data, $dataCodecs, true),
      bss: $globalsView<${s.bss}>(obj.bss, $bssCodecs, true),
      maps: {${maps.map((m) => `\n        ${key(m.name)}: obj.map(${lit(m.name)}),`).join('')}
      },
      programs: {${programs.map((p) => `\n        ${key(p.name)}: obj.program(${lit(p.name)}),`).join('')}
      },
      load: () => $loaded(obj.load()),
      close: () => obj.close(),
      [Symbol.dispose]: () => obj.close(),
    };
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** \`open(options).load()\`. */
export function load(options?: ${s.options}): ${s.loaded} {
  return open(options).load();
}

/**
 * Types an object of ${src} that was loaded some other way (e.g. by \`timer.subscribe\`), after
 * checking it has the maps and globals this module was generated for. Closing the result
 * closes \`object\`.
 */
export function adopt(object: $BpfObject): ${s.loaded} {
  $checkSkeletonLayout(object, $layout, ${lit(src)});
  return $loaded(object);
}

function $loaded(obj: $BpfObject): ${s.loaded} {
  return {
    object: obj,
    rodata: $globalsView<Readonly<${s.rodata}>>(obj.rodata, $rodataCodecs, false),
    data: $globalsView<${s.data}>(obj.data, $dataCodecs, true),
    bss: $globalsView<${s.bss}>(obj.bss, $bssCodecs, true),
    maps: {${loadedMaps.map(({ m, make }) => `\n      ${key(m.name)}: ${make},`).join('')}
    },
    programs: {${programs.map((p) => `\n      ${key(p.name)}: obj.program(${lit(p.name)}),`).join('')}
    },
    attachAll: () => obj.attachAll(),
    close: () => obj.close(),
    [Symbol.dispose]: () => obj.close(),
  };
}
`;
  }
}

