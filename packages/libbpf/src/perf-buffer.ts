// perf event buffers (BPF_MAP_TYPE_PERF_EVENT_ARRAY), one ring per CPU, with loss counts.
import { MapType } from './constants';
import { BpfArgumentError, BpfError } from './errors';
import { EventSource, highWaterMarkOf } from './event-source';
import { BpfMap } from './map';
import { native, type NativePerfBufferHandle } from './native';
import { checkOptions, optionNames } from './options';

/** One perf buffer sample. */
export interface PerfRecord {
  /** The CPU whose buffer held it. */
  cpu: number;
  /** The sample (a view; valid for as long as you keep it). */
  data: Buffer;
}

/** Options of `PerfBuffer`; any other name is refused with a BpfArgumentError. */
export interface PerfBufferOptions {
  /** Pages per CPU ring, a power of two (default 64). */
  pagesPerCpu?: number;
  /** Called with the number of samples the kernel dropped since the last call. A throw goes to 'error'. */
  onLost?: (count: number) => void;
  /**
   * Iterator mode: the queue's bound, in records (default 4096). When it is full, reading
   * pauses; the kernel then drops what does not fit in its per-CPU rings and counts it
   * (`lost`, `onLost`). Reading resumes when the queue is half empty. The samples libbpf
   * had already read when the mark was reached wait beside the queue (one wake-up's worth).
   */
  highWaterMark?: number;
}

const PERF_BUFFER_OPTION_NAMES = optionNames<PerfBufferOptions>()('pagesPerCpu', 'onLost', 'highWaterMark');

/** Samples libbpf has read (one native drain) and we have not delivered yet. */
interface Batch {
  bytes: Buffer;
  /** (offset, length, cpu) per sample */
  meta: Uint32Array;
  next: number;
}

/**
 * Consumes a BPF_MAP_TYPE_PERF_EVENT_ARRAY map (kernel 4.4) on the Node event loop via
 * uv_poll. Samples the kernel had to drop are counted in `lost`. Errors and flow: see
 * {@link EventSource}.
 *
 * @example
 * using pb = new PerfBuffer(obj.map('perf_events'), (r) => console.log(r.cpu, r.data.length),
 *   { onLost: (n) => console.warn(`${n} samples lost`) });
 */
export class PerfBuffer extends EventSource<PerfRecord> {
  #lost = 0;
  readonly #onLost: ((count: number) => void) | undefined;
  readonly #batches: Batch[] = [];
  #failure: BpfError | undefined;

  constructor(map: BpfMap, callback?: (record: PerfRecord) => void, options: PerfBufferOptions = {}) {
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (map.type !== MapType.PERF_EVENT_ARRAY) throw new BpfArgumentError('map', `'${map.name}' is ${map.typeName}, not BPF_MAP_TYPE_PERF_EVENT_ARRAY`);
    if (callback !== undefined && typeof callback !== 'function') throw new BpfArgumentError('callback', 'expected a function');
    checkOptions('PerfBuffer', options, PERF_BUFFER_OPTION_NAMES);
    const pages = options.pagesPerCpu ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new BpfArgumentError('pagesPerCpu', `expected a power of two, got ${String(pages)}`);
    }
    if (options.onLost !== undefined && typeof options.onLost !== 'function') throw new BpfArgumentError('onLost', 'expected a function');
    super(`perf buffer '${map.name}'`, callback, highWaterMarkOf(options.highWaterMark));
    this.#onLost = options.onLost;
    const handle = new (native().NativePerfBuffer)(map.fd, pages, (bytes, meta, lost, errno) => this.#onBatch(bytes, meta, lost, errno));
    this.attach(handle, map.adopt(this));
  }

  /** Samples dropped by the kernel because a CPU's buffer was full, since creation. */
  get lost(): number {
    return this.#lost;
  }

  // From the poller (deliver now) or from the native consume() inside drain() (drain delivers).
  #onBatch(bytes: Buffer, meta: Uint32Array, lost: number, errno: number): void {
    if (meta.length) this.#batches.push({ bytes, meta, next: 0 });
    if (errno) this.#failure = new BpfError('perf_buffer__consume', errno);
    if (lost) {
      this.#lost += lost;
      if (this.#onLost) {
        try {
          this.#onLost(lost);
        } catch (err) {
          this.callbackFailed(err);
        }
      }
    }
    if (!this.delivering) this.pump();
  }

  /** @internal */
  protected drain(limit: number): number {
    let n = this.#deliverBatches(limit);
    if (n < limit && this.#batches.length === 0 && this.open) {
      (this.handle as NativePerfBufferHandle).consume();
      n += this.#deliverBatches(limit - n);
    }
    const failure = this.#failure;
    if (failure && this.open) {
      this.#failure = undefined;
      this.fail(failure);
    }
    return n;
  }

  #deliverBatches(limit: number): number {
    let n = 0;
    while (n < limit && this.#batches.length > 0 && this.open) {
      const b = this.#batches[0];
      const { bytes, meta } = b;
      const ab = bytes.buffer;
      while (b.next < meta.length && n < limit && this.open) {
        const i = b.next;
        b.next += 3; // before the callback: a throw must not deliver it again
        n++;
        const record = { cpu: meta[i + 2], data: Buffer.from(ab, bytes.byteOffset + meta[i], meta[i + 1]) };
        if (this.callback) this.callbackRecord(record);
        else this.enqueue(record);
      }
      if (b.next >= meta.length) this.#batches.shift();
    }
    if (!this.open) this.#batches.length = 0;
    return n;
  }
}
