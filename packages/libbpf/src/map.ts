// Maps: pre-load setters (OpenMap) and element operations (BpfMap).
import * as fs from 'node:fs';
import { constants as osConstants, endianness as osEndianness } from 'node:os';
import { isPerCpuMapType, mapTypeName, UpdateFlags } from './constants';
import type { ObjectCore } from './core';
import { BpfArgumentError, BpfError } from './errors';
import { numPossibleCpus } from './cpu';
import {
  BatchTarget, checkBatchSupport, deleteBatch, packPerCpu, readBatch, splitPerCpu, valueBytes, writeBatch,
  type BatchOp, type BatchReadOptions, type BatchWriteOptions, type MapBatch,
} from './map-batch';
import { checkU32, toBytes, type MapBytes } from './map-bytes';
import { mapArray, type MappedArray } from './mapped-array';
import type { NativeMapInfo, NativeObjectHandle } from './native';

// libbpf 1.1's bpf_map__reuse_fd falls back to parsing /proc/self/fdinfo when the fd is
// not a BPF object, and then takes any fd, leaving the map nameless and typeless; so check
// what the fd is first.
function checkMapFd(fd: number): void {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    throw new BpfError('bpf_map__reuse_fd', osConstants.errno.EBADF, `fd ${fd} is not open`, { hint: null });
  }
  if (target !== 'anon_inode:bpf-map') throw new BpfArgumentError('fd', `fd ${fd} is not a BPF map (it is ${target})`);
}

export { toBytes, type MapBytes };

abstract class MapBase {
  /** @internal */ protected readonly core: ObjectCore;
  /** @internal */ protected readonly index: number;
  /** @internal */ protected info: NativeMapInfo;

  /** @internal */
  constructor(core: ObjectCore, index: number, info: NativeMapInfo) {
    this.core = core;
    this.index = index;
    this.info = info;
  }

  /** The map's name (internal maps: `<object>.bss` and the like). */
  get name(): string { return this.info.name; }
  /** `enum bpf_map_type` number; see `MapType`. */
  get type(): number { return this.info.type; }
  /** `BPF_MAP_TYPE_...` name of the type. */
  get typeName(): string { return mapTypeName(this.info.type); }
  /** Key size in bytes. */
  get keySize(): number { return this.info.keySize; }
  /** Value size in bytes (per CPU for per-CPU maps). */
  get valueSize(): number { return this.info.valueSize; }
  /** Maximum number of entries. */
  get maxEntries(): number { return this.info.maxEntries; }
  /** True for per-CPU map types (values exist once per possible CPU). */
  get perCpu(): boolean { return isPerCpuMapType(this.info.type); }
  /** The map's `BPF_F_*` flags (map_flags), e.g. `BPF_F_MMAPABLE`. */
  get flags(): number { return this.info.flags; }
}

/** A map of an object that is not loaded yet: its definition can still change. */
export class OpenMap extends MapBase {
  /**
   * Uses an existing map instead of creating one at load (libbpf duplicates `fd`; the caller
   * keeps ownership of its fd). The map's type, sizes and entries are taken from `fd`.
   */
  reuseFd(fd: number): void {
    checkU32('fd', fd);
    const h = this.core.require('open', `map '${this.name}'`);
    checkMapFd(fd);
    h.mapReuseFd(this.index, fd);
    this.refresh();
  }

  /** Sets max_entries (before load). */
  setMaxEntries(n: number): void {
    checkU32('maxEntries', n);
    if (n === 0) throw new BpfArgumentError('maxEntries', 'must be at least 1');
    this.core.require('open', `map '${this.name}'`).mapSetMaxEntries(this.index, n);
    this.refresh();
  }

  /** Sets the value size (before load). */
  setValueSize(n: number): void {
    checkU32('valueSize', n);
    if (n === 0) throw new BpfArgumentError('valueSize', 'must be at least 1');
    this.core.require('open', `map '${this.name}'`).mapSetValueSize(this.index, n);
    this.refresh();
  }

  private refresh(): void {
    this.info = this.core.handle.maps()[this.index];
  }
}

/** A created map. Operations are synchronous syscalls. */
export class BpfMap extends MapBase {
  #fast: FastOp | undefined;
  #batch: BatchTarget | undefined;
  #mapped: MappedArray | undefined;

