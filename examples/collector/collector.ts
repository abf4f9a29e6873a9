// A per-tick collector on the shared sync timer: one record per CPU per tick (context
// switches since the previous tick, the interrupted task), written as NDJSON to stdout.
//
//   node examples/dist/collector/collector.js [--interval-ms 10] [--duration-s 5]
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfError, BpfObject, RingBuffer } from '@bpf-sync-timer/libbpf';
import { checkInterval, SyncTimer, SyncTimerError, type CpuTimerStats, type Subscriber } from 'bpf-sync-timer';
import * as skel from './collector.skel';
import { decodeRecord, toNdjson, type CollectorRecord } from './records';

const OBJECT_PATH = path.join(__dirname, '../../collector/obj/collector.bpf.o');

/** Options of `startCollector`. */
export interface CollectorOptions {
  intervalNs: number | bigint;
  /** Called on the event loop for every record, in ring buffer order. */
  onRecord(record: CollectorRecord): void;
}

/** What a stopped collector reports. */
export interface CollectorSummary {
  /** Records the ring buffer had no room for, per armed CPU. */
  drops: { cpu: number; drops: bigint }[];
  /** The timer's own counters per armed CPU (ticks, missed grid points, ...). */
  timer: CpuTimerStats[];
}

/** A running collector. */
export interface Collector {
  readonly timer: SyncTimer;
  /** Delivers the records still in the ring buffer, then releases everything. Idempotent. */
  stop(): CollectorSummary;
}

/** Starts the timer and the collector's programs; records flow until `stop()`. */
export async function startCollector(options: CollectorOptions): Promise<Collector> {
  const timer = await SyncTimer.start(options.intervalNs);
  try {
    // Shares the object's sync_timer_bitmap with the timer's, sets my_sync_timer_id (a
    // const volatile) before load, loads and attaches; closing it gives the id back.
    const subscriber = timer.subscribe(BpfObject.open(OBJECT_PATH), { idVariable: 'my_sync_timer_id' });
    // Records written before this wait in the ring buffer map: none is lost.
    const ring = new RingBuffer(subscriber.object.map('records'), (bytes) => options.onRecord(decodeRecord(bytes)));
    return { timer, stop: stopper(timer, subscriber, skel.adopt(subscriber.object), ring) };
  } catch (e) {
    timer.close(); // closes the subscriber too
    throw e;
  }
}

function stopper(timer: SyncTimer, subscriber: Subscriber, typed: skel.Collector, ring: RingBuffer): () => CollectorSummary {
  let summary: CollectorSummary | undefined;
  return () => {
    if (summary) return summary;
    ring.close(); // consumes what is ready first
    const drops = typed.maps.drops.lookup(0)!; // one __u64 per possible CPU
    summary = {
      drops: timer.cpus.map((cpu) => ({ cpu, drops: drops[cpu] })),
      timer: timer.stats(),
    };
    subscriber.close();
    timer.close();
    return summary;
  };
}

const USAGE = 'usage: collector [--interval-ms 10] [--duration-s 5]   (--duration-s 0: until SIGINT)';

/** Parses the command line; throws a message meant for the user. */
export function parseCli(argv: string[]): { intervalNs: bigint; durationS: number } {
  const { values } = parseArgs({
    args: argv,
    options: { 'interval-ms': { type: 'string', default: '10' }, 'duration-s': { type: 'string', default: '5' } },
    strict: true,
  });
  const intervalMs = Number(values['interval-ms']);
  const durationS = Number(values['duration-s']);
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) throw new Error(`--interval-ms must be a positive number, got '${values['interval-ms']}'`);
  if (!(durationS >= 0) || !Number.isFinite(durationS)) throw new Error(`--duration-s must be a number >= 0, got '${values['duration-s']}'`);
  try {
    return { intervalNs: checkInterval(Math.round(intervalMs * 1e6)), durationS };
  } catch (e) {
    throw new Error(`--interval-ms ${values['interval-ms']}: ${(e as Error).message}`);
  }
}

/** Batches lines into one stdout write per event loop turn (records arrive in batches). */
function lineWriter(out: NodeJS.WritableStream): { write(line: string): void; flush(): void } {
  let lines: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (lines.length === 0) return;
    out.write(lines.join('\n') + '\n');
    lines = [];
  };
  return {
    write(line) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

async function cli(argv: string[]): Promise<void> {
  let args;
  try {
    args = parseCli(argv);
  } catch (e) {
    console.error(`collector: ${(e as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const out = lineWriter(process.stdout);
  let records = 0;
  let migrations = 0;
  const collector = await startCollector({
    intervalNs: args.intervalNs,
    onRecord: (r) => {
      records++;
      if (r.type === 'migration') migrations++;
      out.write(toNdjson(r));
    },
  });
  const started = process.hrtime.bigint();
  const t = collector.timer;
  console.error(`collector: started on CPUs ${t.cpus.join(',')}, interval ${t.intervalNs} ns, mode ${t.mode}; NDJSON on stdout, Ctrl-C stops`);

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(deadline);
    process.off('SIGINT', stop).off('SIGTERM', stop);
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    const summary = collector.stop(); // ~0.1 s: detaching a tracepoint waits for an RCU grace period
    out.flush();
    const drops = summary.drops.map((d) => `cpu${d.cpu}=${d.drops}`).join(' ');
    const missed = summary.timer.map((s) => `cpu${s.cpu}=${s.missed}`).join(' ');
    console.error(`collector: stopped after ${secs.toFixed(2)} s: ${records} records (${migrations} migrations); ring buffer drops ${drops}; timer missed ${missed}`);
  };
  const deadline = args.durationS > 0 ? setTimeout(stop, args.durationS * 1000) : undefined;
  process.on('SIGINT', stop).on('SIGTERM', stop);
  // A closed pipe (`collector | head`) ends the run quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stop();
  });
}

if (require.main === module) {
  cli(process.argv.slice(2)).catch((e) => {
    // The library's errors say what failed and what to do; anything else is a bug: show the stack.
    if (e instanceof SyncTimerError || e instanceof BpfError) {
      console.error(`collector: ${e.message}`);
    } else {
      console.error('collector:', e);
    }
    process.exitCode = 1;
  });
}
