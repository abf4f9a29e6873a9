// `sync-timer monitor`: a timer plus probe subscribers, and a live per-CPU table.
import * as path from 'node:path';
import { BpfObject, RingBuffer } from '@bpf-sync-timer/libbpf';
import { SyncTimer, type TimerClock, type TimerMode } from '../index';
import { cpuReports, decodeTickRecord, DeliveryTracker, SkewTracker, summary, type CpuReport, type TickRecord } from './metrics';
import { serveMetrics, type MetricsServer } from './prometheus';
import { formatDuration, type HostPort } from './units';

/** Options of the monitor command. */
export interface MonitorOptions {
  intervalNs: bigint;
  durationNs: bigint;
  cpus?: number[];
  subscribers: number;
  json: boolean;
  mode?: TimerMode | 'auto';
  /** The grid's clock (default 'monotonic'). */
  clock?: TimerClock;
  /** Serve the timer's metrics on http://HOST:PORT/metrics while running (needs prom-client). */
  prometheus?: HostPort;
  out?: NodeJS.WritableStream;
}

/** The compiled probe subscriber (examples/tick-probe). */
export const PROBE_OBJECT = path.resolve(__dirname, '..', '..', 'bpf', 'tick_probe.bpf.o');

/** How often, at most, a probe other than the first sends a record per CPU. */
const OTHER_PROBES_RECORD_NS = 10_000_000n;

interface Probe {
  object: BpfObject;
  id: number;
  /** The probe's record_every: 1 sends every tick it sees. */
  recordEvery: bigint;
}

/**
 * Loads one probe subscriber. The first sends a record for every tick it sees; the
 * others write into the first one's ring buffer and drop counter, once per block of
 * ticks, so many subscribers stay cheap to watch.
 */
function loadProbe(timer: SyncTimer, first: Probe | undefined): Probe {
  const id = timer.assignId();
  const recordEvery = first ? max(1n, OTHER_PROBES_RECORD_NS / timer.intervalNs) : 1n;
  const open = BpfObject.open(PROBE_OBJECT);
  try {
    open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
    if (first) {
      open.map('records').reuseFd(first.object.map('records').fd);
      open.map('drops').reuseFd(first.object.map('drops').fd);
    }
    open.rodata.set('my_sync_timer_id', BigInt(id));
    open.rodata.set('record_every', recordEvery);
  } catch (e) {
    open.close();
    throw e;
  }
  const object = open.load();
  try {
    object.attachAll();
  } catch (e) {
    object.close();
    throw e;
  }
  return { object, id, recordEvery };
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);

/** One second's report. */
export interface Report {
  second: number;
  cpus: CpuReport[];
  skewUs: { p50: number; p99: number };
  /**
   * Per subscriber: of the ticks the timer published on the armed CPUs, the share it saw,
   * counted by tick index up to its newest record (see DeliveryTracker). At most 1.
   */
  subscriberDelivery: number[];
  /** Records the probe's ring buffer had no room for (cumulative). */
  dropped: number;
}

/**
 * Runs the monitor until the duration ends or SIGINT/SIGTERM; prints a report every
 * second and releases everything before it resolves.
 */
