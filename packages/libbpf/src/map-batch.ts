// Batch element operations (BPF_MAP_*_BATCH, Linux 5.6): many entries per syscall, keys and
// values contiguous. The native call only reports [errno, count]; what ENOENT (the end),
// ENOSPC (a hash bucket larger than the room left) and partial counts mean is decided here.
import { constants as osConstants, release as osRelease } from 'node:os';
import { isPerCpuMapType, MapType, mapTypeName, UpdateFlags } from './constants';
import { numPossibleCpus } from './cpu';
import { BatchError, BpfArgumentError, BpfError, UnsupportedFeatureError } from './errors';
import { checkU32, toBytes, type MapBytes } from './map-bytes';
import type { NativeMapInfo, NativeObjectHandle } from './native';
import { checkOptions, optionNames } from './options';

const { ENOENT, ENOSPC, EINVAL } = osConstants.errno;
const ENOTSUPP = 524; // kernel-internal, returned for a map type without the batch op

/**
 * First kernel with BPF_MAP_{LOOKUP,LOOKUP_AND_DELETE,UPDATE,DELETE}_BATCH (`5.6`): older
 * kernels refuse the batch calls with an UnsupportedFeatureError naming it.
 *
 * @example
 * if (e instanceof UnsupportedFeatureError && e.minKernel === BATCH_MIN_KERNEL) useKeysAndLookups();
 */
export const BATCH_MIN_KERNEL = '5.6';

/** @internal the batch methods of BpfMap. */
export type BatchOp = 'lookupBatch' | 'lookupAndDeleteBatch' | 'updateBatch' | 'deleteBatch';

const CMD = { lookupBatch: 0, lookupAndDeleteBatch: 1, updateBatch: 2, deleteBatch: 3 } as const satisfies Record<BatchOp, number>;
const SYSCALL: Record<BatchOp, string> = {
  lookupBatch: 'bpf_map_lookup_batch', lookupAndDeleteBatch: 'bpf_map_lookup_and_delete_batch',
  updateBatch: 'bpf_map_update_batch', deleteBatch: 'bpf_map_delete_batch',
};

const HASHES: readonly number[] = [MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH];
const ARRAYS: readonly number[] = [MapType.ARRAY, MapType.PERCPU_ARRAY];

/** @internal what a batch call works on: one per map of an object (its handles share it), its native function made at first use. */
export class BatchTarget {
  readonly info: NativeMapInfo;
  readonly #handle: NativeObjectHandle;
  readonly #index: number;
  #bound: BoundBatch | undefined;

  constructor(handle: NativeObjectHandle, index: number, info: NativeMapInfo) {
    this.#handle = handle;
    this.#index = index;
    this.info = info;
  }

