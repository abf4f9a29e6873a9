// What the generated codecs call at run time: 64-bit, float, string and bitfield reads,
// and the checked writes of encode. Decoding of 8-, 16- and 32-bit integers is inlined in
// the generated code itself; these are the rest, shared by modules bpf-skel writes and by
// the codecs btfCodec compiles at run time.
import { BpfArgumentError } from '../errors';

/** A C type's value in bytes, and back. Made from BTF by `btfCodec` or by `bpf-skel`. */
export interface Codec<T, E = T> {
  /** Bytes taken by one value (`sizeof`). */
  readonly size: number;
  /** The C type, e.g. `struct event`. */
  readonly typeName: string;
  /**
   * Reads a value from `bytes` at `offset` (default 0); `bytes` may be longer than `size`
   * (perf samples carry padding). Integers of up to 32 bits are numbers, 64-bit ones
   * bigints; `bool` a boolean; pointers bigints; arrays arrays (`char[N]` and other byte
   * arrays a Buffer copy, or a string where asked for); structs and unions objects.
   */
  decode(bytes: Uint8Array, offset?: number): T;
  /**
   * Writes `value` into `bytes` at `offset`, or into a new zeroed Buffer of `size` bytes;
   * returns the bytes written to. Padding is zeroed; integers are range-checked.
   */
  encode(value: E): Buffer;
  encode<B extends Uint8Array>(value: E, bytes: B, offset?: number): B;
}

const F32 = new Float32Array(1);
const F32B = new Uint8Array(F32.buffer);
const F64 = new Float64Array(1);
const F64B = new Uint8Array(F64.buffer);

// The kernel cuts strings to their field (a task's comm to 15 bytes) without regard to
// UTF-8, so the last character may be cut short. Decoding it would give U+FFFD, three
// bytes, and the decoded string would no longer fit its own field when encoded back: so
// an incomplete sequence at the very end is left out.
function utf8End(b: Uint8Array, o: number, e: number): number {
  let lead = e - 1;
  while (lead >= o && lead > e - 4 && (b[lead] & 0xc0) === 0x80) lead--;
  if (lead < o) return e;
  const c = b[lead];
  const need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
  return need > 1 && e - lead < need ? lead : e;
}

function fail(p: string, f: string, message: string): never {
  throw new BpfArgumentError(f ? `${p}.${f}` : p, message);
}

