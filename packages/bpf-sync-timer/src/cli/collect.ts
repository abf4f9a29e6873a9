// `sync-timer collect`: the timer plus the collect subscriber (bpf/collect.bpf.c), one row per
// CPU per tick into rotated Parquet or NDJSON files, and a summary file that states, per CPU,
// which tick indices the timer fired while collecting (from the timer's own counters), so a
// reader can check the rows by identity.
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { BpfObject, RingBuffer } from '@bpf-sync-timer/libbpf';
import { SyncTimer, type CpuTimerStats, type Subscriber, type SyncTimerOptions } from '../index';
import { openHwCounters, type HwCounters } from './collect-hw';
import { COLUMNS, SAMPLE_CPU_OFFSET, SAMPLE_TICK_OFFSET, SCHEMA_VERSION } from './collect-schema';
import type { WrittenFile } from './collect-sinks';
import { BatchWriter } from './collect-writer';
import { resolveParquetWriter, type CollectOptions } from './collect-args';
import { CliError, formatDuration } from './units';

/** The compiled collect subscriber. */
export const COLLECT_OBJECT = path.resolve(__dirname, '..', '..', 'bpf', 'collect.bpf.o');

/** Rows per batch handed to the writer thread. */
const BATCH_ROWS = 4096;
/** How often a partly filled batch goes to the writer anyway (ms). */
const FLUSH_MS = 200;

/** Per CPU: what the timer fired between the two reads of its counters that bound the run. */
export interface CpuWindow {
  cpu: number;
  /** First tick index of the window (the timer's next grid point at the first read). */
  firstTick: string;
  /** Tick index after the window (the next grid point at the second read). */
  endTick: string;
  /** Timer callbacks in the window: the rows of this expected_cpu in [firstTick, endTick). */
  ticks: string;
  /** Grid points skipped in the window: endTick - firstTick = ticks + missed. */
  missed: string;
  /** Samples the ring buffer had no room for (whole run). */
  ringDrops: string;
  /** Rows taken on this CPU (whole run). */
  rows: number;
}

/** The summary file `<prefix>-summary.json` (numbers that may pass 2^53 are strings). */
export interface CollectSummary {
  schemaVersion: number;
  host: string;
  format: string;
  intervalNs: string;
  mode: string;
  clock: 'monotonic' | 'realtime';
  /** Add to nominal_ns for Unix time (ns; sampled once at start, about 1 µs exact; 0 with clock realtime). */
  monotonicToUnixNs: string;
  seconds: number;
  cpus: number[];
  hardwareCounters: string[];
  hardwareNote: string | null;
  windows: CpuWindow[];
  files: WrittenFile[];
  rows: number;
  /** Rows dropped because the writer thread fell behind (--queue). */
  queueDrops: number;
  columns: { name: string; type: string; nullable: boolean }[];
}