  /** The native function, made once the arguments of the first call were checked. */
  get bound(): BoundBatch {
    return (this.#bound ??= bindBatch(this.#handle, this.#index, this.info));
  }
}

// The native batch function (native/map_batch.cc), bound to the map's fd and to a state
// Buffer: [u32 entries processed][u32 unused][in token][out token].
interface BoundBatch {
  /** One batch syscall: `cmd | FROM_TOKEN? | elemFlags << 8`; undefined (done) or the errno. */
  call(word: number, keys: Buffer, values: Buffer | null, count: number): number | undefined;
  /** How many entries the last call processed. */
  processed: Uint32Array;
  /** Where the next read starts (with FROM_TOKEN), and where the kernel leaves the cursor. */
  inToken: Buffer;
  outToken: Buffer;
}
const FROM_TOKEN = 16;
const TOKENS_AT = 8;

function bindBatch(h: NativeObjectHandle, index: number, info: NativeMapInfo): BoundBatch {
  const tokenSize = Math.max(info.keySize, 4);
  const state = Buffer.from(new ArrayBuffer(TOKENS_AT + 2 * tokenSize));
  return {
    call: h.mapBatchOp(index, state),
    processed: new Uint32Array(state.buffer, 0, 1),
    inToken: state.subarray(TOKENS_AT, TOKENS_AT + tokenSize),
    outToken: state.subarray(TOKENS_AT + tokenSize),
  };
}

/** @internal the kernel has each batch op for these map types only; arrays cannot delete. */
export function checkBatchSupport(op: BatchOp, name: string, type: number): void {
  if (HASHES.includes(type)) return;
  const deletes = op === 'lookupAndDeleteBatch' || op === 'deleteBatch';
  if (ARRAYS.includes(type) && !deletes) return;
  if (ARRAYS.includes(type)) {
    throw new BpfArgumentError('map', `'${name}' is a ${mapTypeName(type)}, whose entries cannot be deleted, so it has no ${op}: ` +
      `use lookupBatch${op === 'deleteBatch' ? '' : ', then updateBatch to reset the values'}`);
  }
  throw new BpfArgumentError('map', `'${name}' is a ${mapTypeName(type)}, which has no batch operations ` +
    '(the kernel has them for HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, and lookupBatch/updateBatch for ARRAY, PERCPU_ARRAY): ' +
    'use keys() with lookup()');
}

/** @internal bytes of one value in the element and batch syscalls (per-CPU: one 8-byte aligned slot per possible CPU). */
export function valueBytes(info: NativeMapInfo): number {
  return isPerCpuMapType(info.type) ? perCpuStride(info.valueSize) * numPossibleCpus() : info.valueSize;
}

function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** @internal one value per possible CPU, as views of `all` from `offset`. */
export function splitPerCpu(all: Buffer, offset: number, valueSize: number): Buffer[] {
  const stride = perCpuStride(valueSize);
  return Array.from({ length: numPossibleCpus() }, (_, cpu) => all.subarray(offset + cpu * stride, offset + cpu * stride + valueSize));
}

/** @internal writes `values[cpu]` for every possible CPU into `all` at `offset`. */
export function packPerCpu(all: Buffer, offset: number, values: unknown, valueSize: number, what: string): void {
  const n = numPossibleCpus();
  if (!Array.isArray(values) || values.length !== n) {
    throw new BpfArgumentError(what, `expected one value per possible CPU (${n})`);
  }
  const stride = perCpuStride(valueSize);
  values.forEach((v: MapBytes, cpu) => toBytes(`${what}[${cpu}]`, v, valueSize).copy(all, offset + cpu * stride));
}

/**
 * Where a batch read stands in a map: pass the same cursor to successive `lookupBatch` or
 * `lookupAndDeleteBatch` calls to read a map in parts. Linux 5.6.
 *
 * @example
 * const cursor = new BatchCursor();
 * while (!cursor.done) for (const [k, v] of map.lookupBatch({ cursor, maxCount: 128 })) use(k, v);
 */
export class BatchCursor {
  /** @internal the kernel's opaque position (a key or a bucket); null: the map's start. */
  token: Buffer | null = null;
  /** True once a read reached the end of the map. */
  done = false;

