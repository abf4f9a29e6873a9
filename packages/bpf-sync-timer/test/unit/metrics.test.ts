// The metrics entry over a fake timer (no root, no BPF): the prom-client exposition text,
// the OpenTelemetry instruments through the real SDK, option checks and unregistering.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { SyncTimerError } from '../../src/errors';
import { latenessBoundsNs, type CpuLatenessHistogram } from '../../src/lateness';
import { registerOpenTelemetry, registerPrometheus, type MetricsSource } from '../../src/metrics';
import type { CpuTimerStats } from '../../src/stats';

const BOUNDS = latenessBoundsNs(24);

function stats(cpu: number, ticks: bigint, over: Partial<CpuTimerStats> = {}): CpuTimerStats {
  return { cpu, ticks, missed: 0n, rearmFailures: 0n, wrongCpu: 0n, lastRearmError: 0, nextExpectedNs: 0n, lastFiredNs: 0n, stopped: false, clockSteps: 0n, lastClockStepNs: 0n, ...over };
}

function histogram(cpu: number, at: Record<number, bigint>, sumNs: bigint): CpuLatenessHistogram {
  const counts = Array.from({ length: BOUNDS.length + 1 }, (_, i) => at[i] ?? 0n);
  return { cpu, boundsNs: BOUNDS, counts, count: counts.reduce((a, b) => a + b, 0n), sumNs };
}

/** A timer as the registrations see it, with counters the test sets. */
class FakeTimer implements MetricsSource {
  open = true;
  reads = 0;
  cpuStats = [stats(0, 1000n, { missed: 3n }), stats(1, 998n, { wrongCpu: 1n, stopped: true })];
  lateness = [histogram(0, { 5: 10n, 6: 990n }, 40_000_000n), histogram(1, { 0: 1n, 23: 2n }, 9_000_000_000n)];
  constructor(readonly hasLatenessHistogram = true) {}
  stats(): CpuTimerStats[] {
    if (!this.open) throw new SyncTimerError('CLOSED', 'closed');
    this.reads++;
    return this.cpuStats;
  }
  latenessHistogram(): CpuLatenessHistogram[] {
    if (!this.hasLatenessHistogram) throw new SyncTimerError('INVALID_OPTION', 'off');
    return this.lateness;
  }
}

