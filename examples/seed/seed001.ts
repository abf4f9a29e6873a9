// Seed 001: reuse the timer's bitmap map through a duplicated fd, write the subscriber id
// to `.bss` after load, count ticks and migrations per CPU.
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncTimer, type CpuTimerStats } from 'bpf-sync-timer';
import * as seed001 from './seed001.skel'; // bpf-skel's typed skeleton of seed001.bpf.o (scripts/gen-skel.mjs)

const CONSUMER = path.join(__dirname, '../../seed/obj/seed001.bpf.o'); // from bpf/seed001.bpf.c (scripts/build.sh)
const INTERVAL_NS = 1_000_000; // 1 ms

/** What one CPU saw during the run. */
export interface CpuCounts {
  cpu: number;
  ticks: bigint;
  migrations: bigint;
}

/** Runs the subscriber for `seconds`; returns per-CPU counts, the measured window in ns, the timer's stats. */
export async function main(seconds = 2): Promise<{ cpus: CpuCounts[]; elapsedNs: bigint; timer: CpuTimerStats[] }> {
  if (!(seconds > 0)) throw new RangeError(`seconds must be a positive number, got ${seconds}`);
  using timer = await SyncTimer.start(INTERVAL_NS);
  const id = timer.assignId(); // 0..=63

  using open = seed001.open({ object: CONSUMER }); // disposing it after load() is a no-op
  {
    using bitmap = timer.duplicateMapFd(); // ours: closed at the end of this block
    open.maps.sync_timer_bitmap.reuseFd(bitmap.fd); // libbpf dups it again
  }
  using consumer = open.load();
  consumer.bss.my_sync_timer_id = BigInt(id); // live memory of the loaded program
  consumer.attachAll();

  const start = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const cpus = readCounts(consumer, timer.cpus);
  return { cpus, elapsedNs: process.hrtime.bigint() - start, timer: timer.stats() };
}

function readCounts(consumer: seed001.Seed001, cpus: readonly number[]): CpuCounts[] {
  const ticks = consumer.maps.ticks.lookup(0)!; // one __u64 per possible CPU
  const migrations = consumer.maps.migrations.lookup(0)!;
  return cpus.map((cpu) => ({ cpu, ticks: ticks[cpu], migrations: migrations[cpu] }));
}

if (require.main === module) {
  main(Number(process.argv[2] ?? 2)).then(({ cpus }) => {
    for (const c of cpus) console.log(`cpu ${c.cpu}: ${c.ticks} ticks, ${c.migrations} migrations`);
  }, (err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