  /** Back to the map's start. */
  reset(): void {
    this.token = null;
    this.done = false;
  }
}

/**
 * Options of `BpfMap.lookupBatch` and `lookupAndDeleteBatch` (Linux 5.6); unknown names are
 * refused.
 *
 * @example
 * const keys = Buffer.alloc(256 * map.keySize), values = Buffer.alloc(256 * map.valueSize);
 * const b = map.lookupBatch({ cursor, maxCount: 256, keys, values }); // no allocation
 */
export interface BatchReadOptions {
  /** At most this many entries (default: the map's max_entries, i.e. all of them). */
  maxCount?: number;
  /** Continue where this cursor stands, and move it on (default: a whole read from the start). */
  cursor?: BatchCursor;
  /** `UpdateFlags.F_LOCK` to copy values holding a `bpf_spin_lock` under the lock (default 0). */
  elemFlags?: number;
  /**
   * Read the keys into this Buffer (at least `maxCount` keys long) instead of a new one: reused
   * across calls, a batch read allocates nothing. The batch's `keys` is then a view of it.
   */
  keys?: Buffer;
  /** Read the values into this Buffer (at least `maxCount` values long), as `keys`. */
  values?: Buffer;
}
const READ_OPTIONS = optionNames<BatchReadOptions>()('maxCount', 'cursor', 'elemFlags', 'keys', 'values');

/**
 * Options of `BpfMap.updateBatch` (Linux 5.6); unknown names are refused.
 *
 * @example
 * map.updateBatch(keys, values, { flags: UpdateFlags.F_LOCK });
 */
export interface BatchWriteOptions {
  /**
   * `UpdateFlags.ANY` (default) or `F_LOCK` (values holding a `bpf_spin_lock`). The kernel's
   * batch update has no NOEXIST/EXIST: use `update` per key for those.
   */
  flags?: number;
}
const WRITE_OPTIONS = optionNames<BatchWriteOptions>()('flags');

/**
 * Entries read by one `lookupBatch` or `lookupAndDeleteBatch` (Linux 5.6): `count` keys back to back in
 * `keys`, their values back to back in `values` (`valueStride` bytes each; per-CPU maps: one
 * 8-byte aligned slot per possible CPU). Iterating gives `[key, value]` views (per-CPU maps:
 * `[key, values per CPU]`), as `BpfMap.entries()` does.
 *
 * @example
 * const b = map.lookupBatch();
 * for (let i = 0; i < b.count; i++) total += b.value(i).readBigUInt64LE(0);
 */
export class MapBatch implements Iterable<[Buffer, Buffer | Buffer[]]> {
  // Declared, not defined as class fields: a field would first hold undefined, and the engine
  // would then keep `count` as any value, checked on each read in a loop such as
  // `for (let i = 0; i < b.count; i++)`; assigned first in the constructor it stays a small integer.
  /** Number of entries. */
  declare readonly count: number;
  /** The keys, `keySize` bytes each. */
  declare readonly keys: Buffer;
  /** The values, `valueStride` bytes each. */
  declare readonly values: Buffer;
  /** Bytes of one key. */
  declare readonly keySize: number;
  /** Bytes of one value (per CPU, for per-CPU maps). */
  declare readonly valueSize: number;
  /** Bytes between two values in `values`. */
  declare readonly valueStride: number;
  /** True for per-CPU maps. */
  declare readonly perCpu: boolean;

  /** @internal */
  constructor(info: NativeMapInfo, count: number, keys: Buffer, values: Buffer) {
    this.count = count;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.valueStride = valueBytes(info);
    this.perCpu = isPerCpuMapType(info.type);
    // The Buffers themselves when the entries fill them (a whole-map read into Buffers of
    // maxEntries), else views of the part read.
    this.keys = keys.length === count * this.keySize ? keys : keys.subarray(0, count * this.keySize);
    this.values = values.length === count * this.valueStride ? values : values.subarray(0, count * this.valueStride);
  }

  /** Key `i` (a view into `keys`). */
  key(i: number): Buffer {
    this.#check(i);
    return this.keys.subarray(i * this.keySize, (i + 1) * this.keySize);
  }

  /** Value `i` (a view into `values`; per-CPU maps: all CPUs' slots, see `valuePerCpu`). */
  value(i: number): Buffer {
    this.#check(i);
    return this.values.subarray(i * this.valueStride, (i + 1) * this.valueStride);
  }

  /** Value `i` of a per-CPU map: one view per possible CPU (index = CPU number). */
  valuePerCpu(i: number): Buffer[] {
    this.#check(i);
    if (!this.perCpu) throw new BpfArgumentError('i', 'not a per-CPU map: use value(i)');
    return splitPerCpu(this.values, i * this.valueStride, this.valueSize);
  }

  *[Symbol.iterator](): IterableIterator<[Buffer, Buffer | Buffer[]]> {
    for (let i = 0; i < this.count; i++) yield [this.key(i), this.perCpu ? this.valuePerCpu(i) : this.value(i)];
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new BpfArgumentError('i', `expected an entry index in 0..${this.count - 1}, got ${String(i)}`);
    }
  }
}