const as = (t: FakeTimer) => t as unknown as Parameters<typeof registerPrometheus>[0];
const invalidOption = (message: RegExp) => (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_OPTION' && message.test(e.message);
const lines = (text: string) => text.split('\n');

describe('registerPrometheus', () => {
  it('exposes the per-CPU counters, the stopped gauge and the lateness histogram', async () => {
    const registry = new Registry();
    const reg = registerPrometheus(as(new FakeTimer()), { registry });
    assert.deepEqual(reg.names, ['bpf_sync_timer_ticks_total', 'bpf_sync_timer_missed_total', 'bpf_sync_timer_wrong_cpu_total', 'bpf_sync_timer_stopped', 'bpf_sync_timer_lateness_seconds']);
    const text = lines(await registry.metrics());
    for (const line of [
      '# TYPE bpf_sync_timer_ticks_total counter',
      'bpf_sync_timer_ticks_total{cpu="0"} 1000',
      'bpf_sync_timer_ticks_total{cpu="1"} 998',
      'bpf_sync_timer_missed_total{cpu="0"} 3',
      'bpf_sync_timer_missed_total{cpu="1"} 0',
      'bpf_sync_timer_wrong_cpu_total{cpu="1"} 1',
      '# TYPE bpf_sync_timer_stopped gauge',
      'bpf_sync_timer_stopped{cpu="0"} 0',
      'bpf_sync_timer_stopped{cpu="1"} 1',
      '# TYPE bpf_sync_timer_lateness_seconds histogram',
      // bucket 5 ends at 2^15 ns, bucket 6 at 2^16 ns: cumulative counts by `le` in seconds
      'bpf_sync_timer_lateness_seconds_bucket{cpu="0",le="0.000001024"} 0',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="0",le="0.000032768"} 10',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="0",le="0.000065536"} 1000',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="0",le="4.294967296"} 1000',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="0",le="+Inf"} 1000',
      'bpf_sync_timer_lateness_seconds_sum{cpu="0"} 0.04',
      'bpf_sync_timer_lateness_seconds_count{cpu="0"} 1000',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="1",le="0.000001024"} 1',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="1",le="4.294967296"} 1',
      'bpf_sync_timer_lateness_seconds_bucket{cpu="1",le="+Inf"} 3',
      'bpf_sync_timer_lateness_seconds_sum{cpu="1"} 9',
      'bpf_sync_timer_lateness_seconds_count{cpu="1"} 3',
    ]) assert.ok(text.includes(line), `missing line: ${line}\n${text.join('\n')}`);
    // 24 kernel buckets: 23 finite bounds and +Inf, per CPU
    assert.equal(text.filter((l) => l.startsWith('bpf_sync_timer_lateness_seconds_bucket{cpu="0"')).length, 24);
  });

  it('reads the timer once per scrape, at scrape time', async () => {
    const registry = new Registry();
    const timer = new FakeTimer();
    registerPrometheus(as(timer), { registry });
    assert.equal(timer.reads, 0, 'nothing read at registration');
    await registry.metrics();
    assert.equal(timer.reads, 1);
    timer.cpuStats = [stats(0, 2000n), stats(1, 1999n)];
    await new Promise((r) => setImmediate(r));
    assert.ok(lines(await registry.metrics()).includes('bpf_sync_timer_ticks_total{cpu="0"} 2000'));
    assert.equal(timer.reads, 2);
  });

  it('puts a prefix before every name, and leaves the histogram out when the timer keeps none', async () => {
    const registry = new Registry();
    const reg = registerPrometheus(as(new FakeTimer(false)), { registry, prefix: 'app_' });
    assert.deepEqual(reg.names, ['app_bpf_sync_timer_ticks_total', 'app_bpf_sync_timer_missed_total', 'app_bpf_sync_timer_wrong_cpu_total', 'app_bpf_sync_timer_stopped']);
    const text = await registry.metrics();
    assert.match(text, /^app_bpf_sync_timer_ticks_total\{cpu="0"\} 1000$/m);
    assert.doesNotMatch(text, /lateness/);
  });

  it('a closed timer has no series, and the scrape still works', async () => {
    const registry = new Registry();
    const timer = new FakeTimer();
    registerPrometheus(as(timer), { registry });
    timer.open = false;
    const text = await registry.metrics();
    assert.match(text, /# TYPE bpf_sync_timer_ticks_total counter/);
    assert.doesNotMatch(text, /\{cpu=/);
  });

  it('OpenMetrics registries get counters in their format', async () => {
    const registry = new (Registry as unknown as new (type: string) => Registry)(Registry.OPENMETRICS_CONTENT_TYPE);
    registerPrometheus(as(new FakeTimer()), { registry });
    const text = lines(await registry.metrics());
    assert.ok(text.includes('# TYPE bpf_sync_timer_ticks counter'), text.join('\n'));
    assert.ok(text.includes('bpf_sync_timer_ticks_total{cpu="0"} 1000'));
  });

  it('unregister() takes its metrics off the registry (idempotent); registering twice throws and leaves the first', async () => {
    const registry = new Registry();
    const timer = new FakeTimer();
    const first = registerPrometheus(as(timer), { registry });
    assert.throws(() => registerPrometheus(as(timer), { registry }), /already been registered/);
    assert.equal(registry.getMetricsAsArray().length, 5);
    first.unregister();
    first.unregister();
    assert.equal(registry.getMetricsAsArray().length, 0);
    using again = registerPrometheus(as(timer), { registry });
    assert.equal(again.names.length, 5);
  });

  it('rejects unknown options, bad values and a non-timer with INVALID_OPTION', () => {
    const registry = new Registry();
    assert.throws(() => registerPrometheus(as(new FakeTimer()), { registy: registry } as object),
      invalidOption(/^unknown option 'registy' of registerPrometheus \(did you mean 'registry'\? known: registry, prefix\)$/));
    assert.throws(() => registerPrometheus(as(new FakeTimer()), 'x' as never), invalidOption(/plain object/));
    for (const prefix of ['1x_', 'a-b', 5]) {
      assert.throws(() => registerPrometheus(as(new FakeTimer()), { registry, prefix } as never), invalidOption(/^options\.prefix must be/), String(prefix));
    }
    assert.throws(() => registerPrometheus(as(new FakeTimer()), { registry: {} as never }), invalidOption(/prom-client Registry/));
    assert.throws(() => registerPrometheus({} as never, { registry }), invalidOption(/must be a SyncTimer/));
    assert.equal(registry.getMetricsAsArray().length, 0);
  });
});

