// BPF_F_MMAPABLE arrays (Linux 5.5) mapped into the process: values read and written as
// memory, with no syscall. native/map_mmap.cc maps them into external ArrayBuffers.
import { markAsUntransferable } from 'node:worker_threads';
import { constants as osConstants } from 'node:os';
import { MapType, mapTypeName } from './constants';
import type { ObjectCore } from './core';
import { BpfArgumentError, BpfError, ClosedError } from './errors';
import type { NativeMapInfo, NativeObjectHandle } from './native';

/** `BPF_F_*` map flags this file reads (include/uapi/linux/bpf.h). */
const BPF_F_RDONLY = 1 << 3;
const BPF_F_RDONLY_PROG = 1 << 7;
/**
 * `BPF_F_MMAPABLE` (1 << 10), the map flag that lets an array's values be mapped (Linux 5.5);
 * `BpfMap.mmap()` needs it.
 *
 * @example
 * const mappable = (obj.map('slots').flags & BPF_F_MMAPABLE) !== 0;
 */
export const BPF_F_MMAPABLE = 1 << 10;
/**
 * First kernel with BPF_F_MMAPABLE arrays (`5.5`).
 *
 * @example
 * console.log(`BpfMap.mmap() needs Linux ${MMAPABLE_MIN_KERNEL}`);
 */
export const MMAPABLE_MIN_KERNEL = '5.5';

/**
 * The values of a `BPF_F_MMAPABLE` array map, mapped into this process (`BpfMap.mmap()`,
 * Linux 5.5): value `i` is at byte `i * stride` (the kernel aligns values to 8 bytes). A BPF
 * program's writes are visible at once, and so are writable mappings' writes to programs.
 * Closing it, or the map's object, detaches `buffer`: views of it then have length 0.
 *
 * @example
 * const m = obj.map('slots').mmap();
 * m.writeBigUInt64(3, 42n);             // no syscall
 * new BigUint64Array(m.buffer)[3];      // 42n, where the map's values are u64
 */
export class MappedArray {
  /** Number of values (the map's max_entries). */
  readonly length: number;
  /** Bytes of one value. */
  readonly valueSize: number;
  /** Bytes from one value to the next: `valueSize` rounded up to 8. */
  readonly stride: number;
  /** False where user space may only read (BPF_F_RDONLY_PROG, BPF_F_RDONLY or a frozen map). */
  readonly writable: boolean;
  readonly #name: string;
  readonly #ab: ArrayBuffer;
  readonly #view: DataView;
  readonly #h: NativeObjectHandle;
  readonly #core: ObjectCore;
  #closed = false;

  /** @internal */
  constructor(h: NativeObjectHandle, core: ObjectCore, info: NativeMapInfo, ab: ArrayBuffer, writable: boolean) {
    this.#h = h;
    this.#core = core;
    this.#name = info.name;
    this.#ab = ab;
    this.#view = new DataView(ab);
    this.length = info.maxEntries;
    this.valueSize = info.valueSize;
    this.stride = Math.ceil(info.valueSize / 8) * 8;
    this.writable = writable;
    // A transfer to a worker would take the memory out of this thread's detach at close.
    markAsUntransferable(ab);
    core.children.add(this);
  }

  /** True once closed (directly or with the map's object). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The mapped values as one ArrayBuffer of `length * stride` bytes, for typed arrays over
   * them. Writable mappings only: a write into read-only pages would kill the process, so
   * read-only ones offer the `read*` methods instead.
   */
  get buffer(): ArrayBuffer {
    this.#use();
    if (!this.writable) {
      throw new BpfError('mmap', osConstants.errno.EACCES, `map '${this.#name}' is mapped read-only, so its memory is not handed out`,
        { hint: 'read it with read(i), readUInt32(i) or readBigUInt64(i); programs may only read BPF_F_RDONLY_PROG maps, so user space writes them with update()' });
    }
    return this.#ab;
  }

  /** A copy of value `i`. */
  read(i: number): Buffer {
    const at = this.#at(i, 0, this.valueSize);
    return Buffer.from(new Uint8Array(this.#ab, at, this.valueSize));
  }

  /** The u32 at byte `offset` of value `i` (host byte order, as BPF programs store it). */
  readUInt32(i: number, offset = 0): number {
    return this.#view.getUint32(this.#at(i, offset, 4), true);
  }

  /** The u64 at byte `offset` of value `i`. */
  readBigUInt64(i: number, offset = 0): bigint {
    return this.#view.getBigUint64(this.#at(i, offset, 8), true);
  }

  /** Stores a u32 at byte `offset` of value `i` (writable mappings). */
  writeUInt32(i: number, value: number, offset = 0): void {
    this.#writable();
    this.#view.setUint32(this.#at(i, offset, 4), value, true);
  }

  /** Stores a u64 at byte `offset` of value `i` (writable mappings). */
  writeBigUInt64(i: number, value: bigint, offset = 0): void {
    this.#writable();
    this.#view.setBigUint64(this.#at(i, offset, 8), value, true);
  }

  /** Detaches `buffer` and drops the mapping; harmless when done already. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#core.children.delete(this);
    this.#h.mapUnmap(this.#ab);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #use(): void {
    if (this.#closed) throw new ClosedError(`mapping of map '${this.#name}'`);
  }

  #writable(): void {
    this.#use();
    if (!this.writable) throw new BpfError('mmap', osConstants.errno.EACCES, `map '${this.#name}' is mapped read-only`, { hint: 'write it with update()' });
  }

  #at(i: number, offset: number, size: number): number {
    this.#use();
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new BpfArgumentError('i', `expected a value index in 0..${this.length - 1}, got ${String(i)}`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.valueSize) {
      throw new BpfArgumentError('offset', `${size} bytes at ${String(offset)} do not fit in a ${this.valueSize}-byte value`);
    }
    return i * this.stride + offset;
  }
}

/** @internal maps the values of map `index`: writable unless the map's flags or a freeze forbid it. */
export function mapArray(h: NativeObjectHandle, core: ObjectCore, index: number, info: NativeMapInfo): MappedArray {
  if (info.type !== MapType.ARRAY || (info.flags & BPF_F_MMAPABLE) === 0) {
    throw new BpfArgumentError('map', `'${info.name}' is a ${mapTypeName(info.type)}${info.type === MapType.ARRAY ? ' without BPF_F_MMAPABLE' : ''}: ` +
      'only arrays declared with __uint(map_flags, BPF_F_MMAPABLE) can be mapped (Linux 5.5)');
  }
  let writable = (info.flags & (BPF_F_RDONLY | BPF_F_RDONLY_PROG)) === 0;
  let ab: ArrayBuffer;
  try {
    ab = h.mapMmap(index, writable);
  } catch (e) {
    // A frozen map refuses writable mappings (EPERM): read-only is what is left.
    if (!(writable && e instanceof BpfError && e.code === 'EPERM')) throw e;
    writable = false;
    ab = h.mapMmap(index, false);
  }
  try {
    return new MappedArray(h, core, info, ab, writable);
  } catch (e) {
    h.mapUnmap(ab);
    throw e;
  }
}
