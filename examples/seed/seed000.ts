// Seed 000: reuse the timer's bitmap map through the borrowed fd, set the subscriber id
// as a `const volatile` before load, count ticks and migrations per CPU.
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncTimer, type CpuTimerStats } from 'bpf-sync-timer';
import * as seed000 from './seed000.skel'; // bpf-skel's typed skeleton of seed000.bpf.o (scripts/gen-skel.mjs)

const CONSUMER = path.join(__dirname, '../../seed/obj/seed000.bpf.o'); // from bpf/seed000.bpf.c (scripts/build.sh)
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

  using open = seed000.open({ object: CONSUMER }); // disposing it after load() is a no-op
  open.maps.sync_timer_bitmap.reuseFd(timer.borrowedMapFd()); // libbpf dups the fd
  open.rodata.my_sync_timer_id = BigInt(id); // baked into the program at load
  using consumer = open.load();
  consumer.attachAll();

  const start = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const cpus = readCounts(consumer, timer.cpus);
  return { cpus, elapsedNs: process.hrtime.bigint() - start, timer: timer.stats() };
}

function readCounts(consumer: seed000.Seed000, cpus: readonly number[]): CpuCounts[] {
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
