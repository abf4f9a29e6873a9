// Keys and values as the element calls take them: a Buffer of the exact size, or an
// integer for 4- and 8-byte fields.
import { BpfArgumentError } from './errors';

/** A key or value: a Buffer of the exact size, or an integer for 4- and 8-byte keys/values. */
export type MapBytes = Buffer | number | bigint;

/** @internal an integer in 0..2^32-1, or a BpfArgumentError naming `what`. */
export function checkU32(what: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new BpfArgumentError(what, `expected an integer in 0..2^32-1, got ${String(n)}`);
  }
  return n;
}

/** Encodes a key/value argument into exactly `size` bytes. */
export function toBytes(what: string, v: MapBytes, size: number): Buffer {
  if (Buffer.isBuffer(v)) {
    if (v.length !== size) throw new BpfArgumentError(what, `expected ${size} bytes, got ${v.length}`);
    return v;
  }
  if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    throw new BpfArgumentError(what, `${v} is beyond 2^53 and may already have lost precision: pass a bigint`);
  }
  if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint') {
    if (size === 4 && typeof v === 'number' && v >= -0x8000_0000 && v <= 0xffff_ffff) {
      const b4 = Buffer.allocUnsafe(4);
      b4.writeUInt32LE(v >>> 0);
      return b4;
    }
    const buf = Buffer.alloc(size);
    const big = BigInt(v);
    if (size === 4 && big >= -(1n << 31n) && big < 1n << 32n) buf.writeUInt32LE(Number(BigInt.asUintN(32, big)));
    else if (size === 8 && big >= -(1n << 63n) && big < 1n << 64n) buf.writeBigUInt64LE(BigInt.asUintN(64, big));
    else throw new BpfArgumentError(what, `an integer works for 4- or 8-byte fields in range; this one has ${size} bytes (pass a Buffer)`);
    return buf;
  }
  throw new BpfArgumentError(what, `expected a Buffer or an integer, got ${typeof v}`);
}
