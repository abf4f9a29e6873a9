// perf event buffers (BPF_MAP_TYPE_PERF_EVENT_ARRAY), one ring per CPU, with loss counts.
import { MapType } from './constants';
import { BpfArgumentError, BpfError } from './errors';
import { EventSource } from './event-source';
import { BpfMap } from './map';
import { native } from './native';
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
  /** Called with the number of samples the kernel dropped since the last call. */
  onLost?: (count: number) => void;
}

const PERF_BUFFER_OPTION_NAMES = optionNames<PerfBufferOptions>()('pagesPerCpu', 'onLost');

/**
 * Consumes a BPF_MAP_TYPE_PERF_EVENT_ARRAY map (kernel 4.4) on the Node event loop via
 * uv_poll. Samples the kernel had to drop are counted in `lost`.
 */
export class PerfBuffer extends EventSource<PerfRecord> {
  #lost = 0;

  constructor(map: BpfMap, callback?: (record: PerfRecord) => void, options: PerfBufferOptions = {}) {
    super(`perf buffer '${map?.name}'`, callback);
    if (!(map instanceof BpfMap)) throw new BpfArgumentError('map', 'expected a BpfMap of a loaded object');
    if (map.type !== MapType.PERF_EVENT_ARRAY) throw new BpfArgumentError('map', `'${map.name}' is ${map.typeName}, not BPF_MAP_TYPE_PERF_EVENT_ARRAY`);
    checkOptions('PerfBuffer', options, PERF_BUFFER_OPTION_NAMES);
    const pages = options.pagesPerCpu ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new BpfArgumentError('pagesPerCpu', `expected a power of two, got ${String(pages)}`);
    }
    const onLost = options.onLost;
    const handle = new (native().NativePerfBuffer)(map.fd, pages, (bytes, meta, lost, errno) => {
      for (let i = 0; i < meta.length; i += 3) this.emit({ cpu: meta[i + 2], data: bytes.subarray(meta[i], meta[i] + meta[i + 1]) });
      if (lost) {
        this.#lost += lost;
        onLost?.(lost);
      }
      if (errno) this.fail(new BpfError('perf_buffer__consume', errno));
    });
    this.attach(handle, map.adopt(this));
  }

  /** Samples dropped by the kernel because a CPU's buffer was full, since creation. */
  get lost(): number {
    return this.#lost;
  }
}
