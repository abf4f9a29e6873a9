// BPF ring buffers (BPF_MAP_TYPE_RINGBUF, kernel 5.8), read in JavaScript: the addon maps
// the ring's pages (native/ring_buffer.cc) and wakes us through uv_poll; the records are
// walked here, with no native call per record or per batch.
import { constants as osConstants } from 'node:os';
import { MapType } from './constants';
import { BpfArgumentError, BpfError } from './errors';
import { EventSource, highWaterMarkOf } from './event-source';
import { BpfMap } from './map';
import { native } from './native';
import { checkOptions, optionNames } from './options';

/** Options of `RingBuffer`; any other name is refused with a BpfArgumentError. */
export interface RingBufferOptions {
  /**
   * Iterator mode: the queue's bound, in records (default 4096). When it is full, reading
   * pauses and the records stay in the ring; once that is full, the BPF program's
   * `bpf_ringbuf_reserve` fails (the program counts its drops). Reading resumes when the
   * queue is half empty.
   */
  highWaterMark?: number;
  /**
   * `'records'` (default): the callback gets each record as a Buffer of its own, valid for
   * as long as you keep it. `'spans'`: the callback is a {@link RingSpanCallback}, called
   * with (bytes, offset, length) and no allocation per record, the fastest way to read;
   * `bytes` is valid only during the call (copy what you keep). `'batch'`: the callback
   * is a {@link RingBatchCallback}, called once per batch of records (up to
   * {@link RING_BATCH_MAX} at a time) with their offsets and lengths: no call per record at
   * all. Callback mode only.
   */
  delivery?: 'records' | 'spans' | 'batch';
}

/**
 * The callback of `delivery: 'spans'`: the record is `bytes[offset, offset + length)`.
 * `bytes` is reused for the next records: read it during the call, copy what you keep.
 * It is the same Buffer on every call (8-byte aligned records), so a typed array view
 * over it can be made once: `u32[offset >> 2]` is several times cheaper than
 * `bytes.readUInt32LE(offset)`.
 *
 * @example
 * new RingBuffer(map, (bytes, offset) => total += bytes.readUInt32LE(offset), { delivery: 'spans' });
 */
export type RingSpanCallback = (bytes: Buffer, offset: number, length: number) => void;

/**
 * The callback of `delivery: 'batch'`: `count` records, record `i` being
 * `bytes[offsets[i], offsets[i] + lengths[i])`. `bytes`, `offsets` and `lengths` are reused
 * for the next batch: read them during the call, copy what you keep. Offsets are 8-byte
 * aligned and `bytes` is the same Buffer on every call, so one typed array view over it
 * can be made once.
 *
 * @example
 * new RingBuffer(map, (bytes, offsets, lengths, count) => {
 *   for (let i = 0; i < count; i++) total += bytes.readUInt32LE(offsets[i]);
 * }, { delivery: 'batch' });
 */
export type RingBatchCallback = (bytes: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number) => void;

/** The most records one call of a {@link RingBatchCallback} gets. */
export const RING_BATCH_MAX = 16384;

const RING_BUFFER_OPTION_NAMES = optionNames<RingBufferOptions>()('highWaterMark', 'delivery');

// EventSource's mark of callback mode when the records go to a span callback instead.
const TO_SPANS = (): void => {
  throw new Error('unreachable: records of a span ring buffer go to its span callback');
};

// The record header (kernel/bpf/ringbuf.c): a u32 length whose top bits say the record is
// still being written (BUSY) or was discarded, and a u32 page offset we do not need.
// BUSY is the sign bit: an int32 header < 0.
const DISCARD = 0x40000000;
const LENGTH = 0x3fffffff;
const HEADER = 8;

/** Bytes a record takes in the ring: header and data, rounded up to 8. */
function span(header: number): number {
  return ((header & LENGTH) + HEADER + 7) & ~7;
}

/**
 * Consumes a BPF_MAP_TYPE_RINGBUF map (kernel 5.8) on the Node event loop: the ring's pages
 * are mapped into this process and its fd is watched with uv_poll, no timers and no
 * threads. Records arrive in order. With a callback, each record is a Buffer, valid for as
 * long as you keep it (the records of one wake-up are copied out of the ring together);
 * without one, iterate with `for await`. Errors: see {@link EventSource}.
 *
 * @example
 * const rb = new RingBuffer(obj.map('events'), (rec) => console.log(rec.readUInt32LE(0)));
 * rb.on('error', (err) => console.error('record handler failed:', err));
 * // ...
 * rb.close();
 *
 * @example
 * await using rb = new RingBuffer(obj.map('events'), undefined, { highWaterMark: 1024 });
 * for await (const rec of rb) handle(rec);
 */
