// The timer's in-kernel lateness histogram (bpf/sync_timer_lateness.h), read per CPU.
import { btfCodec, type BpfMap, type Codec } from '@bpf-sync-timer/libbpf';

/**
 * log2 of the first bucket's upper bound in ns (SYNC_TIMER_LATENESS_MIN_LOG2 of
 * bpf/sync_timer_lateness.h, a macro, so not in the BTF; the bucket count is read from it).
 */
const MIN_LOG2 = 10n;

/** One CPU's lateness histogram: how late its ticks fired against their grid points. */
export interface CpuLatenessHistogram {
  cpu: number;
  /**
   * Upper bounds (ns, inclusive) of the buckets but the last, ascending: 2^10 ns (1.024 µs)
   * up to 2^32 ns (4.3 s), doubling. `counts` has one entry more, for the ticks later than that.
   */
  boundsNs: readonly bigint[];
  /** Ticks per bucket (not cumulative), `boundsNs.length + 1` of them. */
  counts: bigint[];
  /** Ticks counted: the sum of `counts`. */
  count: bigint;
  /** Their lateness added up, in ns. */
  sumNs: bigint;
}

interface RawLateness {
  buckets: bigint[];
  sum_ns: bigint;
}

/** Decodes `struct sync_timer_lateness` with the layout in `objectPath`'s BTF. */
export function latenessDecoder(objectPath: string): (cpu: number, value: Buffer | undefined) => CpuLatenessHistogram {
  const codec = btfCodec(objectPath, 'struct sync_timer_lateness') as Codec<RawLateness>;
  const empty = codec.decode(Buffer.alloc(codec.size));
  const bounds = latenessBoundsNs(empty.buckets.length);
  return (cpu, value) => {
    const raw = value ? codec.decode(value) : empty;
    const counts = [...raw.buckets];
    return { cpu, boundsNs: bounds, counts, count: counts.reduce((a, b) => a + b, 0n), sumNs: raw.sum_ns };
  };
}

/** The finite upper bounds of `buckets` power-of-two buckets, from 2^MIN_LOG2 ns. */
export function latenessBoundsNs(buckets: number): readonly bigint[] {
  return Object.freeze(Array.from({ length: Math.max(0, buckets - 1) }, (_, i) => 1n << (MIN_LOG2 + BigInt(i))));
}

/** Reads the histograms of `cpus` from the per-CPU `sync_timer_lateness` map. */
export function readLateness(map: BpfMap, cpus: readonly number[], decode: (cpu: number, value: Buffer | undefined) => CpuLatenessHistogram): CpuLatenessHistogram[] {
  const perCpu = map.lookupPerCpu(0);
  return cpus.map((cpu) => decode(cpu, perCpu?.[cpu]));
}
