// The timer's metrics as OpenTelemetry observable instruments, read at collection time.
import { optionNames } from '@bpf-sync-timer/libbpf';
import { checkOptionNames } from '../arm';
import { SyncTimerError } from '../errors';
import { checkPrefix, checkSource, type MetricsRegistration } from './prometheus';
import { CPU_METRICS, cumulative, LATENESS_METRIC, snapshot, type MetricsSource } from './readings';

/** An observable instrument, as a Meter makes them (opaque here). */
export type OpenTelemetryObservable = object;

/** What a batch callback is handed (the `BatchObservableResult` of @opentelemetry/api). */
export interface OpenTelemetryBatchResult {
  observe(observable: OpenTelemetryObservable, value: number, attributes?: Record<string, string>): void;
}

/**
 * The part of an @opentelemetry/api `Meter` used (declared here so that the types of this
 * entry need no @opentelemetry/api when only prom-client is used).
 */
export interface OpenTelemetryMeter {
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): OpenTelemetryObservable;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): OpenTelemetryObservable;
  addBatchObservableCallback(callback: (result: OpenTelemetryBatchResult) => void, observables: OpenTelemetryObservable[]): void;
  removeBatchObservableCallback(callback: (result: OpenTelemetryBatchResult) => void, observables: OpenTelemetryObservable[]): void;
}

/** Options of `registerOpenTelemetry`; any other name is refused with INVALID_OPTION. */
export interface OpenTelemetryOptions {
  /** Put before every instrument name, e.g. `myapp_` (default none). */
  prefix?: string;
}

const OTEL_OPTION_NAMES = optionNames<OpenTelemetryOptions>()('prefix');

/**
 * Registers the timer's health on an OpenTelemetry meter as observable instruments read
 * from the timer (one map read per collection), with the attribute `cpu`: the observable
 * counters `bpf_sync_timer_ticks_total`, `bpf_sync_timer_missed_total`,
 * `bpf_sync_timer_wrong_cpu_total` and the observable gauge `bpf_sync_timer_stopped`.
 *
 * The OpenTelemetry API has no asynchronous histogram, so the in-kernel lateness histogram
 * comes as three observable counters in Prometheus's histogram layout, exact as the kernel
 * counted: `bpf_sync_timer_lateness_seconds_bucket` (cumulative, attributes `cpu` and `le`
 * in seconds, the last `+Inf`), `bpf_sync_timer_lateness_seconds_sum` (unit s) and
 * `bpf_sync_timer_lateness_seconds_count`; left out when the timer was started with
 * `latenessHistogram: false`. Nothing is observed once the timer is closed.
 * `unregister()` removes the callback (instruments cannot be deleted in OpenTelemetry).
 * Needs `@opentelemetry/api` 1.x and an SDK behind the meter (optional peers).
 *
 * @example
 * import { metrics } from '@opentelemetry/api';
 * import { registerOpenTelemetry } from 'bpf-sync-timer/metrics';
 * using timer = await SyncTimer.start(1_000_000);
 * registerOpenTelemetry(timer, metrics.getMeter('my-collector'));
 */
export function registerOpenTelemetry(timer: MetricsSource, meter: OpenTelemetryMeter, options: OpenTelemetryOptions = {}): MetricsRegistration {
  checkSource('registerOpenTelemetry', timer);
  if (!meter || typeof meter.createObservableCounter !== 'function' || typeof meter.addBatchObservableCallback !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', 'registerOpenTelemetry: the second argument must be an OpenTelemetry Meter');
  }
  checkOptionNames('registerOpenTelemetry', options, OTEL_OPTION_NAMES);
  const prefix = checkPrefix(options.prefix);
  const cpu = CPU_METRICS.map((m) => ({
    metric: m,
    instrument: (m.type === 'counter' ? meter.createObservableCounter : meter.createObservableGauge).call(meter, prefix + m.name, { description: m.help }),
  }));
  const base = prefix + LATENESS_METRIC.name;
  const lateness = timer.hasLatenessHistogram
    ? {
        bucket: meter.createObservableCounter(`${base}_bucket`, { description: `${LATENESS_METRIC.help} Cumulative count of ticks at most 'le' seconds late.` }),
        sum: meter.createObservableCounter(`${base}_sum`, { description: `${LATENESS_METRIC.help} Lateness added up.`, unit: 's' }),
        count: meter.createObservableCounter(`${base}_count`, { description: `${LATENESS_METRIC.help} Ticks counted.` }),
      }
    : undefined;
  const observables = [...cpu.map((c) => c.instrument), ...(lateness ? [lateness.bucket, lateness.sum, lateness.count] : [])];
  const callback = (result: OpenTelemetryBatchResult): void => {
    const now = snapshot(timer);
    if (!now) return;
    for (const s of now.stats) {
      for (const c of cpu) result.observe(c.instrument, c.metric.value(s), { cpu: String(s.cpu) });
    }
    if (!lateness) return;
    for (const h of (now.lateness ?? []).map(cumulative)) {
      for (const b of h.buckets) result.observe(lateness.bucket, b.count, { cpu: h.cpu, le: b.le });
      result.observe(lateness.sum, h.sumSeconds, { cpu: h.cpu });
      result.observe(lateness.count, h.count, { cpu: h.cpu });
    }
  };
  meter.addBatchObservableCallback(callback , observables as never[]);
  let registered = true;
  const unregister = () => {
    if (!registered) return;
    registered = false;
    meter.removeBatchObservableCallback(callback , observables as never[]);
  };
  const names = [...cpu.map((c) => prefix + c.metric.name), ...(lateness ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [])];
  return { names: Object.freeze(names), unregister, [Symbol.dispose]: unregister };
}