export class RingBuffer extends EventSource<Buffer> {
  /** [0]: the consumer position, the one word we write. */
  readonly #consumerPos: BigUint64Array;
  /** [0]: the producer position. */
  readonly #producerPos: BigUint64Array;
  /** The data as 32-bit words (headers), mapped twice in a row. */
  readonly #words: Int32Array;
  /** The same data as bytes. */
  readonly #bytes: Buffer;
  readonly #spanCallback: RingSpanCallback | undefined;
  readonly #batchCallback: RingBatchCallback | undefined;
  /** `delivery: 'batch'`: offsets and lengths of the records of a call. */
  #offsets: Uint32Array | undefined;
  #lengths: Uint32Array | undefined;
  /** `delivery: 'spans'`: the Buffer each batch is copied into (the size of the ring). */
  #scratch: Buffer | undefined;
  #scratchWords: Int32Array | undefined;
  readonly #mask: bigint;
  /** Our consumer position: only we write it, so it needs no reading back. */
  #cons: bigint;
  /** Records copied out but not delivered, because a callback's error was thrown on. */
  #rest: { copy: Buffer; at: number } | undefined;

  constructor(map: BpfMap, callback?: (record: Buffer) => void, options?: RingBufferOptions & { delivery?: 'records' });
  constructor(map: BpfMap, callback: RingSpanCallback, options: RingBufferOptions & { delivery: 'spans' });
  constructor(map: BpfMap, callback: RingBatchCallback, options: RingBufferOptions & { delivery: 'batch' });
  constructor(map: BpfMap, callback?: ((record: Buffer) => void) | RingSpanCallback | RingBatchCallback, options: RingBufferOptions = {}) {
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (map.type !== MapType.RINGBUF) throw new BpfArgumentError('map', `'${map.name}' is ${map.typeName}, not BPF_MAP_TYPE_RINGBUF`);
    if (callback !== undefined && typeof callback !== 'function') throw new BpfArgumentError('callback', 'expected a function');
    checkOptions('RingBuffer', options, RING_BUFFER_OPTION_NAMES);
    const delivery = deliveryOf(options.delivery, callback);
    super(`ring buffer '${map.name}'`, delivery !== 'records' ? TO_SPANS : callback as ((record: Buffer) => void) | undefined,
      highWaterMarkOf(options.highWaterMark));
    this.#spanCallback = delivery === 'spans' ? callback as RingSpanCallback : undefined;
    this.#batchCallback = delivery === 'batch' ? callback as RingBatchCallback : undefined;
    const handle = new (native().NativeRingBuffer)(map.fd, () => void this.pump());
    let r;
    try {
      r = handle.regions();
    } catch (err) {
      handle.close();
      throw err;
    }
    this.#consumerPos = new BigUint64Array(r.consumer, 0, 1);
    this.#producerPos = new BigUint64Array(r.producer, 0, 1);
    this.#words = new Int32Array(r.producer, r.dataOffset, (2 * r.dataSize) / 4);
    this.#bytes = Buffer.from(r.producer, r.dataOffset, 2 * r.dataSize);
    this.#mask = BigInt(r.dataSize - 1);
    this.#cons = Atomics.load(this.#consumerPos, 0);
    this.attach(handle, map.adopt(this));
  }

  /** @internal */
  protected drain(limit: number): number {
    let delivered = 0;
    const rest = this.#rest;
    if (rest) {
      this.#rest = undefined;
      delivered += this.#toCallback(rest.copy, rest.at);
    }
    while (delivered < limit && this.open) {
      const n = this.#spanCallback || this.#batchCallback ? this.#spanBatch() : this.#batch(limit - delivered);
      if (n < 0) break;
      delivered += n;
    }
    return delivered;
  }

  // Ordering. The kernel advances the producer position when a program reserves a record
  // (the header then has BUSY set) and clears BUSY, or sets DISCARD, with a release store
  // once the record is written (bpf_ringbuf_commit). We read the producer position and
  // each header with Atomics.load, which is sequentially consistent, so at least acquire:
  // a record read after its header showed it committed is what the program wrote. We
  // publish the consumer position with Atomics.store (sequentially consistent, so at least
  // release) after our copy of the records: the kernel reuses their space only after we
  // are done reading it. Atomics also keep the JIT from caching or reordering these loads.
  // On x86-64 the loads are plain moves and the store an xchg, as libbpf's are.

