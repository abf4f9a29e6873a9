#!/usr/bin/env node
// What a CLOCK_REALTIME grid (SyncTimer.start({ clock: 'realtime' })) adds to the timer's tick
// against the default monotonic grid, A/B in one run, the two alternating so that drift in the
// machine hits both alike:
//   callback  bench/sync-timer's timed copy of the timer (sync_timer_timed.bpf.c): the BPF
//             callback alone, between two bpf_ktime_get_ns() (the realtime grid adds a TAI read
//             bracketed by two monotonic reads, the step check and the conversion)
//   path      the shipped object, timed around bpf_timer_cb by bench/sync-timer's tick-path
//             probe (kernel wrapper included)
// Prints a table and writes bench/out/realtime-clock.json. Run as root:
//   node bench/realtime-clock/run.mjs [--rounds 6] [--seconds 2] [--interval-us 100]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as lib from '@bpf-sync-timer/libbpf';
import { initSyncTimerProgram, SyncTimer } from 'bpf-sync-timer';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'bench', 'out', 'realtime-clock');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '2' }, 'interval-us': { type: 'string', default: '100' } } });
const rounds = Number(values.rounds);
const windowMs = Number(values.seconds) * 1000;
const intervalNs = BigInt(Number(values['interval-us']) * 1000);
const CLOCKS = ['monotonic', 'realtime'];

execFileSync('bash', [join(root, 'scripts', 'build-bpf.sh'), join(root, 'bench', 'sync-timer', 'bpf'), out, '-I', join(root, 'packages', 'bpf-sync-timer', 'include')], { stdio: 'inherit' });

function kallsym(name) {
  const line = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((l) => l.split(' ')[2] === name);
  if (!line) throw new Error(`no ${name} in /proc/kallsyms`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

const sumPerCpu = (map, offTotal, offCount) => map.lookupPerCpu(0).reduce((a, b) => ({ total: a.total + b.readBigUInt64LE(offTotal), count: a.count + b.readBigUInt64LE(offCount) }), { total: 0n, count: 0n });

/** ns per tick between two readings of a (total, count) per-CPU map over one window. */
async function perTick(read) {
  await sleep(200);
  const a = read();
  await sleep(windowMs);
  const b = read();
  return { nsPerTick: Number(b.total - a.total) / Number(b.count - a.count), ticks: Number(b.count - a.count) };
}

async function callbackRun(clock) {
  const open = lib.BpfObject.open(join(out, 'sync_timer_timed.bpf.o'));
  open.rodata.set('sync_timer_interval_ns', intervalNs);
  open.rodata.set('sync_timer_realtime_enabled', clock === 'realtime' ? 1 : 0);
  open.map('sync_timer_states_shared').setMaxEntries(lib.numPossibleCpus());
  const object = open.load();
  try {
    await initSyncTimerProgram(object.program('sync_timer_init_shared'), { clock, logger: () => {} });
    return await perTick(() => sumPerCpu(object.map('callback_time'), 0, 8));
  } finally {
    object.close();
  }
}

async function pathRun(clock) {
  const open = lib.BpfObject.open(join(out, 'tick_path.bpf.o'));
  open.rodata.set('target_function', kallsym('bpf_timer_cb'));
  const probe = open.load();
  try {
    probe.attachAll();
    const timer = await SyncTimer.start(intervalNs, { clock, mode: 'modern', logger: () => {} });
    try {
      return await perTick(() => sumPerCpu(probe.map('path'), 24, 32));
    } finally {
      timer.close();
    }
  } finally {
    probe.close();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const results = { intervalNs: Number(intervalNs), windowMs, rounds, callback: { monotonic: [], realtime: [] }, path: { monotonic: [], realtime: [] } };
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...CLOCKS].reverse() : CLOCKS;
  for (const kind of ['callback', 'path']) {
    for (const clock of order) {
      const m = await (kind === 'callback' ? callbackRun : pathRun)(clock);
      results[kind][clock].push(m);
      process.stderr.write(`round ${r + 1}/${rounds} ${kind} ${clock}: ${m.nsPerTick.toFixed(1)} ns/tick over ${m.ticks} ticks\n`);
    }
  }
}
const rows = ['callback', 'path'].map((kind) => {
  const mono = results[kind].monotonic.map((m) => m.nsPerTick);
  const real = results[kind].realtime.map((m) => m.nsPerTick);
  const diffs = real.map((v, i) => v - mono[i]);
  return { kind, monotonicMedian: median(mono), realtimeMedian: median(real), addedMedian: median(diffs), addedMin: Math.min(...diffs), addedMax: Math.max(...diffs), ratio: median(real) / median(mono) };
});
results.summary = rows;
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
writeFileSync(join(root, 'bench', 'out', 'realtime-clock.json'), JSON.stringify(results, null, 2) + '\n');
console.log(`realtime grid cost, ${rounds} rounds x ${windowMs / 1000} s per clock, ${Number(intervalNs) / 1000} µs interval, modern mode, ${lib.onlineCpus().length} CPUs\n`);
console.log('| measured | monotonic ns/tick | realtime ns/tick | realtime / monotonic | added ns/tick (median of paired rounds, min..max) |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.kind === 'callback' ? 'BPF callback alone (timed copy)' : 'bpf_timer_cb, shipped object (tick-path probe)'} | ${r.monotonicMedian.toFixed(1)} | ${r.realtimeMedian.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.addedMedian.toFixed(1)} (${r.addedMin.toFixed(1)}..${r.addedMax.toFixed(1)}) |`);