/** A file-name prefix: host and UTC start time, e.g. `web1-20260102T030405Z`. */
function filePrefix(host: string, start: Date): string {
  const stamp = start.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${host.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}`;
}

/** CLOCK_MONOTONIC -> Unix ns offset (process.hrtime is CLOCK_MONOTONIC). */
function monotonicToUnixNs(): bigint {
  const unix = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e3)) * 1000n;
  return unix - process.hrtime.bigint();
}

/**
 * The timer's options. `clock` is passed only when asked for: a timer without the clock
 * option refuses it with INVALID_OPTION, which the CLI shows as it is.
 */
function timerOptions(opts: CollectOptions): SyncTimerOptions {
  const base: SyncTimerOptions = { cpus: opts.cpus, mode: opts.mode };
  return opts.clock === 'realtime' ? ({ ...base, clock: 'realtime' } as SyncTimerOptions) : base;
}

/** The timer's counters, read until two reads agree (a callback may run between the fields). */
function stableStats(timer: SyncTimer): CpuTimerStats[] {
  let a = timer.stats();
  for (let i = 0; i < 10; i++) {
    const b = timer.stats();
    if (a.every((s, j) => s.ticks === b[j].ticks && s.nextExpectedNs === b[j].nextExpectedNs && s.missed === b[j].missed)) return b;
    a = b;
  }
  return a;
}

function windows(timer: SyncTimer, first: CpuTimerStats[], last: CpuTimerStats[], drops: bigint[], rows: number[]): CpuWindow[] {
  const interval = timer.intervalNs;
  return first.map((f, i) => ({
    cpu: f.cpu,
    firstTick: String(f.nextExpectedNs / interval),
    endTick: String(last[i].nextExpectedNs / interval),
    ticks: String(last[i].ticks - f.ticks),
    missed: String(last[i].missed - f.missed),
    ringDrops: String(drops[f.cpu] ?? 0n),
    rows: rows[f.cpu] ?? 0,
  }));
}

/** Resolves true on SIGINT/SIGTERM; while it waits, those signals do not kill the process. */
function waitForStop(): { promise: Promise<void>; dispose(): void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  const on = () => resolve();
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { promise, dispose: () => (process.off('SIGINT', on), process.off('SIGTERM', on)) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Consumes the ring until `done(cpu)` holds for every CPU, or `timeoutMs` passed. The window
 * of the timer's counters is read after a row from every CPU (its tick is before the
 * window), and closed once every CPU has a row of a tick at or after the window's end (not
 * a count of rows: rows of the window's own ticks may still be in the ring), so rows bound
 * it on both sides and a reader can place every tick of it.
 */
async function waitForRows(ring: RingBuffer, cpus: readonly number[], done: (cpu: number) => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    ring.consume();
    if (cpus.every(done) || Date.now() >= end) return;
    await sleep(1);
  }
}

/** Waits for the duration, a signal or a write failure, flushing batches meanwhile. */
async function runFor(durationNs: bigint, writer: BatchWriter, ring: RingBuffer): Promise<void> {
  const stop = waitForStop();
  const end = process.hrtime.bigint() + durationNs;
  let stopped = false;
  void stop.promise.then(() => (stopped = true));
  try {
    while (!stopped && !writer.failure) {
      const left = Number((end - process.hrtime.bigint()) / 1_000_000n);
      if (left <= 0) break;
      await Promise.race([sleep(Math.min(FLUSH_MS, left)), stop.promise]);
      ring.consume();
      writer.flush();
    }
  } finally {
    stop.dispose();
  }
  if (writer.failure) throw writer.failure;
}

/** Runs the collector; writes the files and the summary, releases everything, returns the summary. */
export async function collect(opts: CollectOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<CollectSummary> {
  const parquetEntry = opts.format === 'parquet' ? resolveParquetWriter() : undefined;
  fs.mkdirSync(opts.out, { recursive: true });
  const host = hostname();
  const startedAt = new Date();
  const prefix = filePrefix(host, startedAt);
  const offset = opts.clock === 'realtime' ? 0n : monotonicToUnixNs();
  const timer = await SyncTimer.start(opts.intervalNs, timerOptions(opts));
  let hw: HwCounters | undefined;
  let writer: BatchWriter | undefined;
  let subscriber: Subscriber | undefined;
  let ring: RingBuffer | undefined;
  try {
    hw = openHwCounters(timer.cpus, opts.hw);
    writer = await BatchWriter.start({
      format: opts.format,
      host,
      parquetEntry,
      sink: {
        dir: opts.out, prefix, rotateBytes: opts.rotateBytes, rotateMs: Number(opts.rotateNs / 1_000_000n), rowGroupRows: opts.rowGroupRows,
        metadata: {
          'bpf_sync_timer.schema_version': String(SCHEMA_VERSION), host, interval_ns: String(timer.intervalNs), clock: opts.clock,
          monotonic_to_unix_ns: String(offset), mode: timer.mode,
        },
      },
    }, { batchRows: BATCH_ROWS, maxInFlight: opts.queue });
    subscriber = timer.subscribe(BpfObject.open(COLLECT_OBJECT), { idVariable: 'my_sync_timer_id' });
    hw.install(subscriber.object);
    const w = writer;
    const rows: number[] = [];
    const lastTick: number[] = [];
    ring = new RingBuffer(subscriber.object.map('samples'), (b) => {
      w.push(b);
      const cpu = b.readUInt32LE(SAMPLE_CPU_OFFSET);
      rows[cpu] = (rows[cpu] ?? 0) + 1;
      // exact below 2^53 (a realtime index at 1 us is ~2^51 today)
      lastTick[cpu] = b.readUInt32LE(SAMPLE_TICK_OFFSET + 4) * 2 ** 32 + b.readUInt32LE(SAMPLE_TICK_OFFSET);
    });
    const boundMs = Math.min(10_000, 1000 + 3 * Number(timer.intervalNs / 1_000_000n));
    log(`sync-timer collect: ${formatDuration(timer.intervalNs)} ticks on CPUs ${timer.cpus.join(',')} (${timer.mode} mode) -> ${opts.format} files in ${opts.out}; Ctrl-C stops`);
    if (hw.note) log(`sync-timer collect: ${hw.note}`);
    await waitForRows(ring, timer.cpus, (c) => (rows[c] ?? 0) >= 1, boundMs);
    const first = stableStats(timer);
    const t0 = process.hrtime.bigint();
    await runFor(opts.durationNs, writer, ring);
    const last = stableStats(timer);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const endTick = new Map(last.map((l) => [l.cpu, Number(l.nextExpectedNs / timer.intervalNs)]));
    await waitForRows(ring, timer.cpus, (c) => (lastTick[c] ?? -1) >= endTick.get(c)!, boundMs);
    const drops = subscriber.object.map('drops').lookupPerCpu(0)!.map((b) => b.readBigUInt64LE(0));
    ring.close();
    subscriber.close();
    const written = await writer.close();
    const summary: CollectSummary = {
      schemaVersion: SCHEMA_VERSION, host, format: opts.format, intervalNs: String(timer.intervalNs), mode: timer.mode, clock: opts.clock,
      monotonicToUnixNs: String(offset), seconds, cpus: [...timer.cpus], hardwareCounters: hw.columns, hardwareNote: hw.note ?? null,
      windows: windows(timer, first, last, drops, rows), files: written.files, rows: written.written, queueDrops: written.dropped,
      columns: COLUMNS.map(({ name, type, nullable }) => ({ name, type, nullable })),
    };
    fs.writeFileSync(path.join(opts.out, `${prefix}-summary.json`), JSON.stringify(summary, null, 2) + '\n');
    log(`sync-timer collect: ${seconds.toFixed(2)} s, ${summary.rows} rows in ${summary.files.length} file(s); ` +
      `drops: ring ${summary.windows.map((x) => `cpu${x.cpu}=${x.ringDrops}`).join(' ')}, writer queue ${summary.queueDrops}; ` +
      `timer missed ${summary.windows.map((x) => `cpu${x.cpu}=${x.missed}`).join(' ')}`);
    return summary;
  } finally {
    ring?.close();
    subscriber?.close();
    await writer?.abort();
    hw?.close();
    timer.close();
  }
}