  /**
   * Copies the committed records after our position (at most `limit` of them), gives the
   * ring their space back, and delivers them. Returns the record count, or -1 when no
   * record was ready (none, or the first one is still being written).
   */
  #batch(limit: number): number {
    const avail = Number(Atomics.load(this.#producerPos, 0) - this.#cons);
    if (avail === 0) return -1;
    const start = Number(this.#cons & this.#mask);
    const end = this.#committedEnd(start, start + avail, limit);
    if (end <= start) return -1;
    // One copy per batch, and Buffer views into it: records stay valid however long they
    // are kept, and the ring's space is free again before the callbacks run.
    const copy = Buffer.allocUnsafeSlow(end - start);
    copy.set(this.#bytes.subarray(start, end));
    this.#publish(end - start);
    return this.callback ? this.#toCallback(copy) : this.#toQueue(copy);
  }

  /**
   * `delivery: 'spans'`: copies the committed records after our position into one reused
   * Buffer, gives the ring their space back, and hands them to the span callback. The
   * ring's own pages are never handed out: they are read-only, and a write there would
   * kill the process. Returns the record count, or -1 when no record was ready.
   */
  #spanBatch(): number {
    const avail = Number(Atomics.load(this.#producerPos, 0) - this.#cons);
    if (avail === 0) return -1;
    const start = Number(this.#cons & this.#mask);
    const end = this.#committedEnd(start, start + avail, Infinity);
    if (end <= start) return -1;
    const length = end - start;
    const scratch = this.#scratch ??= Buffer.allocUnsafeSlow(this.#bytes.length >> 1);
    const words = this.#scratchWords ??= new Int32Array(scratch.buffer, 0, scratch.length >> 2);
    scratch.set(this.#bytes.subarray(start, end));
    this.#publish(length);
    if (this.#batchCallback) return this.#toBatchCallback(scratch, words, length);
    const cb = this.#spanCallback!;
    let n = 0;
    for (let p = 0; p < length;) {
      const header = words[p >> 2];
      const at = p + HEADER;
      p += span(header);
      if (header & DISCARD) continue;
      n++;
      try {
        cb(scratch, at, header & LENGTH);
      } catch (err) {
        // Thrown on when nobody listens: the rest of this batch is dropped (the scratch
        // Buffer is reused), which the error's uncaught report makes visible.
        this.callbackFailed(err);
      }
      if (!this.open) break; // closed by the callback: the rest is not delivered
    }
    return n;
  }

  /** `delivery: 'batch'`: the records in `scratch[0, length)` in calls of up to RING_BATCH_MAX. */
  #toBatchCallback(scratch: Buffer, words: Int32Array, length: number): number {
    const offsets = this.#offsets ??= new Uint32Array(RING_BATCH_MAX);
    const lengths = this.#lengths ??= new Uint32Array(RING_BATCH_MAX);
    const cb = this.#batchCallback!;
    let total = 0;
    for (let p = 0; p < length && this.open;) {
      let n = 0;
      for (; p < length && n < RING_BATCH_MAX;) {
        const header = words[p >> 2];
        const at = p + HEADER;
        p += span(header);
        if (header & DISCARD) continue;
        offsets[n] = at;
        lengths[n++] = header & LENGTH;
      }
      if (n === 0) break;
      total += n;
      try {
        cb(scratch, offsets, lengths, n);
      } catch (err) {
        // Thrown on when nobody listens: the rest of this batch is dropped (the scratch
        // Buffer is reused), which the error's uncaught report makes visible.
        this.callbackFailed(err);
      }
    }
    return total;
  }

  /** Gives `bytes` after our position back to the kernel (the release store, see above). */
  #publish(bytes: number): void {
    this.#cons += BigInt(bytes);
    Atomics.store(this.#consumerPos, 0, this.#cons);
  }

  /**
   * Where the committed records from `start` end: at `end`, a busy header, or after `limit`
   * records; -1 (and the buffer fails) when a header is past the producer position.
   */
  #committedEnd(start: number, end: number, limit: number): number {
    const words = this.#words;
    let p = start;
    for (let count = 0; p < end && count < limit;) {
      const header = Atomics.load(words, p >> 2);
      if (header < 0) break; // BUSY: not written yet; records after it wait too (order)
      if ((header & DISCARD) === 0) count++;
      p += span(header);
    }
    if (p <= end) return p;
    this.fail(new BpfError('ring buffer read', osConstants.errno.EBADMSG,
      `${this.describe()}: a record runs past the producer position`, { hint: null }));
    return -1;
  }

  #toCallback(copy: Buffer, from = 0): number {
    const ab = copy.buffer;
    const words = new Int32Array(ab, 0, copy.length >> 2);
    const cb = this.callback!;
    let n = 0;
    for (let p = from; p < copy.length;) {
      const header = words[p >> 2];
      const at = p + HEADER;
      p += span(header);
      if (header & DISCARD) continue;
      n++;
      try {
        cb(Buffer.from(ab, at, header & LENGTH));
      } catch (err) {
        // Thrown on when nobody listens: the rest of the batch then waits for the next drain.
        this.#rest = { copy, at: p };
        this.callbackFailed(err);
        this.#rest = undefined;
      }
      if (!this.open) break; // closed by the callback: the rest of the batch is dropped
    }
    return n;
  }

  #toQueue(copy: Buffer): number {
    const ab = copy.buffer;
    const words = new Int32Array(ab, 0, copy.length >> 2);
    let n = 0;
    for (let p = 0; p < copy.length;) {
      const header = words[p >> 2];
      const at = p + HEADER;
      p += span(header);
      if (header & DISCARD) continue;
      n++;
      this.enqueue(Buffer.from(ab, at, header & LENGTH));
    }
    return n;
  }
}

/** How records are delivered (checked: spans and batches need a callback). */
function deliveryOf(delivery: unknown, callback: unknown): 'records' | 'spans' | 'batch' {
  if (delivery === undefined || delivery === 'records') return 'records';
  if (delivery !== 'spans' && delivery !== 'batch') {
    throw new BpfArgumentError('delivery', `expected 'records', 'spans' or 'batch', got ${String(delivery)}`);
  }
  if (callback === undefined) throw new BpfArgumentError('delivery', `'${delivery}' delivers to a callback: give one, or iterate with 'records'`);
  return delivery;
}
