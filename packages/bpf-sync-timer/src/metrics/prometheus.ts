// The timer's metrics on a prom-client registry, read from the timer at scrape time.
import { checkOptionNames } from '../arm';
import { SyncTimerError } from '../errors';
import { optionNames } from '@bpf-sync-timer/libbpf';
import { CPU_METRICS, cumulative, LATENESS_METRIC, PREFIX_PATTERN, snapshot, type MetricsSource } from './readings';

/**
 * The part of a prom-client `Registry` used (declared here so that the types of this entry
 * need no prom-client when only OpenTelemetry is used).
 */
export interface PrometheusRegistry {
  registerMetric(metric: never): void;
  removeSingleMetric(name: string): void;
  getSingleMetric(name: string): unknown;
}

/** Options of `registerPrometheus`; any other name is refused with INVALID_OPTION. */
export interface PrometheusOptions {
  /** The registry to register on (default: prom-client's global `register`). */
  registry?: PrometheusRegistry;
  /** Put before every metric name, e.g. `myapp_` (default none). */
  prefix?: string;
}

const PROMETHEUS_OPTION_NAMES = optionNames<PrometheusOptions>()('registry', 'prefix');

/** What `registerPrometheus` registered; `unregister()` takes the metrics off the registry. */
export interface MetricsRegistration {
  /** The metric names registered. */
  readonly names: readonly string[];
  /** Removes the metrics (idempotent). */
  unregister(): void;
  [Symbol.dispose](): void;
}

/** The part of prom-client's metric interface a Registry uses. */
interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Array<{ value: number; labels: Record<string, string>; metricName?: string }> }>;
  reset(): void;
}

/**
 * Registers the timer's health on a prom-client registry, read from the timer (one map
 * read per scrape) whenever the registry is collected: per CPU (label `cpu`) the counters
 * `bpf_sync_timer_ticks_total`, `bpf_sync_timer_missed_total`,
 * `bpf_sync_timer_wrong_cpu_total`, the gauge `bpf_sync_timer_stopped`, and the histogram
 * `bpf_sync_timer_lateness_seconds` from the timer's in-kernel lateness histogram (left out
 * when the timer was started with `latenessHistogram: false`). Once the timer is closed its
 * series are empty. Needs `prom-client` (an optional peer dependency). Throws
 * INVALID_OPTION for unknown option names or bad values; prom-client's own error when a
 * name is already registered.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { registerPrometheus } from 'bpf-sync-timer/metrics';
 * const registry = new Registry();
 * using timer = await SyncTimer.start(1_000_000);
 * registerPrometheus(timer, { registry });
 * const text = await registry.metrics(); // serve it on /metrics
 */
export function registerPrometheus(timer: MetricsSource, options: PrometheusOptions = {}): MetricsRegistration {
  checkSource('registerPrometheus', timer);
  checkOptionNames('registerPrometheus', options, PROMETHEUS_OPTION_NAMES);
  const prefix = checkPrefix(options.prefix);
  const registry = options.registry ?? defaultRegistry();
  if (!registry || typeof registry.registerMetric !== 'function' || typeof registry.removeSingleMetric !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', 'options.registry must be a prom-client Registry');
  }
  const read = scrapeSnapshot(timer);
  const metrics: CollectedMetric[] = CPU_METRICS.map((m) => collected(prefix + m.name, m.help, m.type, () =>
    (read()?.stats ?? []).map((s) => ({ value: m.value(s), labels: { cpu: String(s.cpu) } }))));
  if (timer.hasLatenessHistogram) {
    const name = prefix + LATENESS_METRIC.name;
    metrics.push(collected(name, LATENESS_METRIC.help, 'histogram', () => (read()?.lateness ?? []).map(cumulative).flatMap((h) => [
      ...h.buckets.map((b) => ({ metricName: `${name}_bucket`, value: b.count, labels: { cpu: h.cpu, le: b.le } })),
      { metricName: `${name}_sum`, value: h.sumSeconds, labels: { cpu: h.cpu } },
      { metricName: `${name}_count`, value: h.count, labels: { cpu: h.cpu } },
    ])));
  }
  const done: CollectedMetric[] = [];
  try {
    for (const m of metrics) {
      registry.registerMetric(m as never);
      done.push(m);
    }
  } catch (e) {
    for (const m of done) registry.removeSingleMetric(m.name);
    throw e;
  }
  let registered = true;
  const unregister = () => {
    if (!registered) return;
    registered = false;
    for (const m of metrics) if (registry.getSingleMetric(m.name) === m) registry.removeSingleMetric(m.name);
  };
  return { names: Object.freeze(metrics.map((m) => m.name)), unregister, [Symbol.dispose]: unregister };
}

function collected(name: string, help: string, type: CollectedMetric['type'], values: () => Awaited<ReturnType<CollectedMetric['get']>>['values']): CollectedMetric {
  const metric: CollectedMetric = {
    name,
    help,
    type,
    aggregator: 'sum',
    // metric.name, not `name`: prom-client renames counters in OpenMetrics mode
    get: async () => ({ name: metric.name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {},
  };
  return metric;
}

/**
 * One read of the timer per scrape: a registry collects its metrics one after another in
 * the same turn of the event loop, so the snapshot is kept until the next turn.
 */
function scrapeSnapshot(timer: MetricsSource): () => ReturnType<typeof snapshot> {
  let held: { value: ReturnType<typeof snapshot> } | undefined;
  return () => {
    if (!held) {
      held = { value: snapshot(timer) };
      setImmediate(() => (held = undefined));
    }
    return held.value;
  };
}

/** Rejects what is not a SyncTimer-like source (INVALID_OPTION). */
export function checkSource(what: string, timer: unknown): asserts timer is MetricsSource {
  const t = timer as MetricsSource | null;
  if (!t || typeof t.stats !== 'function' || typeof t.latenessHistogram !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', `${what}: the first argument must be a SyncTimer`);
  }
}

/** Validates a name prefix (INVALID_OPTION). */
export function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new SyncTimerError('INVALID_OPTION', `options.prefix must be the start of a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

function defaultRegistry(): PrometheusRegistry {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('prom-client') as { register: PrometheusRegistry }).register;
  } catch (e) {
    throw new SyncTimerError('INVALID_OPTION', 'prom-client is not installed: npm install prom-client, or pass options.registry', { cause: e });
  }
}
