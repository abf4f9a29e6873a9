// The monitor's per-second figures, computed from tick records (pure, unit-tested).
import { tick_record } from '../abi';

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

/** One tick as seen by a probe subscriber (tick_probe.bpf.c's struct tick_record). */
export interface TickRecord {
  tickIndex: bigint;
  nominalNs: bigint;
  firedNs: bigint;
  seenNs: bigint;
  /** The timer's grid points skipped on this CPU before this tick (cumulative). */
  missed: bigint;
  cpu: number;
  expectedCpu: number;
  /** Ticks this subscriber saw on this CPU so far, this one included. */
  hits: bigint;
  /** The subscriber's id (its bit in the trigger mask). */
  subscriber: number;
}

/** Size of `struct tick_record`. */
export const TICK_RECORD_SIZE: number = tick_record.size;

/** Decodes a tick record (its codec from tick_probe.bpf.o's BTF). */
export function decodeTickRecord(b: Uint8Array): TickRecord {
  const r = tick_record.decode(b);
  return {
    tickIndex: r.tick_index,
    nominalNs: r.nominal_ns,
    firedNs: r.fired_ns,
    seenNs: r.seen_ns,
    missed: r.missed,
    cpu: r.cpu,
    expectedCpu: r.expected_cpu,
    hits: r.hits,
    subscriber: r.subscriber,
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

/** A subscriber's delivery over one window. */
export interface Delivery {
  /** Ticks it saw. */
  seen: bigint;
  /** Ticks the timer published, over the same ticks. */
  published: bigint;
  /** seen / published; NaN when the window holds no published tick to judge by. */
  ratio: number;
}

/** Where a subscriber stood on one CPU at one of its records. */
interface Mark {
  tickIndex: bigint;
  missed: bigint;
  hits: bigint;
}

/** One subscriber on one CPU: its newest record and this window's counts. */
interface Run {
  last: Mark;
  seen: bigint;
  published: bigint;
  /** Ticks already reported as missed while it was silent; the next run leaves them out. */
  reportedMissed: bigint;
  /** A record arrived this window. */
  heard: boolean;
}

/**
 * Subscribers' delivery, counted by tick identity from the probes' records, never by
 * comparing counters read at different moments.
 *
 * Between two records of one subscriber on one CPU, the timer published
 * `(tickIndex' - tickIndex) - (missed' - missed)` ticks after the first up to the second
 * (`missed` is the timer's own count of skipped grid points), and the subscriber saw
 * `hits' - hits` of them. A window (one `take()`) counts, per CPU, the ticks after the
 * subscriber's newest record of the previous window up to its newest record of this one:
 * ticks published after that are left for the next window, none is counted twice, and
 * seen <= published always, equal when every tick was seen.
 *
 * A subscriber that sent nothing on a CPU in a window is charged with the ticks other
 * records prove it did not see. The probes share one ring buffer and run one after the
 * other right after a tick on its CPU, so once any record of tick t on CPU c is consumed,
 * every record of an earlier tick on c is too; and a probe sends a record for the first
 * tick it sees in each block of `recordEvery` tick indices. So it saw none of the ticks
 * before the newest one consumed on c that lie in blocks after the block of its own
 * newest record. That holds only if none of its records was lost: a window with ring
 * buffer drops makes no such claim. A subscriber with no record yet is judged so from the
 * second window on (the first one's records may predate its attachment).
 */
export class DeliveryTracker {
  readonly #runs = new Map<string, Run>();
  /** This window's (tick index, missed) pairs per CPU, from every subscriber's records. */
  #ticks = new Map<number, { tickIndex: bigint; missed: bigint }[]>();
  readonly #interrupted = new Set<number>();
  #windows = 0;

  /**
   * @param recordEvery each subscriber's id and its probe's `record_every`, in the order
   *   `take()` reports them
   */
  constructor(private readonly recordEvery: ReadonlyMap<number, bigint>) {}

  /** Counts one record (of any subscriber). */
  add(r: TickRecord): void {
    if (!this.recordEvery.has(r.subscriber)) return;
    const cpu = r.expectedCpu;
    let ticks = this.#ticks.get(cpu);
    if (!ticks) this.#ticks.set(cpu, (ticks = []));
    ticks.push({ tickIndex: r.tickIndex, missed: r.missed });
    const key = `${r.subscriber}/${cpu}`;
    const mark: Mark = { tickIndex: r.tickIndex, missed: r.missed, hits: r.hits };
    const run = this.#runs.get(key);
    if (!run) {
      // its first tick only starts the count: earlier ticks may predate the subscriber
      this.#runs.set(key, { last: mark, seen: 0n, published: 0n, reportedMissed: 0n, heard: true });
      return;
    }
    run.heard = true;
    const { last } = run;
    const seen = r.hits - last.hits;
    const published = r.tickIndex - last.tickIndex - (r.missed - last.missed) - run.reportedMissed;
    run.last = mark;
    run.reportedMissed = 0n;
    // otherwise the timer (re-armed: missed starts at 0 again) or the probe started over
    if (seen > 0n && seen <= published) {
      run.seen += seen;
      run.published += published;
    }
  }

  /**
   * The timer on `cpu` stopped or was re-armed (CPU hotplug): its tick indices and missed
   * count do not continue across that, so this window counts nothing on `cpu` and the next
   * one starts afresh there.
   */
  interrupt(cpu: number): void {
    this.#interrupted.add(cpu);
  }

  /**
   * Ends a window: per subscriber, the ticks it saw and the ticks published over the same
   * ticks on `cpus`, since the previous call. Consume the ring buffer first.
   * @param recordsDropped the ring buffer dropped records in this window
   */
  take(cpus: readonly number[], recordsDropped: boolean): Delivery[] {
    const out: Delivery[] = [];
    for (const [subscriber, every] of this.recordEvery) {
      let seen = 0n;
      let published = 0n;
      for (const cpu of cpus) {
        if (this.#interrupted.has(cpu)) continue;
        const run = this.#runs.get(`${subscriber}/${cpu}`);
        if (run) {
          seen += run.seen;
          published += run.published;
          run.seen = 0n;
          run.published = 0n;
        }
        if (!run?.heard && !recordsDropped && (run || this.#windows > 0)) {
          const missed = this.#provenMissed(cpu, run ? (run.last.tickIndex / every + 1n) * every : undefined);
          published += missed;
          if (run) run.reportedMissed += missed;
        }
        if (run) run.heard = false;
      }
      out.push({ seen, published, ratio: published > 0n ? Number(seen) / Number(published) : NaN });
    }
    for (const cpu of this.#interrupted) {
      for (const subscriber of this.recordEvery.keys()) this.#runs.delete(`${subscriber}/${cpu}`);
    }
    this.#interrupted.clear();
    this.#ticks = new Map();
    this.#windows++;
    return out;
  }

  /**
   * Published ticks on `cpu` from tick index `from` (any, if undefined) up to, not
   * including, the newest tick of this window: between the first and the last such tick
   * that any record names, exactly.
   */
  #provenMissed(cpu: number, from: bigint | undefined): bigint {
    const ticks = this.#ticks.get(cpu) ?? [];
    let newest = -1n;
    for (const t of ticks) if (t.tickIndex > newest) newest = t.tickIndex;
    let first: { tickIndex: bigint; missed: bigint } | undefined;
    let last: { tickIndex: bigint; missed: bigint } | undefined;
    for (const t of ticks) {
      if ((from !== undefined && t.tickIndex < from) || t.tickIndex >= newest) continue;
      if (!first || t.tickIndex < first.tickIndex) first = t;
      if (!last || t.tickIndex > last.tickIndex) last = t;
    }
    return first && last ? last.tickIndex - first.tickIndex - (last.missed - first.missed) + 1n : 0n;
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