function show(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.constructor.name} of ${v.length} bytes`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function u32At(b: Uint8Array, o: number): number {
  return (b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24) >>> 0;
}

/** An integer value as a bigint for range checks, or undefined when it is not one. */
function asBig(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return undefined;
}

function intOf(v: unknown, lo: number, hi: number, what: string, p: string, f: string): number {
  if (typeof v === 'number') {
    if (v >= lo && v <= hi && Math.floor(v) === v) return v;
  } else if (typeof v === 'bigint') {
    if (v >= BigInt(lo) && v <= BigInt(hi)) return Number(v);
  } else if (typeof v === 'boolean') {
    return v ? 1 : 0;
  }
  return fail(p, f, `expected ${what} (${lo}..${hi}), got ${show(v)}`);
}

function bigOf(v: unknown, bits: number, signed: boolean, p: string, f: string): bigint {
  const big = asBig(v);
  if (big === undefined) {
    if (typeof v === 'number' && Number.isInteger(v)) fail(p, f, `${v} is beyond 2^53 and may already have lost precision: pass a bigint`);
    fail(p, f, `expected a ${bits}-bit ${signed ? 'signed' : 'unsigned'} integer (bigint), got ${show(v)}`);
  }
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (big < min || big > max) fail(p, f, `${big} is out of range for a ${signed ? 'signed' : 'unsigned'} ${bits}-bit integer (${min}..${max})`);
  return big;
}

function writeBig(b: Uint8Array, o: number, n: number, v: bigint): void {
  let u = BigInt.asUintN(n * 8, v);
  for (let i = 0; i < n; i += 4) {
    const w = Number(u & 0xffffffffn);
    b[o + i] = w; b[o + i + 1] = w >>> 8; b[o + i + 2] = w >>> 16; b[o + i + 3] = w >>> 24;
    u >>= 32n;
  }
}

function readBig(b: Uint8Array, o: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 4; i >= 0; i -= 4) v = (v << 32n) | BigInt(u32At(b, o + i));
  return v;
}

/**
 * The run-time support of generated codecs (modules written by `bpf-skel` and codecs from
 * `btfCodec`). Not meant to be called directly; its shape may change with the generator,
 * and a module checks `version` against the one it was generated for.
 */
export const codecSupport = {
  version: 1,

  /** Throws the error of a decode outside `bytes`. */
  outOfRange(typeName: string, size: number, b: unknown, o: unknown): never {
    if (!(b instanceof Uint8Array)) throw new BpfArgumentError('bytes', `decoding ${typeName} needs a Buffer or Uint8Array, got ${show(b)}`);
    if (typeof o !== 'number' || !Number.isInteger(o) || o < 0) throw new BpfArgumentError('offset', `expected a byte offset (an integer >= 0), got ${show(o)}`);
    throw new BpfArgumentError('bytes', `${typeName} needs ${size} bytes at offset ${o}, but there are ${Math.max(0, b.length - o)} (${b.length} in all)`);
  },
  u64(b: Uint8Array, o: number): bigint {
    return BigInt(u32At(b, o)) + (BigInt(u32At(b, o + 4)) << 32n);
  },
  i64(b: Uint8Array, o: number): bigint {
    return BigInt(u32At(b, o)) + (BigInt(b[o + 4] | b[o + 5] << 8 | b[o + 6] << 16 | b[o + 7] << 24) << 32n);
  },
  u128(b: Uint8Array, o: number): bigint {
    return readBig(b, o, 16);
  },
  i128(b: Uint8Array, o: number): bigint {
    return BigInt.asIntN(128, readBig(b, o, 16));
  },
  f32(b: Uint8Array, o: number): number {
    F32B[0] = b[o]; F32B[1] = b[o + 1]; F32B[2] = b[o + 2]; F32B[3] = b[o + 3];
    return F32[0];
  },
  f64(b: Uint8Array, o: number): number {
    for (let i = 0; i < 8; i++) F64B[i] = b[o + i];
    return F64[0];
  },
  /** A copy of `n` bytes. */
  bytes(b: Uint8Array, o: number, n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    out.set(b.subarray(o, o + n));
    return out;
  },
  /** `char[n]` as a string: UTF-8 up to the first NUL (or all n bytes). */
  str(b: Uint8Array, o: number, n: number): string {
    const end = o + n;
    let e = o;
    let ascii = true;
    for (; e < end; e++) {
      const c = b[e];
      if (c === 0) break;
      if (c > 0x7f) ascii = false;
    }
    if (ascii && e - o <= 32) {
      let s = '';
      for (let i = o; i < e; i++) s += String.fromCharCode(b[i]);
      return s;
    }
    return Buffer.from(b.buffer, b.byteOffset + o, utf8End(b, o, e) - o).toString('utf8');
  },
  /** A bitfield read as a number: `bits` bits from bit `shift` of the `n` bytes at `s` (n <= 6). */
  bitsNum(b: Uint8Array, s: number, n: number, shift: number, bits: number, signed: boolean): number {
    let raw = 0;
    for (let i = n - 1; i >= 0; i--) raw = raw * 256 + b[s + i];
    let v = Math.floor(raw / 2 ** shift) % 2 ** bits;
    if (signed && v >= 2 ** (bits - 1)) v -= 2 ** bits;
    return v;
  },
  /** A bitfield read as a bigint (n <= 9 bytes). */
  bitsBig(b: Uint8Array, s: number, n: number, shift: number, bits: number, signed: boolean): bigint {
    let raw = 0n;
    for (let i = n - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(b[s + i]);
    const v = BigInt.asUintN(bits, raw >> BigInt(shift));
    return signed ? BigInt.asIntN(bits, v) : v;
  },

  /** The bytes encode writes to: new zeroed ones, or `bytes` checked and zeroed in place. */
  target(typeName: string, size: number, b: Uint8Array | undefined, o: number): Uint8Array {
    if (b === undefined) {
      if (o !== 0) throw new BpfArgumentError('offset', 'an offset needs the bytes to write into');
      return Buffer.alloc(size);
    }
    if (!(b instanceof Uint8Array)) throw new BpfArgumentError('bytes', `encoding ${typeName} needs a Buffer or Uint8Array to write into, got ${show(b)}`);
    if (!Number.isInteger(o) || o < 0 || o + size > b.length) {
      throw new BpfArgumentError('bytes', `${typeName} needs ${size} bytes at offset ${String(o)}, but the bytes have ${b.length}`);
    }
    // TypedArray's fill, a V8 builtin (Buffer's own is JS, compiled at its first call)
    Uint8Array.prototype.fill.call(b, 0, o, o + size);
    return b;
  },
  /** Builds a codec's `encode` around a generated writer. */
  encoder<T>(typeName: string, size: number, path: string, write: (v: T, b: Uint8Array, o: number, p: string) => void): Codec<T>['encode'] {
    const s = codecSupport;
    return function encode(value: T, bytes?: Uint8Array, offset = 0) {
      const b = s.target(typeName, size, bytes, offset);
      write(value, b, offset, path);
      return b;
    } as Codec<T>['encode'];
  },
  /** Checks that a struct or union value is an object. */
  obj(v: unknown, p: string, f: string): void {
    if (v === null || typeof v !== 'object') fail(p, f, `expected an object, got ${show(v)}`);
  },
  /** Checks an array value's length. */
  arr(v: unknown, n: number, p: string, f: string): void {
    if (!Array.isArray(v) && !(v instanceof Uint8Array)) fail(p, f, `expected an array of ${n}, got ${show(v)}`);
    if ((v as ArrayLike<unknown>).length !== n) fail(p, f, `expected ${n} elements, got ${(v as ArrayLike<unknown>).length}`);
  },
  wu8(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    b[o] = intOf(v, 0, 0xff, 'an 8-bit unsigned integer', p, f);
  },
  wi8(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    b[o] = intOf(v, -0x80, 0x7f, 'an 8-bit signed integer', p, f);
  },
  wu16(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    const x = intOf(v, 0, 0xffff, 'a 16-bit unsigned integer', p, f);
    b[o] = x; b[o + 1] = x >>> 8;
  },
  wi16(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    const x = intOf(v, -0x8000, 0x7fff, 'a 16-bit signed integer', p, f);
    b[o] = x; b[o + 1] = x >>> 8;
  },
  wu32(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    const x = intOf(v, 0, 0xffffffff, 'a 32-bit unsigned integer', p, f);
    b[o] = x; b[o + 1] = x >>> 8; b[o + 2] = x >>> 16; b[o + 3] = x >>> 24;
  },
  wi32(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    const x = intOf(v, -0x80000000, 0x7fffffff, 'a 32-bit signed integer', p, f);
    b[o] = x; b[o + 1] = x >>> 8; b[o + 2] = x >>> 16; b[o + 3] = x >>> 24;
  },
  wu64(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    writeBig(b, o, 8, bigOf(v, 64, false, p, f));
  },
  wi64(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    writeBig(b, o, 8, bigOf(v, 64, true, p, f));
  },
  wu128(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    writeBig(b, o, 16, bigOf(v, 128, false, p, f));
  },
  wi128(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    writeBig(b, o, 16, bigOf(v, 128, true, p, f));
  },
  wbool(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    if (typeof v !== 'boolean') fail(p, f, `expected a boolean, got ${show(v)}`);
    b[o] = v ? 1 : 0;
  },
  wf32(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    if (typeof v !== 'number') fail(p, f, `expected a number, got ${show(v)}`);
    F32[0] = v;
    b[o] = F32B[0]; b[o + 1] = F32B[1]; b[o + 2] = F32B[2]; b[o + 3] = F32B[3];
  },
  wf64(b: Uint8Array, o: number, v: unknown, p: string, f: string): void {
    if (typeof v !== 'number') fail(p, f, `expected a number, got ${show(v)}`);
    F64[0] = v;
    for (let i = 0; i < 8; i++) b[o + i] = F64B[i];
  },
  /** `n` bytes from a Uint8Array (or array of byte values) of exactly `n`. */
  wbytes(b: Uint8Array, o: number, n: number, v: unknown, p: string, f: string): void {
    if (v instanceof Uint8Array) {
      if (v.length !== n) fail(p, f, `expected ${n} bytes, got ${v.length}`);
      b.set(v, o);
      return;
    }
    if (typeof v === 'string') fail(p, f, `expected ${n} bytes (a Buffer or Uint8Array), got ${show(v)}; bpf-skel --strings makes it a string`);
    codecSupport.arr(v, n, p, f);
    (v as unknown[]).forEach((x, i) => codecSupport.wu8(b, o + i, x, p, `${f}[${i}]`));
  },
  /** A string as UTF-8 into `char[n]`, NUL-padded; at most n bytes. */
  wstr(b: Uint8Array, o: number, n: number, v: unknown, p: string, f: string): void {
    if (typeof v !== 'string') fail(p, f, `expected a string of at most ${n} bytes, got ${show(v)}`);
    const bytes = Buffer.from(v, 'utf8');
    if (bytes.length > n) fail(p, f, `the string takes ${bytes.length} bytes in UTF-8, more than the ${n} of the field`);
    b.set(bytes, o);
  },
  /** ORs a bitfield into the `n` bytes at `s` (n <= 6), range-checked. */
  wbits(b: Uint8Array, s: number, n: number, shift: number, bits: number, signed: boolean, v: unknown, p: string, f: string): void {
    const lo = signed ? -(2 ** (bits - 1)) : 0;
    const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    let x = intOf(v, lo, hi, `a ${bits}-bit ${signed ? 'signed' : 'unsigned'} bitfield`, p, f);
    if (x < 0) x += 2 ** bits;
    let raw = 0;
    for (let i = n - 1; i >= 0; i--) raw = raw * 256 + b[s + i];
    const field = 2 ** shift;
    raw = raw - (Math.floor(raw / field) % 2 ** bits) * field + x * field;
    for (let i = 0; i < n; i++) {
      b[s + i] = raw % 256;
      raw = Math.floor(raw / 256);
    }
  },
  /** As `wbits`, for 64-bit bitfields (bigint values, n <= 9). */
  wbitsBig(b: Uint8Array, s: number, n: number, shift: number, bits: number, signed: boolean, v: unknown, p: string, f: string): void {
    const x = BigInt.asUintN(bits, bigOf(v, bits, signed, p, f));
    let raw = 0n;
    for (let i = n - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(b[s + i]);
    const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
    raw = (raw & ~mask) | (x << BigInt(shift));
    for (let i = 0; i < n; i++) {
      b[s + i] = Number(raw & 0xffn);
      raw >>= 8n;
    }
  },
} as const;

/** The type of `codecSupport`, for generated code. */
export type CodecSupport = typeof codecSupport;
