// What the metrics entry exports, read from a timer at scrape time: one list of metric
// definitions that the Prometheus and OpenTelemetry registrations both render.
import type { CpuLatenessHistogram } from '../lateness';
import type { CpuTimerStats } from '../stats';
import type { SyncTimer } from '../sync-timer';

/** What the registrations read from a timer (a `SyncTimer`; tests pass fakes). */
export type MetricsSource = Pick<SyncTimer, 'open' | 'stats' | 'latenessHistogram' | 'hasLatenessHistogram'>;

/** A per-CPU counter or gauge taken from `stats()`. */
export interface CpuMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value(s: CpuTimerStats): number;
}

/** The per-CPU counters and gauges, in exposition order. */
export const CPU_METRICS: readonly CpuMetric[] = [
  { name: 'bpf_sync_timer_ticks_total', type: 'counter', help: 'Timer callbacks run on this CPU.', value: (s) => Number(s.ticks) },
  { name: 'bpf_sync_timer_missed_total', type: 'counter', help: 'Grid points skipped on this CPU because a callback ran too late to make them.', value: (s) => Number(s.missed) },
  { name: 'bpf_sync_timer_wrong_cpu_total', type: 'counter', help: 'Callbacks that ran on another CPU than the one this timer was armed for (the timer then stops).', value: (s) => Number(s.wrongCpu) },
  { name: 'bpf_sync_timer_stopped', type: 'gauge', help: '1 while this CPU\'s timer is stopped (it ran on the wrong CPU; re-armed when its CPU is back), else 0.', value: (s) => (s.stopped ? 1 : 0) },
];

/** The lateness histogram's name and help. */
export const LATENESS_METRIC = {
  name: 'bpf_sync_timer_lateness_seconds',
  help: 'How late the timer fired against its grid point on this CPU, from the histogram the timer callback keeps in the kernel (power-of-two buckets from 1.024 us).',
} as const;

/** One CPU's histogram in Prometheus's shape: cumulative buckets by `le` (seconds), sum in seconds. */
export interface CumulativeHistogram {
  cpu: string;
  buckets: Array<{ le: string; count: number }>;
  count: number;
  sumSeconds: number;
}

/** Converts a kernel histogram to cumulative buckets, the last one `+Inf`. */
export function cumulative(h: CpuLatenessHistogram): CumulativeHistogram {
  let running = 0n;
  const buckets = h.counts.map((c, i) => {
    running += c;
    return { le: i < h.boundsNs.length ? formatSeconds(h.boundsNs[i]) : '+Inf', count: Number(running) };
  });
  return { cpu: String(h.cpu), buckets, count: Number(h.count), sumSeconds: Number(h.sumNs) / 1e9 };
}

/** ns as seconds for an `le` label, exact for the power-of-two bounds (no float noise). */
export function formatSeconds(ns: bigint): string {
  const whole = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/**
 * The timer's counters and histograms now, or undefined once it is closed (a closed
 * timer's series disappear from the scrape instead of failing it).
 */
export function snapshot(timer: MetricsSource): { stats: CpuTimerStats[]; lateness: CpuLatenessHistogram[] | undefined } | undefined {
  if (!timer.open) return undefined;
  return { stats: timer.stats(), lateness: timer.hasLatenessHistogram ? timer.latenessHistogram() : undefined };
}

/** A metric name prefix: empty or a valid start of a Prometheus name. */
export const PREFIX_PATTERN = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
