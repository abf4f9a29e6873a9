// One process of realtime.test.ts: starts its own SyncTimer with clock 'realtime' (mode from
// argv[2]), watches its bitmap from user space for argv[3] ms and prints, as one JSON line,
// every tick it saw as [cpu, tick index, nominal monotonic ns] and this process's reading of
// CLOCK_REALTIME - CLOCK_MONOTONIC, to compare with another process's.
import { BpfObject } from '@bpf-sync-timer/libbpf';
import { decodeBitmapEntry, SyncTimer, type TimerMode } from '../../src/index';
import { fixture } from './helpers';

/**
 * CLOCK_REALTIME - CLOCK_MONOTONIC as Node sees it: the instant Date.now() turns to a new
 * millisecond is a known realtime, read against hrtime right after; the sample with the
 * smallest delay (largest value) of several wins.
 */
export function realtimeOffsetNs(samples = 8): bigint {
  let best: bigint | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    let t;
    while ((t = Date.now()) === t0);
    const v = BigInt(t) * 1_000_000n - process.hrtime.bigint();
    if (best === undefined || v > best) best = v;
  }
  return best!;
}

async function main(): Promise<void> {
  const mode = process.argv[2] as TimerMode | 'auto';
  const ms = Number(process.argv[3]);
  const interval = BigInt(process.argv[4]);
  const timer = await SyncTimer.start(interval, { clock: 'realtime', mode, logger: () => {}, watchCpusMs: false });
  // a reader of the timer's bitmap, never attached: it only shares the map
  const open = BpfObject.open(fixture('seed_consumer_rodata'));
  open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
  const reader = open.load();
  const seen = new Map<string, [number, string, string]>();
  const pause = new Int32Array(new SharedArrayBuffer(4));
  try {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (const [cpu, b] of reader.map('sync_timer_bitmap').lookupPerCpu(0)!.entries()) {
        const e = decodeBitmapEntry(b);
        if (e.tickIndex !== 0n) seen.set(`${cpu}:${e.tickIndex}`, [cpu, String(e.tickIndex), String(e.nominalNs)]);
      }
      Atomics.wait(pause, 0, 0, 0.2);
    }
    process.stdout.write(`${JSON.stringify({ mode: timer.mode, clock: timer.clock, offsetNs: String(realtimeOffsetNs()), stats: timer.stats().map((s) => ({ cpu: s.cpu, ticks: String(s.ticks), clockSteps: String(s.clockSteps) })), ticks: [...seen.values()] })}\n`);
  } finally {
    reader.close();
    timer.close();
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
}