/** @internal lookupBatch and lookupAndDeleteBatch. */
export function readBatch(t: BatchTarget, op: BatchOp, options?: BatchReadOptions): MapBatch {
  checkOptions(op, options, READ_OPTIONS);
  const maxCount = options?.maxCount ?? t.info.maxEntries;
  checkU32('maxCount', maxCount);
  if (maxCount === 0) throw new BpfArgumentError('maxCount', 'must be at least 1');
  const cursor = options?.cursor;
  if (cursor !== undefined && !(cursor instanceof BatchCursor)) throw new BpfArgumentError('cursor', 'expected a BatchCursor');
  const elemFlags = checkElemFlags(options?.elemFlags ?? 0, [0, UpdateFlags.F_LOCK], 'elemFlags');
  const { keySize } = t.info;
  const stride = valueBytes(t.info);
  if (cursor?.done) return new MapBatch(t.info, 0, Buffer.alloc(0), Buffer.alloc(0));

  const keys = outBuffer('keys', options?.keys, maxCount, keySize);
  const values = outBuffer('values', options?.values, maxCount, stride);
  const b = t.bound;
  let word = CMD[op] | (elemFlags << 8);
  const from = cursor?.token;
  if (from) {
    if (!Buffer.isBuffer(from) || from.length < b.inToken.length) throw new BpfArgumentError('cursor', `this cursor does not stand in '${t.info.name}'`);
    from.copy(b.inToken, 0, 0, b.inToken.length);
    word |= FROM_TOKEN;
  }
  let got = 0;
  let done = false;
  while (got < maxCount) {
    const e = got === 0
      ? b.call(word, keys, values, maxCount)
      : b.call(word, keys.subarray(got * keySize), values.subarray(got * stride), maxCount - got);
    const n = b.processed[0];
    got += n;
    if (e === ENOENT) {
      done = true;
      break;
    }
    // The next hash bucket does not fit in the room left: stop here, the cursor stays before it.
    if (e === ENOSPC && got > 0) break;
    if (e === ENOSPC) {
      throw new BatchError(SYSCALL[op], e, 0, `one hash bucket of '${t.info.name}' holds more entries than maxCount (${maxCount})`,
        'raise maxCount (hash maps return whole buckets; the map\'s max_entries always fits)');
    }
    if (e !== undefined) throw batchFailure(t, op, e, got);
    b.outToken.copy(b.inToken);
    word |= FROM_TOKEN;
    if (n === 0) break; // no progress and no end: do not spin
  }
  if (cursor) {
    cursor.token = done || !(word & FROM_TOKEN) ? null : Buffer.from(b.inToken);
    cursor.done = done;
  }
  return new MapBatch(t.info, got, keys, values);
}

/** @internal updateBatch. */
export function writeBatch(t: BatchTarget, keysIn: Buffer | readonly MapBytes[],
  valuesIn: Buffer | readonly (MapBytes | readonly MapBytes[])[], options?: BatchWriteOptions): number {
  checkOptions('updateBatch', options, WRITE_OPTIONS);
  const flags = options?.flags ?? UpdateFlags.ANY;
  if (flags === UpdateFlags.NOEXIST || flags === UpdateFlags.EXIST) {
    throw new BpfArgumentError('flags', 'NOEXIST and EXIST are not batch flags (the kernel takes only ANY and F_LOCK there): use update(key, value, flags) per key');
  }
  checkElemFlags(flags, [UpdateFlags.ANY, UpdateFlags.F_LOCK], 'flags');
  const keys = packKeys(keysIn, t.info.keySize);
  const count = keys.length / t.info.keySize;
  const values = packValues(valuesIn, t.info, count);
  if (count === 0) return 0;
  const b = t.bound;
  const e = b.call(CMD.updateBatch | (flags << 8), keys, values, count);
  const n = b.processed[0];
  if (e !== undefined) throw batchFailure(t, 'updateBatch', e, n);
  return n;
}