  /** The map's fd, borrowed: valid while the object is open; dup it to keep it longer. */
  get fd(): number {
    return this.#h().mapFd(this.index);
  }

  /**
   * The value of `key`, or `undefined` when there is none. Not for per-CPU maps (see
   * `lookupPerCpu`). Allocates the returned Buffer; `lookupInto` reads into one of yours.
   *
   * @example
   * const v = obj.map('counts').lookup(7)?.readBigUInt64LE(0);
   */
  lookup(key: MapBytes): Buffer | undefined {
    const f = this.#single('lookup');
    putKey(f, key, this.keySize);
    const e = f.call();
    if (e === undefined) {
      const out = Buffer.allocUnsafe(f.value.length);
      copyValue(out, f.value);
      return out;
    }
    if (e === ENOENT) return undefined;
    throw new BpfError('bpf_map_lookup_elem', e);
  }

  /**
   * Reads the value of `key` into `out` (exactly `valueSize` bytes, reused across calls: no
   * allocation); false when there is no such key (`out` is then unchanged). Not for per-CPU maps.
   * The kernel writes `out` itself: calls with the same `out` as the call before are the
   * fastest, and the map holds on to the last `out` until another one is passed or the object
   * closes. A detached `out` (transferred, or a resizable buffer shrunk) is refused.
   *
   * @example
   * const out = Buffer.alloc(8);
   * for (let k = 0; k < 1024; k++) if (map.lookupInto(k, out)) sum += out.readBigUInt64LE(0);
   */
  lookupInto(key: MapBytes, out: Uint8Array): boolean {
    const f = this.#fast;
    // The kernel writes `out` itself. The op is bound to an array by the slow path below,
    // which checks it (and the addon again); after that a call only checks that `out` is
    // the bound array and is still attached: its length, read through the engine's own
    // getter, is 0 once its buffer is detached. Closing the object unbinds it.
    if (f !== undefined && out === f.out && lengthOf(out) === f.outBytes) {
      if (typeof key === 'number' && f.keyU32 !== null && key >>> 0 === key) f.keyU32[0] = key;
      else putKey(f, key, this.keySize);
      const e = f.into();
      if (e === undefined) return true;
      if (e === ENOENT) return false;
      throw new BpfError('bpf_map_lookup_elem', e);
    }
    return this.#lookupIntoAndBind(key, out);
  }

  /** One value per possible CPU (index = CPU number), or `undefined` when there is no such key. */
  lookupPerCpu(key: MapBytes): Buffer[] | undefined {
    const f = this.#perCpuOp('lookupPerCpu');
    putKey(f, key, this.keySize);
    const e = f.call();
    if (e === ENOENT) return undefined;
    if (e !== undefined) throw new BpfError('bpf_map_lookup_elem', e);
    return splitPerCpu(Buffer.from(f.value), 0, this.valueSize);
  }

  /** Creates or replaces the value of `key`; `flags`: `UpdateFlags.ANY` (default), `NOEXIST`, `EXIST`. */
  update(key: MapBytes, value: MapBytes, flags: number = UpdateFlags.ANY): void {
    const f = this.#single('update');
    checkFlags(flags);
    putKey(f, key, this.keySize);
    copyValue(f.value, toBytes('value', value, this.valueSize));
    const e = f.call(Cmd.UPDATE | (flags << 4));
    if (e !== undefined) throw new BpfError('bpf_map_update_elem', e);
  }

  /** Sets a per-CPU value: `values[cpu]` for every possible CPU. */
  updatePerCpu(key: MapBytes, values: MapBytes[], flags: number = UpdateFlags.ANY): void {
    const f = this.#perCpuOp('updatePerCpu');
    checkFlags(flags);
    const all = Buffer.alloc(f.value.length);
    packPerCpu(all, 0, values, this.valueSize, 'values');
    putKey(f, key, this.keySize);
    f.value.set(all);
    const e = f.call(Cmd.UPDATE | (flags << 4));
    if (e !== undefined) throw new BpfError('bpf_map_update_elem', e);
  }