export async function monitor(opts: MonitorOptions): Promise<Report[]> {
  const out = opts.out ?? process.stdout;
  const timer = await SyncTimer.start(opts.intervalNs, { cpus: opts.cpus, mode: opts.mode, clock: opts.clock });
  const probes: Probe[] = [];
  let ring: RingBuffer | undefined;
  let metrics: MetricsServer | undefined;
  const reports: Report[] = [];
  try {
    if (opts.prometheus) {
      metrics = await serveMetrics(timer, opts.prometheus);
      // stderr: --json keeps stdout NDJSON
      process.stderr.write(`sync-timer monitor: serving metrics on ${metrics.url}\n`);
    }
    for (let i = 0; i < opts.subscribers; i++) probes.push(loadProbe(timer, probes[0]));
    let records: TickRecord[] = [];
    const skew = new SkewTracker(timer.cpus.length);
    const delivery = new DeliveryTracker(new Map(probes.map((p) => [p.id, p.recordEvery])));
    const first = probes[0].id;
    ring = new RingBuffer(probes[0].object.map('records'), (b) => {
      const r = decodeTickRecord(b);
      delivery.add(r);
      if (r.subscriber !== first) return;
      records.push(r);
      skew.add(r);
    });
    // a re-armed timer counts its ticks afresh (the timer, and so these listeners, go in finally)
    const interrupt = (e: { cpu: number }) => delivery.interrupt(e.cpu);
    timer.on('cpu-offline', interrupt);
    timer.on('cpu-rearmed', interrupt);
    const drops = probes[0].object.map('drops');
    const dropped = () => Number(drops.lookupPerCpu(0)!.reduce((a, b) => a + b.readBigUInt64LE(0), 0n));
    if (!opts.json) {
      out.write(`sync-timer monitor: ${formatDuration(timer.intervalNs)} ticks on CPUs ${timer.cpus.join(',')} (${timer.mode} mode, CLOCK_${timer.clock.toUpperCase()} grid), ${opts.subscribers} subscriber(s)` +
        `${timer.skippedCpus.length ? `; skipped ${timer.skippedCpus.map((s) => `${s.cpu} (${s.reason})`).join(', ')}` : ''}\n`);
    }
    let lastStats = timer.stats();
    let lastDropped = dropped();
    let last = process.hrtime.bigint();
    const end = last + opts.durationNs;
    const stopped = waitForStop();
    for (let second = 1; ; second++) {
      const now = process.hrtime.bigint();
      const wait = Math.max(0, Math.min(1000, Number((end - now) / 1_000_000n)));
      if (wait === 0 || (await Promise.race([sleep(wait).then(() => false), stopped.promise]))) break;
      ring.consume();
      const t = process.hrtime.bigint();
      const seconds = Number(t - last) / 1e9;
      last = t;
      const stats = timer.stats();
      const missed = new Map(stats.map((s) => [s.cpu, Number(s.missed - (lastStats.find((l) => l.cpu === s.cpu)?.missed ?? s.missed))]));
      const drops = dropped();
      const skews = summary(skew.take().map((ns) => ns / 1000));
      const report: Report = {
        second,
        cpus: cpuReports(timer.cpus, records, seconds, missed),
        skewUs: { p50: skews.p50, p99: skews.p99 },
        subscriberDelivery: delivery.take(timer.cpus, drops > lastDropped).map((d) => d.ratio),
        dropped: drops,
      };
      reports.push(report);
      out.write(opts.json ? toJson(report, timer) : render(report, timer, out));
      records = [];
      lastStats = stats;
      lastDropped = drops;
    }
    stopped.dispose();
  } finally {
    await metrics?.close();
    ring?.close();
    for (const p of probes) p.object.close();
    timer.close();
  }
  return reports;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves true on SIGINT/SIGTERM; while waiting, those signals do not kill the process. */
function waitForStop(): { promise: Promise<boolean>; dispose(): void } {
  let resolve: (v: boolean) => void = () => {};
  const promise = new Promise<boolean>((r) => (resolve = r));
  const on = () => resolve(true);
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** A share as a percentage rounded down to 0.1, so that 100.0% means every tick. */
const percentDown = (share: number) => Math.floor(share * 1000 + 1e-9) / 10;

function render(r: Report, timer: SyncTimer, out: NodeJS.WritableStream): string {
  const lines = [
    `second ${r.second}`,
    '  cpu   ticks/s   late p50 µs   p99 µs    max µs   missed   migrations',
    ...r.cpus.map((c) => `  ${String(c.cpu).padStart(3)} ${fmt(c.ticksPerSecond, 0).padStart(9)} ${fmt(c.latenessUs.p50).padStart(13)} ${fmt(c.latenessUs.p99).padStart(8)} ${fmt(c.latenessUs.max).padStart(9)} ${String(c.missed).padStart(8)} ${String(c.migrations).padStart(12)}`),
    `  cross-CPU skew of the same tick: p50 ${fmt(r.skewUs.p50)} µs, p99 ${fmt(r.skewUs.p99)} µs` +
      (timer.cpus.length < 2 ? ' (one CPU: no skew)' : ''),
    `  subscribers' delivery: ${r.subscriberDelivery.map((d) => `${fmt(percentDown(d), 1)}%`).join(' ')}${r.dropped ? `  (ring buffer drops: ${r.dropped})` : ''}`,
    ...(timer.clock === 'realtime' ? [`  grid on CLOCK_REALTIME (tick index = wall-clock ns / interval); clock steps per CPU: ${timer.stats().map((s) => `${s.cpu}:${s.clockSteps}`).join(' ')}`] : []),
  ];
  const tty = (out as NodeJS.WriteStream).isTTY;
  return (tty ? '\x1b[H\x1b[J' : '') + lines.join('\n') + '\n';
}

function toJson(r: Report, timer: SyncTimer): string {
  const steps = new Map(timer.stats().map((s) => [s.cpu, Number(s.clockSteps)]));
  return r.cpus.map((c) => JSON.stringify({
    second: r.second, cpu: c.cpu, interval_ns: Number(timer.intervalNs), mode: timer.mode, clock: timer.clock,
    ticks_per_s: Number(c.ticksPerSecond.toFixed(2)),
    lateness_us: { p50: c.latenessUs.p50, p99: c.latenessUs.p99, max: c.latenessUs.max },
    missed: c.missed, migrations: c.migrations, clock_steps: steps.get(c.cpu) ?? 0,
    skew_us: r.skewUs, subscriber_delivery: r.subscriberDelivery, dropped: r.dropped,
  }) + '\n').join('');
}