/** @internal deleteBatch: keys not in the map are skipped, the way `delete` returns false. */
export function deleteBatch(t: BatchTarget, keysIn: Buffer | readonly MapBytes[]): number {
  const { keySize } = t.info;
  const keys = packKeys(keysIn, keySize);
  const count = keys.length / keySize;
  let deleted = 0;
  for (let at = 0; at < count;) {
    const b = t.bound;
    const e = b.call(CMD.deleteBatch, at === 0 ? keys : keys.subarray(at * keySize), null, count - at);
    const n = b.processed[0];
    deleted += n;
    if (e === ENOENT) {
      at += n + 1;
      continue;
    }
    if (e !== undefined) throw batchFailure(t, 'deleteBatch', e, deleted);
    at += n;
  }
  return deleted;
}

// Own ArrayBuffers, not slices of Node's pool: offset 0, so typed arrays can view the values.
function outBuffer(what: string, given: Buffer | undefined, count: number, size: number): Buffer {
  if (given === undefined) return Buffer.allocUnsafeSlow(count * size);
  if (!Buffer.isBuffer(given) || given.length < count * size) {
    throw new BpfArgumentError(what, `expected a Buffer of at least ${count} x ${size} bytes (maxCount entries), got ${Buffer.isBuffer(given) ? `${given.length} bytes` : typeof given}`);
  }
  return given;
}

function packKeys(keys: Buffer | readonly MapBytes[], keySize: number): Buffer {
  if (Buffer.isBuffer(keys)) {
    if (keys.length % keySize !== 0) throw new BpfArgumentError('keys', `expected a whole number of ${keySize}-byte keys, got ${keys.length} bytes`);
    return keys;
  }
  if (!Array.isArray(keys)) throw new BpfArgumentError('keys', 'expected a Buffer of keys back to back, or an array of keys');
  const out = Buffer.allocUnsafe(keys.length * keySize);
  keys.forEach((k: MapBytes, i) => toBytes(`keys[${i}]`, k, keySize).copy(out, i * keySize));
  return out;
}

function packValues(values: Buffer | readonly (MapBytes | readonly MapBytes[])[], info: NativeMapInfo, count: number): Buffer {
  const stride = valueBytes(info);
  if (Buffer.isBuffer(values)) {
    if (values.length !== count * stride) {
      throw new BpfArgumentError('values', `expected ${count} values of ${stride} bytes back to back (${count * stride} bytes), got ${values.length}`);
    }
    return values;
  }
  if (!Array.isArray(values) || values.length !== count) {
    throw new BpfArgumentError('values', `expected one value per key (${count}), got ${Array.isArray(values) ? values.length : typeof values}`);
  }
  const out = Buffer.alloc(count * stride);
  const perCpu = isPerCpuMapType(info.type);
  values.forEach((v, i) => {
    if (perCpu) packPerCpu(out, i * stride, v, info.valueSize, `values[${i}]`);
    else toBytes(`values[${i}]`, v as MapBytes, info.valueSize).copy(out, i * stride);
  });
  return out;
}

function checkElemFlags(flags: number, allowed: readonly number[], what: string): number {
  if (!allowed.includes(flags)) {
    throw new BpfArgumentError(what, `expected one of ${allowed.join(', ')} (UpdateFlags, F_LOCK = ${UpdateFlags.F_LOCK}), got ${String(flags)}`);
  }
  return flags;
}

function batchFailure(t: BatchTarget, op: BatchOp, errno: number, processed: number): BpfError {
  if ((errno === EINVAL || errno === ENOTSUPP) && kernelBelow(BATCH_MIN_KERNEL)) {
    return new UnsupportedFeatureError(`batch map operations (${op})`, BATCH_MIN_KERNEL);
  }
  return new BatchError(SYSCALL[op], errno, processed, `${op} on '${t.info.name}' failed after ${processed} entries`);
}

/** @internal whether the running kernel is older than `version` (major.minor). */
export function kernelBelow(version: string, release: string = osRelease()): boolean {
  const [a, b] = release.split(/[.-]/).map(Number);
  const [x, y] = version.split('.').map(Number);
  return a < x || (a === x && b < y);
}