  /** Deletes `key`; returns false when there was no such key. */
  delete(key: MapBytes): boolean {
    const f = this.#op();
    putKey(f, key, this.keySize);
    const e = f.call(Cmd.DELETE);
    if (e === undefined) return true;
    if (e === ENOENT) return false;
    throw new BpfError('bpf_map_delete_elem', e);
  }

  /** Iterates the keys (the kernel's order; concurrent changes may skip or repeat keys). */
  *keys(): IterableIterator<Buffer> {
    let key: Buffer | undefined = this.#h().mapNextKey(this.index, null);
    while (key) {
      yield key;
      key = this.#h().mapNextKey(this.index, key);
    }
  }

  /** Iterates `[key, value]` pairs; per-CPU maps give one Buffer per CPU as value. */
  *entries(): IterableIterator<[Buffer, Buffer | Buffer[]]> {
    for (const key of this.keys()) {
      const value = this.perCpu ? this.lookupPerCpu(key) : this.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /**
   * Reads up to `maxCount` entries (default: all of them) in as few syscalls as the kernel
   * allows (BPF_MAP_LOOKUP_BATCH, Linux 5.6; hash and array maps, per-CPU ones too). Keys and
   * values come back contiguous in one `MapBatch`. With a `cursor`, reading starts where the
   * cursor stands and moves it on; `cursor.done` tells the map's end.
   *
   * @example
   * const all = map.lookupBatch();
   * for (const [key, value] of all) console.log(key.readUInt32LE(0), value.readBigUInt64LE(0));
   * const cursor = new BatchCursor();
   * while (!cursor.done) handle(map.lookupBatch({ cursor, maxCount: 256 }));
   */
  lookupBatch(options?: BatchReadOptions): MapBatch {
    return readBatch(this.#batchTarget('lookupBatch'), 'lookupBatch', options);
  }

  /**
   * Like `lookupBatch`, and deletes what it read (BPF_MAP_LOOKUP_AND_DELETE_BATCH, Linux 5.6;
   * hash maps only: array entries cannot be deleted).
   *
   * @example
   * const drained = counts.lookupAndDeleteBatch(); // read and reset in one pass
   */
  lookupAndDeleteBatch(options?: BatchReadOptions): MapBatch {
    return readBatch(this.#batchTarget('lookupAndDeleteBatch'), 'lookupAndDeleteBatch', options);
  }

  /**
   * Writes many entries in one syscall (BPF_MAP_UPDATE_BATCH, Linux 5.6; hash and array maps).
   * `keys` and `values` are contiguous Buffers (n keys, n values; per-CPU values as
   * `lookupBatch` gives them) or arrays (per-CPU maps: one array of values per key). Returns n.
   * Fails with a `BatchError` saying how many entries were written before the failing one.
   *
   * @example
   * map.updateBatch([1, 2, 3], [10n, 20n, 30n]);
   */
  updateBatch(keys: Buffer | readonly MapBytes[], values: Buffer | readonly (MapBytes | readonly MapBytes[])[],
    options?: BatchWriteOptions): number {
    return writeBatch(this.#batchTarget('updateBatch'), keys, values, options);
  }

  /**
   * Deletes many keys in as few syscalls as possible (BPF_MAP_DELETE_BATCH, Linux 5.6; hash
   * maps only). `keys`: a contiguous Buffer or an array. Keys not in the map are skipped, as
   * `delete` returns false for them; returns how many were deleted.
   *
   * @example
   * const gone = map.deleteBatch([1, 2, 3]);
   */
  deleteBatch(keys: Buffer | readonly MapBytes[]): number {
    return deleteBatch(this.#batchTarget('deleteBatch'), keys);
  }

  /**
   * The values of a `BPF_F_MMAPABLE` array (Linux 5.5), mapped into this process: reads and
   * writes through it are plain memory accesses, no syscall. Read-only for maps that programs
   * may only read (`BPF_F_RDONLY_PROG`), that user space may only read (`BPF_F_RDONLY`) or
   * that are frozen. Closed with the object (its ArrayBuffer is then detached). One mapping
   * per `BpfMap` handle: later calls return the same one.
   *
   * @example
   * const m = obj.map('stats').mmap();
   * const counters = new BigUint64Array(m.buffer); // element i at counters[i * m.stride / 8]
   * counters[0] = 0n;
   */
  mmap(): MappedArray {
    const h = this.#h();
    if (this.#mapped && !this.#mapped.closed) return this.#mapped;
    this.#mapped = mapArray(h, this.core, this.index, this.info);
    return this.#mapped;
  }

  /** @internal registers something (a ring/perf buffer) to close with the map's object. */
  adopt(child: { close(): void }): () => void {
    this.#h();
    this.core.children.add(child);
    return () => this.core.children.delete(child);
  }

  #h() {
    return this.core.require('loaded', `map '${this.name}'`);
  }

  // The map's fast op, shared by its handles: bound to a key Buffer and a value Buffer of checked sizes.
  #op(): FastOp {
    if (this.core.state !== 'loaded') this.#h();
    return (this.#fast ??= mapOps(this.core).fast[this.index] ??= makeFastOp(this.core.handle, this.index, this.info));
  }

  #single(what: string): FastOp {
    const f = this.#op();
    if (f.perCpu) throw new BpfArgumentError('map', `'${this.name}' is per-CPU: use ${what === 'update' ? 'updatePerCpu(key, values)' : 'lookupPerCpu(key)'}`);
    return f;
  }

  #perCpuOp(what: string): FastOp {
    const f = this.#op();
    if (!f.perCpu) throw new BpfArgumentError('map', `'${this.name}' is not per-CPU: use ${what === 'updatePerCpu' ? 'update(key, value)' : 'lookup(key)'}`);
    return f;
  }

  // lookupInto's checks, then the lookup that binds the op to `out` for the calls after it.
  #lookupIntoAndBind(key: MapBytes, out: Uint8Array): boolean {
    if (this.core.state !== 'loaded') this.#h();
    const bytes = uint8Length(out);
    if (bytes !== this.info.valueSize) {
      throw new BpfArgumentError('out', `expected a Buffer or Uint8Array of the value size (${this.info.valueSize} bytes), got ${bytes >= 0 ? `${bytes} bytes` : out === null ? 'null' : typeof out}`);
    }
    const f = this.#single('lookupInto');
    putKey(f, key, this.keySize);
    const e = f.call(Cmd.LOOKUP_INTO, out);
    f.out = out;
    if (e === undefined) return true;
    if (e === ENOENT) return false;
    throw new BpfError('bpf_map_lookup_elem', e);
  }

  #batchTarget(op: BatchOp): BatchTarget {
    const h = this.#h();
    checkBatchSupport(op, this.name, this.info.type);
    return (this.#batch ??= mapOps(this.core).batch[this.index] ??= new BatchTarget(h, this.index, this.info));
  }
}

// ---- the fast element op (native/map.cc) ----------------------------------------------------

const ENOENT = osConstants.errno.ENOENT;
const Cmd = { UPDATE: 1, DELETE: 2, LOOKUP_INTO: 3 } as const; // 0, the lookup, is a call without arguments
// %TypedArray%.prototype.length as the engine defines it, whatever a subclass or the
// array itself may define: 0 once the array's buffer is detached (or out of bounds).
const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length')!.get!;
const lengthOf = Function.prototype.call.bind(typedArrayLength) as (a: Uint8Array) => number;
const LITTLE_ENDIAN = osEndianness() === 'LE';

interface FastOp {
  /**
   * One syscall on the bound key and value: nothing (a lookup) or `(flags << 4) | cmd` in;
   * `Cmd.LOOKUP_INTO` with an out array binds it to `into` and looks up into it. Undefined
   * (done) or the errno out.
   */
  call(word?: number, out?: Uint8Array): number | undefined;
  /** A lookup of the bound key into the out array bound last (see `out`); undefined or the errno. */
  into(): number | undefined;
  /** The out array `into` writes (set with each LOOKUP_INTO; null: none, or the object closed), and its length. */
  out: Uint8Array | null;
  outBytes: number;
  /** The key as a u32, for 4-byte keys on little-endian hosts (where toBytes' encoding is the host's). */
  keyU32: Uint32Array | null;
  key: Buffer;
  value: Buffer;
  perCpu: boolean;
}

// The native functions of an object's maps, made once per map (obj.map(name) makes a new
// handle each time). Closing the object unbinds lookupInto's arrays, so that no call takes
// the bound path once the object is closed.
interface MapOps {
  fast: (FastOp | undefined)[];
  batch: (BatchTarget | undefined)[];
}
const opsOfObject = new WeakMap<ObjectCore, MapOps>();

function mapOps(core: ObjectCore): MapOps {
  let ops = opsOfObject.get(core);
  if (ops === undefined) {
    const made: MapOps = { fast: [], batch: [] };
    core.children.add({ close: () => { for (const f of made.fast) if (f) f.out = null; } });
    opsOfObject.set(core, made);
    ops = made;
  }
  return ops;
}

function makeFastOp(h: NativeObjectHandle, index: number, info: NativeMapInfo): FastOp {
  const key = Buffer.from(new ArrayBuffer(info.keySize));
  const value = Buffer.from(new ArrayBuffer(valueBytes(info)));
  const [call, into] = h.mapFastOp(index, key, value);
  return {
    call,
    into,
    out: null,
    outBytes: info.valueSize,
    keyU32: info.keySize === 4 && LITTLE_ENDIAN ? new Uint32Array(key.buffer, 0, 1) : null,
    key,
    value,
    perCpu: isPerCpuMapType(info.type),
  };
}

// Into the op's key Buffer: the two common cases without allocating, the rest through toBytes.
function putKey(f: FastOp, key: MapBytes, keySize: number): void {
  if (typeof key === 'number' && f.keyU32 !== null && key >>> 0 === key) f.keyU32[0] = key;
  else if (Buffer.isBuffer(key) && key.length === keySize) copyValue(f.key, key);
  else copyValue(f.key, toBytes('key', key, keySize));
}

// TypedArray.prototype.set costs ~150 instructions a call (callgrind), half of what the
// native side of a lookup costs; a JIT-compiled byte loop copies a small key or value in a
// fraction of that.
function copyValue(dst: Uint8Array, src: Uint8Array): void {
  const n = src.length;
  if (n > 32) {
    dst.set(src);
    return;
  }
  for (let i = 0; i < n; i++) dst[i] = src[i];
}

// The length of a Uint8Array (a Buffer too) as the engine knows it, or -1 for anything else.
function uint8Length(v: unknown): number {
  if (!(v instanceof Uint8Array)) return -1;
  try {
    return typedArrayLength.call(v) as number;
  } catch {
    return -1; // an object that only inherits from Uint8Array.prototype
  }
}

function checkFlags(flags: number): void {
  if (![UpdateFlags.ANY, UpdateFlags.NOEXIST, UpdateFlags.EXIST, UpdateFlags.F_LOCK].includes(flags as 0)) {
    throw new BpfArgumentError('flags', `expected UpdateFlags.ANY, NOEXIST or EXIST, got ${String(flags)}`);
  }
}

// ---- typed maps (keys and values through codecs from BTF) -------------------------------

/** A key or value codec, as `btfCodec` and `bpf-skel` make them (see src/btf/codec-support.ts). */
interface MapCodec<T, E> {
  readonly size: number;
  readonly typeName: string;
  decode(bytes: Uint8Array, offset?: number): T;
  encode(value: E): Buffer;
}

function checkCodec(map: BpfMap, what: 'key' | 'value', codec: MapCodec<unknown, never>, size: number): void {
  if (!codec || typeof codec.decode !== 'function' || typeof codec.encode !== 'function' || typeof codec.size !== 'number') {
    throw new BpfArgumentError(what, `expected a codec (from btfCodec or a bpf-skel module) for the ${what}s of '${map.name}'`);
  }
  if (codec.size !== size) {
    throw new BpfArgumentError(what, `'${map.name}' has ${size}-byte ${what}s, but the codec is for ${codec.typeName} (${codec.size} bytes): the object and the codec come from different builds`);
  }
}

/**
 * A map whose keys and values are decoded and encoded through codecs (`btfCodec`, or the
 * codecs of a `bpf-skel` module, whose `maps.<name>` are these). Operations are the
 * synchronous syscalls of `BpfMap`; not for per-CPU maps (see `PerCpuTypedMap`).
 *
 * @example
 * const counts = new TypedMap(obj.map('counts'), btfCodec(btf, '__u32'), btfCodec(btf, 'struct stats'));
 * counts.update(7, { hits: 1n, misses: 0n });
 * for (const [pid, s] of counts) console.log(pid, s.hits);
 */
export class TypedMap<K, V, KIn = K, VIn = V> {
  readonly #map: BpfMap;
  readonly #key: MapCodec<K, KIn>;
  readonly #value: MapCodec<V, VIn>;

  constructor(map: BpfMap, key: MapCodec<K, KIn>, value: MapCodec<V, VIn>) {
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (map.perCpu) throw new BpfArgumentError('map', `'${map.name}' is per-CPU: use PerCpuTypedMap`);
    checkCodec(map, 'key', key as MapCodec<unknown, never>, map.keySize);
    checkCodec(map, 'value', value as MapCodec<unknown, never>, map.valueSize);
    this.#map = map;
    this.#key = key;
    this.#value = value;
  }

  /** The untyped map. */
  get map(): BpfMap { return this.#map; }

  /** The value of `key`, decoded, or `undefined` when there is none. */
  lookup(key: KIn): V | undefined {
    const b = this.#map.lookup(this.#key.encode(key));
    return b === undefined ? undefined : this.#value.decode(b);
  }

  /** Creates or replaces the value of `key`; `flags` as `BpfMap.update`. */
  update(key: KIn, value: VIn, flags: number = UpdateFlags.ANY): void {
    this.#map.update(this.#key.encode(key), this.#value.encode(value), flags);
  }

  /** Deletes `key`; false when there was no such key. */
  delete(key: KIn): boolean {
    return this.#map.delete(this.#key.encode(key));
  }

  /** The keys, decoded (the kernel's order). */
  *keys(): IterableIterator<K> {
    for (const k of this.#map.keys()) yield this.#key.decode(k);
  }

  /** `[key, value]` pairs, decoded. */
  *entries(): IterableIterator<[K, V]> {
    for (const k of this.#map.keys()) {
      const v = this.#map.lookup(k);
      if (v !== undefined) yield [this.#key.decode(k), this.#value.decode(v)];
    }
  }

  /**
   * `[key, value]` pairs, decoded, read in batches (`BpfMap.lookupBatch`, Linux 5.6; options
   * and cursor as there).
   *
   * @example
   * for (const [pid, s] of counts.lookupBatch()) console.log(pid, s.hits);
   */
  lookupBatch(options?: BatchReadOptions): Array<[K, V]> {
    return this.#decode(this.#map.lookupBatch(options));
  }

  /** Like `lookupBatch`, and deletes what it read (hash maps; Linux 5.6). */
  lookupAndDeleteBatch(options?: BatchReadOptions): Array<[K, V]> {
    return this.#decode(this.#map.lookupAndDeleteBatch(options));
  }

  /**
   * Writes `[key, value]` pairs in one syscall (`BpfMap.updateBatch`, Linux 5.6); returns how many.
   *
   * @example
   * counts.updateBatch([[1, { hits: 0n, misses: 0n }], [2, { hits: 5n, misses: 1n }]]);
   */
  updateBatch(entries: Iterable<readonly [KIn, VIn]>, options?: BatchWriteOptions): number {
    const list = [...checkIterable('entries', entries)];
    return this.#map.updateBatch(concat(list.map(([k]) => this.#key.encode(k))), concat(list.map(([, v]) => this.#value.encode(v))), options);
  }

  /** Deletes `keys` (hash maps; `BpfMap.deleteBatch`, Linux 5.6); returns how many were in the map. */
  deleteBatch(keys: Iterable<KIn>): number {
    return this.#map.deleteBatch(concat([...checkIterable('keys', keys)].map((k) => this.#key.encode(k))));
  }

  #decode(b: MapBatch): Array<[K, V]> {
    const out: Array<[K, V]> = new Array(b.count);
    for (let i = 0; i < b.count; i++) {
      out[i] = [this.#key.decode(b.keys, i * b.keySize), this.#value.decode(b.values, i * b.valueStride)];
    }
    return out;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/**
 * A per-CPU map (PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH) with codecs: a value is one
 * decoded value per possible CPU (index = CPU number).
 */
export class PerCpuTypedMap<K, V, KIn = K, VIn = V> {
  readonly #map: BpfMap;
  readonly #key: MapCodec<K, KIn>;
  readonly #value: MapCodec<V, VIn>;

  constructor(map: BpfMap, key: MapCodec<K, KIn>, value: MapCodec<V, VIn>) {
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (!map.perCpu) throw new BpfArgumentError('map', `'${map.name}' is not per-CPU: use TypedMap`);
    checkCodec(map, 'key', key as MapCodec<unknown, never>, map.keySize);
    checkCodec(map, 'value', value as MapCodec<unknown, never>, map.valueSize);
    this.#map = map;
    this.#key = key;
    this.#value = value;
  }

  /** The untyped map. */
  get map(): BpfMap { return this.#map; }

  /** One decoded value per possible CPU, or `undefined` when there is no such key. */
  lookup(key: KIn): V[] | undefined {
    return this.#map.lookupPerCpu(this.#key.encode(key))?.map((b) => this.#value.decode(b));
  }

  /** Sets `values[cpu]` for every possible CPU. */
  update(key: KIn, values: readonly VIn[], flags: number = UpdateFlags.ANY): void {
    if (!Array.isArray(values)) throw new BpfArgumentError('values', `expected one value per possible CPU (${numPossibleCpus()})`);
    this.#map.updatePerCpu(this.#key.encode(key), values.map((v) => this.#value.encode(v)), flags);
  }

  /** Deletes `key` (hash maps); false when there was no such key. */
  delete(key: KIn): boolean {
    return this.#map.delete(this.#key.encode(key));
  }

  /** The keys, decoded. */
  *keys(): IterableIterator<K> {
    for (const k of this.#map.keys()) yield this.#key.decode(k);
  }

  /** `[key, values per CPU]` pairs, decoded. */
  *entries(): IterableIterator<[K, V[]]> {
    for (const k of this.#map.keys()) {
      const v = this.#map.lookupPerCpu(k);
      if (v !== undefined) yield [this.#key.decode(k), v.map((b) => this.#value.decode(b))];
    }
  }

  /** `[key, values per CPU]` pairs, decoded, read in batches (`BpfMap.lookupBatch`, Linux 5.6). */
  lookupBatch(options?: BatchReadOptions): Array<[K, V[]]> {
    return this.#decode(this.#map.lookupBatch(options));
  }

  /** Like `lookupBatch`, and deletes what it read (per-CPU hash maps; Linux 5.6). */
  lookupAndDeleteBatch(options?: BatchReadOptions): Array<[K, V[]]> {
    return this.#decode(this.#map.lookupAndDeleteBatch(options));
  }

  /** Writes `[key, values per CPU]` pairs in one syscall (Linux 5.6); returns how many. */
  updateBatch(entries: Iterable<readonly [KIn, readonly VIn[]]>, options?: BatchWriteOptions): number {
    const list = [...checkIterable('entries', entries)];
    return this.#map.updateBatch(concat(list.map(([k]) => this.#key.encode(k))),
      list.map(([, vs], i) => {
        if (!Array.isArray(vs)) throw new BpfArgumentError(`entries[${i}]`, `expected one value per possible CPU (${numPossibleCpus()})`);
        return vs.map((v) => this.#value.encode(v));
      }), options);
  }

  /** Deletes `keys` (per-CPU hash maps; Linux 5.6); returns how many were in the map. */
  deleteBatch(keys: Iterable<KIn>): number {
    return this.#map.deleteBatch(concat([...checkIterable('keys', keys)].map((k) => this.#key.encode(k))));
  }

  #decode(b: MapBatch): Array<[K, V[]]> {
    const out: Array<[K, V[]]> = new Array(b.count);
    for (let i = 0; i < b.count; i++) out[i] = [this.#key.decode(b.keys, i * b.keySize), b.valuePerCpu(i).map((v) => this.#value.decode(v))];
    return out;
  }

  [Symbol.iterator](): IterableIterator<[K, V[]]> {
    return this.entries();
  }
}

function checkIterable<T>(what: string, v: Iterable<T>): Iterable<T> {
  if (v === null || typeof (v as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
    throw new BpfArgumentError(what, `expected an iterable, got ${v === null ? 'null' : typeof v}`);
  }
  return v;
}

function concat(parts: Buffer[]): Buffer {
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}
