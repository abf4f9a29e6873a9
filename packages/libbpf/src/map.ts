// Maps: pre-load setters (OpenMap) and element operations (BpfMap).
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { isPerCpuMapType, mapTypeName, UpdateFlags } from './constants';
import type { ObjectCore } from './core';
import { BpfArgumentError, BpfError } from './errors';
import { numPossibleCpus } from './cpu';
import type { NativeMapInfo } from './native';

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

/** A key or value: a Buffer of the exact size, or an integer for 4- and 8-byte keys/values. */
export type MapBytes = Buffer | number | bigint;

function checkU32(what: string, n: unknown): number {
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
  /** The map's fd, borrowed: valid while the object is open; dup it to keep it longer. */
  get fd(): number {
    return this.#h().mapFd(this.index);
  }

  /** The value of `key`, or `undefined` when there is none. Not for per-CPU maps (see `lookupPerCpu`). */
  lookup(key: MapBytes): Buffer | undefined {
    if (this.perCpu) throw new BpfArgumentError('map', `'${this.name}' is per-CPU: use lookupPerCpu(key)`);
    const k = toBytes('key', key, this.keySize);
    const out = Buffer.allocUnsafe(this.valueSize);
    return this.#h().mapLookupInto(this.index, k, out, 0) ? out : undefined;
  }

  /** One value per possible CPU (index = CPU number), or `undefined` when there is no such key. */
  lookupPerCpu(key: MapBytes): Buffer[] | undefined {
    if (!this.perCpu) throw new BpfArgumentError('map', `'${this.name}' is not per-CPU: use lookup(key)`);
    const k = toBytes('key', key, this.keySize);
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const n = numPossibleCpus();
    const all = this.#h().mapLookup(this.index, k, stride * n, 0);
    if (!all) return undefined;
    return Array.from({ length: n }, (_, cpu) => all.subarray(cpu * stride, cpu * stride + this.valueSize));
  }

  /** Creates or replaces the value of `key`; `flags`: `UpdateFlags.ANY` (default), `NOEXIST`, `EXIST`. */
  update(key: MapBytes, value: MapBytes, flags: number = UpdateFlags.ANY): void {
    if (this.perCpu) throw new BpfArgumentError('map', `'${this.name}' is per-CPU: use updatePerCpu(key, values)`);
    checkFlags(flags);
    this.#h().mapUpdate(this.index, toBytes('key', key, this.keySize), toBytes('value', value, this.valueSize), flags);
  }

  /** Sets a per-CPU value: `values[cpu]` for every possible CPU. */
  updatePerCpu(key: MapBytes, values: MapBytes[], flags: number = UpdateFlags.ANY): void {
    if (!this.perCpu) throw new BpfArgumentError('map', `'${this.name}' is not per-CPU: use update(key, value)`);
    checkFlags(flags);
    const n = numPossibleCpus();
    if (!Array.isArray(values) || values.length !== n) {
      throw new BpfArgumentError('values', `expected one value per possible CPU (${n})`);
    }
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const all = Buffer.alloc(stride * n);
    values.forEach((v, cpu) => toBytes(`values[${cpu}]`, v, this.valueSize).copy(all, cpu * stride));
    this.#h().mapUpdate(this.index, toBytes('key', key, this.keySize), all, flags);
  }

  /** Deletes `key`; returns false when there was no such key. */
  delete(key: MapBytes): boolean {
    return this.#h().mapDelete(this.index, toBytes('key', key, this.keySize));
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

  /** @internal registers something (a ring/perf buffer) to close with the map's object. */
  adopt(child: { close(): void }): () => void {
    this.#h();
    this.core.children.add(child);
    return () => this.core.children.delete(child);
  }

  #h() {
    return this.core.require('loaded', `map '${this.name}'`);
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

  [Symbol.iterator](): IterableIterator<[K, V[]]> {
    return this.entries();
  }
}