/** A reader that collects on demand. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function collect(reader: TestReader): Promise<Map<string, Array<DataPoint<number>>>> {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m.dataPoints as Array<DataPoint<number>>]));
}

const point = (points: Array<DataPoint<number>> | undefined, attrs: Record<string, string>) =>
  points?.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value;

describe('registerOpenTelemetry', () => {
  it('observes the counters, the gauge and the histogram layout through the SDK', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const timer = new FakeTimer();
    const reg = registerOpenTelemetry(as(timer), provider.getMeter('test'));
    assert.deepEqual(reg.names, ['bpf_sync_timer_ticks_total', 'bpf_sync_timer_missed_total', 'bpf_sync_timer_wrong_cpu_total', 'bpf_sync_timer_stopped',
      'bpf_sync_timer_lateness_seconds_bucket', 'bpf_sync_timer_lateness_seconds_sum', 'bpf_sync_timer_lateness_seconds_count']);
    const m = await collect(reader);
    assert.equal(point(m.get('bpf_sync_timer_ticks_total'), { cpu: '0' }), 1000);
    assert.equal(point(m.get('bpf_sync_timer_ticks_total'), { cpu: '1' }), 998);
    assert.equal(point(m.get('bpf_sync_timer_missed_total'), { cpu: '0' }), 3);
    assert.equal(point(m.get('bpf_sync_timer_wrong_cpu_total'), { cpu: '1' }), 1);
    assert.equal(point(m.get('bpf_sync_timer_stopped'), { cpu: '1' }), 1);
    assert.equal(point(m.get('bpf_sync_timer_lateness_seconds_bucket'), { cpu: '0', le: '0.000032768' }), 10);
    assert.equal(point(m.get('bpf_sync_timer_lateness_seconds_bucket'), { cpu: '0', le: '+Inf' }), 1000);
    assert.equal(point(m.get('bpf_sync_timer_lateness_seconds_sum'), { cpu: '1' }), 9);
    assert.equal(point(m.get('bpf_sync_timer_lateness_seconds_count'), { cpu: '1' }), 3);
    assert.equal(timer.reads, 1, 'one read per collection');
    reg.unregister();
    timer.cpuStats = [stats(0, 5000n), stats(1, 5000n)];
    const after = await collect(reader);
    assert.notEqual(point(after.get('bpf_sync_timer_ticks_total'), { cpu: '0' }), 5000, 'no observation after unregister()');
    assert.equal(timer.reads, 1);
    await provider.shutdown();
  });

  it('takes a prefix, leaves the histogram out when the timer keeps none, observes nothing once closed', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const timer = new FakeTimer(false);
    const reg = registerOpenTelemetry(as(timer), provider.getMeter('test'), { prefix: 'app_' });
    assert.deepEqual(reg.names, ['app_bpf_sync_timer_ticks_total', 'app_bpf_sync_timer_missed_total', 'app_bpf_sync_timer_wrong_cpu_total', 'app_bpf_sync_timer_stopped']);
    timer.open = false;
    const m = await collect(reader);
    assert.equal(point(m.get('app_bpf_sync_timer_ticks_total'), { cpu: '0' }), undefined);
    await provider.shutdown();
  });

  it('rejects unknown options, a non-meter and a non-timer with INVALID_OPTION', () => {
    const meter = new MeterProvider().getMeter('test');
    assert.throws(() => registerOpenTelemetry(as(new FakeTimer()), meter, { prefx: 'a' } as object),
      invalidOption(/^unknown option 'prefx' of registerOpenTelemetry \(did you mean 'prefix'\? known: prefix\)$/));
    assert.throws(() => registerOpenTelemetry(as(new FakeTimer()), meter, { prefix: '-' }), invalidOption(/options\.prefix/));
    assert.throws(() => registerOpenTelemetry(as(new FakeTimer()), {} as never), invalidOption(/OpenTelemetry Meter/));
    assert.throws(() => registerOpenTelemetry(null as never, meter), invalidOption(/must be a SyncTimer/));
  });
});
