// BPF ring buffers (BPF_MAP_TYPE_RINGBUF, kernel 5.8), read in JavaScript: the addon maps
// the ring's pages (native/ring_buffer.cc) and wakes us through uv_poll; the records are
// walked here, with no native call per record or per batch.
import { constants as osConstants } from 'node:os';
import { MapType } from './constants';
import { BpfArgumentError, BpfError } from './errors';
import { EventSource, highWaterMarkOf } from './event-source';
import { BpfMap } from './map';
import { native, type NativeRingBufferHandle } from './native';
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

// Spans and batches are walked, copied and delivered a chunk at a time, so that a chunk is
// still in the CPU's cache when it is copied and read (see #spanBatch).
const RING_CHUNK = 128 * 1024;

// Whether plain loads of the headers are acquire loads in hardware (see "Ordering" below).
const PLAIN_LOADS = process.arch === 'x64';

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
  /** The native ring (also `handle` while open). */
  readonly #native: NativeRingBufferHandle;
  /** `delivery: 'spans'` and `'batch'`: offsets and lengths of the records of a chunk. */
  #offsets: Uint32Array | undefined;
  #lengths: Uint32Array | undefined;
  /** `delivery: 'spans'` and `'batch'`: the Buffer each chunk is copied into (the size of the ring). */
  #scratch: Buffer | undefined;
  /** walkChunk's results: [end, records]. */
  readonly #walk = new Uint32Array(2);
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
    this.#native = handle;
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

  /**
   * @internal Reads until the ring is empty, or at a record still being written, or at
   * `limit`. Wake-ups are edge-triggered (native/event_poller.h): the kernel signals a
   * commit only at the position we published, so every pass re-reads after publishing,
   * and a drain that a throw ends early asks for another pass (the iterator's `limit`
   * pauses the poller instead, and resuming drains).
   */
  protected drain(limit: number): number {
    let delivered = 0;
    let done = false;
    try {
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
      done = true;
    } finally {
      if (!done && this.open) this.#native.again();
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
  //
  // Spans and batches (#spanBatch) read the headers with plain loads on x86-64 instead
  // (PLAIN_LOADS): there every load has acquire order in hardware (loads are not
  // reordered with older loads), the JIT keeps typed array loads in program order on its
  // effect chain and does not move them across the copy (a call), and each drain reads
  // afresh. Atomics.load is a call in V8's optimized code, and a call per header keeps
  // the CPU from reading ahead: plain loads walk a run of records several times faster.
  // Elsewhere (arm64, ppc64: loads may pass loads) the walk stays on Atomics.load.

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
   * `delivery: 'spans'` and `'batch'`: walks the committed records after our position in
   * chunks of at most RING_CHUNK bytes (and RING_BATCH_MAX records), noting each record's
   * offset and length as it goes; copies the chunk into one reused Buffer, gives the ring
   * its space back, and hands the chunk to the callback. A chunk stays in the CPU's cache
   * from the walk through the copy to the callback's reads: walking the whole ring first
   * and copying it after read every byte from memory twice. The ring's own pages are never
   * handed out: they are read-only, and a write there would kill the process. Returns the
   * record count, or -1 when no record was ready.
   */
  #spanBatch(): number {
    const avail = Number(Atomics.load(this.#producerPos, 0) - this.#cons);
    if (avail === 0) return -1;
    const scratch = this.#scratch ??= Buffer.allocUnsafeSlow(this.#bytes.length >> 1);
    const offsets = this.#offsets ??= new Uint32Array(RING_BATCH_MAX);
    const lengths = this.#lengths ??= new Uint32Array(RING_BATCH_MAX);
    const first = Number(this.#cons & this.#mask);
    const stop = first + avail;
    const walk = this.#walk;
    let start = first;
    let total = 0;
    let ready = true;
    while (ready && start < stop && this.open) {
      ready = walkChunk(this.#words, start, Math.min(stop, start + RING_CHUNK), offsets, lengths, walk);
      const end = walk[0];
      const n = walk[1];
      if (end > stop) {
        this.fail(new BpfError('ring buffer read', osConstants.errno.EBADMSG,
          `${this.describe()}: a record runs past the producer position`, { hint: null }));
        break;
      }
      if (end === start) break;
      this.#bytes.copy(scratch, 0, start, end);
      this.#publish(end - start);
      start = end;
      if (n > 0) total += this.#deliverChunk(scratch, offsets, lengths, n);
    }
    if (start === first) return -1;
    return total;
  }

  /**
   * One chunk to the span or batch callback; a throw goes to 'error' (see EventSource).
   * Returns the records delivered: all of them, unless a span callback closed the buffer.
   */
  #deliverChunk(scratch: Buffer, offsets: Uint32Array, lengths: Uint32Array, n: number): number {
    const batch = this.#batchCallback;
    if (batch) {
      try {
        batch(scratch, offsets, lengths, n);
      } catch (err) {
        // Thrown on when nobody listens: the rest of this chunk is dropped (the scratch
        // Buffer is reused), which the error's uncaught report makes visible.
        this.callbackFailed(err);
      }
      return n;
    }
    const cb = this.#spanCallback!;
    for (let i = 0; i < n;) {
      try {
        cb(scratch, offsets[i], lengths[i]);
      } catch (err) {
        // As above: thrown on when nobody listens, and the rest of this chunk is dropped.
        this.callbackFailed(err);
      }
      i++;
      if (!this.open) return i; // closed by the callback: the rest is not delivered
    }
    return n;
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

/**
 * Walks the committed records in `words` from byte `start` until `chunkEnd` (the first
 * record counts even when it is longer: it is never split), a busy header, or
 * RING_BATCH_MAX records, noting each kept record's offset (from `start`, past its header)
 * and length. Puts where the walk ended and the record count into `out`; returns false
 * when it stopped at a busy header (a record still being written: those after it wait).
 *
 * `prev` is the last committed header and `step` its span: while headers repeat (records
 * of one size, the usual case), the next position does not wait for the header just read,
 * so the CPU reads ahead instead of paying one header's latency at a time. A separate
 * function, called once per chunk, so that V8 optimizes it early and whole.
 */
function walkChunk(words: Int32Array, start: number, chunkEnd: number, offsets: Uint32Array, lengths: Uint32Array,
  out: Uint32Array): boolean {
  // In 32-bit words: records are 8-byte aligned, and V8 keeps small integers unboxed.
  // Positions stay below 2^32 (twice the largest ring): >>> and the Uint32Array `out`
  // keep them unsigned.
  let w = start >>> 2;
  const end = chunkEnd >>> 2;
  const base = w - HEADER / 4; // offsets are from `start`, past the header
  const max = offsets.length; // RING_BATCH_MAX (a local: the export is a property load)
  let n = 0;
  let prev = 0;
  let step = HEADER / 4; // span(0) in words: a zero-length record, a header that can occur
  let ready = true;
  while (w < end && n < max) {
    const header = PLAIN_LOADS ? words[w] : Atomics.load(words, w);
    if (header !== prev) {
      if (header < 0) { // BUSY
        ready = false;
        break;
      }
      if (header & DISCARD) {
        w += span(header) >> 2;
        continue;
      }
      prev = header;
      step = span(header) >> 2;
    }
    offsets[n] = (w - base) << 2;
    lengths[n++] = prev;
    w += step;
  }
  out[0] = w * 4;
  out[1] = n;
  return ready;
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
