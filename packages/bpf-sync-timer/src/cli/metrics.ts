// The monitor's per-second figures, computed from tick records (pure, unit-tested).

/** Value at quantile q (0..1) of ascending-sorted numbers (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** p50/p99/max of values. */
export function summary(values: number[]): { p50: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.length ? s[s.length - 1] : NaN };
}

/** One tick as seen by the probe subscriber (tick_probe.bpf.c's struct tick_record). */
export interface TickRecord {
  tickIndex: bigint;
  nominalNs: bigint;
  firedNs: bigint;
  seenNs: bigint;
  missed: bigint;
  cpu: number;
  expectedCpu: number;
}

/** Size of `struct tick_record`. */
export const TICK_RECORD_SIZE = 48;

/** Decodes a tick record. */
export function decodeTickRecord(b: Buffer): TickRecord {
  return {
    tickIndex: b.readBigUInt64LE(0),
    nominalNs: b.readBigUInt64LE(8),
    firedNs: b.readBigUInt64LE(16),
    seenNs: b.readBigUInt64LE(24),
    missed: b.readBigUInt64LE(32),
    cpu: b.readUInt32LE(40),
    expectedCpu: b.readUInt32LE(44),
  };
}

/**
 * Cross-CPU skew of the same tick: for each tick index, the spread of the timer's fire
 * times over the CPUs. A tick is complete once every armed CPU reported it; incomplete
 * ones are dropped after `horizon` newer ticks (a CPU missed it).
 */
export class SkewTracker {
  readonly #pending = new Map<bigint, { min: bigint; max: bigint; cpus: number }>();
  #done: number[] = [];
  #newest = 0n;

  constructor(private readonly cpuCount: number, private readonly horizon = 64n) {}

  add(r: TickRecord): void {
    if (r.tickIndex + this.horizon < this.#newest) return; // its tick was given up already
    const e = this.#pending.get(r.tickIndex);
    if (!e) this.#pending.set(r.tickIndex, { min: r.firedNs, max: r.firedNs, cpus: 1 });
    else {
      if (r.firedNs < e.min) e.min = r.firedNs;
      if (r.firedNs > e.max) e.max = r.firedNs;
      e.cpus++;
    }
    if (r.tickIndex > this.#newest) {
      this.#newest = r.tickIndex;
      for (const idx of this.#pending.keys()) if (idx + this.horizon < this.#newest) this.#pending.delete(idx);
    }
    const entry = this.#pending.get(r.tickIndex)!;
    if (entry.cpus >= this.cpuCount) {
      this.#done.push(Number(entry.max - entry.min));
      this.#pending.delete(r.tickIndex);
    }
  }

  /** Skews (ns) of the ticks completed since the last call. */
  take(): number[] {
    const out = this.#done;
    this.#done = [];
    return out;
  }
}

/** One CPU's line of a report. */
export interface CpuReport {
  cpu: number;
  ticksPerSecond: number;
  latenessUs: { p50: number; p99: number; max: number };
  missed: number;
  migrations: number;
}

/** Builds the per-CPU lines from one period's records. */
export function cpuReports(cpus: readonly number[], records: TickRecord[], seconds: number, missedByCpu: Map<number, number>): CpuReport[] {
  return cpus.map((cpu) => {
    const mine = records.filter((r) => r.expectedCpu === cpu);
    return {
      cpu,
      ticksPerSecond: mine.length / seconds,
      latenessUs: summary(mine.map((r) => Number(r.firedNs - r.nominalNs) / 1000)),
      missed: missedByCpu.get(cpu) ?? 0,
      migrations: mine.filter((r) => r.cpu !== r.expectedCpu).length,
    };
  });
}
