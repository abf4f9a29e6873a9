// The clean-room consumer: what a collector author writes after `npm install bpf-sync-timer`.
// Starts the timer, loads a subscriber compiled elsewhere (argv[2]), counts ticks per CPU for
// argv[3] ms, and prints one JSON line. Ordering makes the counts comparable by identity:
// every tick a subscriber counts was counted by the timer first, so for each CPU
// before.ticks - unseen <= hits <= after.ticks.
import { setTimeout as sleep } from 'node:timers/promises';
import { BpfObject, libbpfVersion } from '@bpf-sync-timer/libbpf';
import { SyncTimer, includeDir } from 'bpf-sync-timer';

const [object, ms = '1000'] = process.argv.slice(2);
const internals = [];
// the metrics entry resolves and loads without its optional peers (none is installed here)
const { registerPrometheus } = await import('bpf-sync-timer/metrics');
if (typeof registerPrometheus !== 'function') throw new Error('bpf-sync-timer/metrics: no registerPrometheus');
for (const spec of ['bpf-sync-timer/dist/src/sync-timer.js', '@bpf-sync-timer/libbpf/dist/src/native.js']) {
  try {
    await import(spec);
    internals.push({ spec, importable: true });
  } catch (e) {
    internals.push({ spec, importable: false, code: e.code });
  }
}

const timer = await SyncTimer.start(1_000_000);
try {
  const open = BpfObject.open(object);
  open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
  open.rodata.set('my_sync_timer_id', timer.assignId());
  const consumer = open.load();
  consumer.attachAll();
  await sleep(Number(ms));
  const before = timer.stats();
  const hits = consumer.map('ticks').lookupPerCpu(0);
  const after = timer.stats();
  const cpus = timer.cpus.map((cpu, i) => ({
    cpu,
    before: Number(before[i].ticks),
    hits: Number(hits[cpu].readBigUInt64LE(0)),
    after: Number(after[i].ticks),
    wrongCpu: Number(after[i].wrongCpu),
  }));
  consumer.close();
  console.log(JSON.stringify({ libbpf: libbpfVersion, mode: timer.mode, includeDir, internals, cpus }));
} finally {
  timer.close();
}
