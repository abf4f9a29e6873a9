#!/usr/bin/env node
// What the in-kernel lateness histogram adds to the timer's tick, measured A/B in one run,
// the two settings alternating so that drift in the machine hits both alike:
//   callback  bench/sync-timer's timed copy of the timer (bpf/sync_timer_timed.bpf.c): the BPF
//             callback alone, between two bpf_ktime_get_ns(), histogram on vs off
//   path      the shipped object (SyncTimer.start({ latenessHistogram })), timed around
//             bpf_timer_cb by bench/sync-timer's tick-path probe (kernel wrapper included)
// Prints a table and writes bench/out/lateness-histogram.json. Run as root:
//   node bench/lateness-histogram/run.mjs [--rounds 6] [--seconds 2] [--interval-us 100]
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
const out = join(root, 'bench', 'out', 'lateness-histogram');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '2' }, 'interval-us': { type: 'string', default: '100' } } });
const rounds = Number(values.rounds);
const windowMs = Number(values.seconds) * 1000;
const intervalNs = BigInt(Number(values['interval-us']) * 1000);

const build = (src) => execFileSync('bash', [join(root, 'scripts', 'build-bpf.sh'), src, out, '-I', join(root, 'packages', 'bpf-sync-timer', 'include')], { stdio: 'inherit' });
build(join(root, 'bench', 'sync-timer', 'bpf')); // sync_timer_timed.bpf.o and tick_path.bpf.o

function kallsym(name) {
  const line = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((l) => l.endsWith(` ${name}`) || l.split(' ')[2] === name);
  if (!line) throw new Error(`no ${name} in /proc/kallsyms`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

const sumPerCpu = (map, offTotal, offCount) => map.lookupPerCpu(0).reduce((a, b) => ({ total: a.total + b.readBigUInt64LE(offTotal), count: a.count + b.readBigUInt64LE(offCount) }), { total: 0n, count: 0n });

/** ns per tick of the timed copy's BPF callback over one window. */
async function callbackRun(enabled) {
  const open = lib.BpfObject.open(join(out, 'sync_timer_timed.bpf.o'));
  open.rodata.set('sync_timer_interval_ns', intervalNs);
  open.rodata.set('sync_timer_lateness_enabled', enabled ? 1 : 0);
  open.map('sync_timer_states_shared').setMaxEntries(lib.numPossibleCpus());
  const object = open.load();
  try {
    await initSyncTimerProgram(object.program('sync_timer_init_shared'), { logger: () => {} });
    await sleep(200);
    const a = sumPerCpu(object.map('callback_time'), 0, 8);
    await sleep(windowMs);
    const b = sumPerCpu(object.map('callback_time'), 0, 8);
    return { nsPerTick: Number(b.total - a.total) / Number(b.count - a.count), ticks: Number(b.count - a.count) };
  } finally {
    object.close();
  }
}

/** ns per tick in bpf_timer_cb (wrapper and callback) for the shipped object over one window. */
async function pathRun(enabled) {
  const open = lib.BpfObject.open(join(out, 'tick_path.bpf.o'));
  open.rodata.set('target_function', kallsym('bpf_timer_cb'));
  const probe = open.load();
  try {
    probe.attachAll();
    const timer = await SyncTimer.start(intervalNs, { latenessHistogram: enabled, logger: () => {} });
    try {
      await sleep(200);
      const a = sumPerCpu(probe.map('path'), 24, 32);
      await sleep(windowMs);
      const b = sumPerCpu(probe.map('path'), 24, 32);
      return { nsPerTick: Number(b.total - a.total) / Number(b.count - a.count), ticks: Number(b.count - a.count) };
    } finally {
      timer.close();
    }
  } finally {
    probe.close();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const results = { intervalNs: Number(intervalNs), windowMs, rounds, callback: { on: [], off: [] }, path: { on: [], off: [] } };
for (let r = 0; r < rounds; r++) {
  // alternate which setting goes first, so neither always follows the other
  const order = r % 2 ? [false, true] : [true, false];
  for (const kind of ['callback', 'path']) {
    for (const enabled of order) {
      const m = await (kind === 'callback' ? callbackRun : pathRun)(enabled);
      results[kind][enabled ? 'on' : 'off'].push(m);
      process.stderr.write(`round ${r + 1}/${rounds} ${kind} histogram ${enabled ? 'on ' : 'off'}: ${m.nsPerTick.toFixed(1)} ns/tick over ${m.ticks} ticks\n`);
    }
  }
}
const rows = ['callback', 'path'].map((kind) => {
  const on = results[kind].on.map((m) => m.nsPerTick);
  const off = results[kind].off.map((m) => m.nsPerTick);
  const diffs = on.map((v, i) => v - off[i]);
  return { kind, onMedian: median(on), offMedian: median(off), addedMedian: median(diffs), addedMin: Math.min(...diffs), addedMax: Math.max(...diffs) };
});
results.summary = rows;
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
writeFileSync(join(root, 'bench', 'out', 'lateness-histogram.json'), JSON.stringify(results, null, 2) + '\n');
console.log(`lateness histogram cost, ${rounds} rounds x ${windowMs / 1000} s per setting, ${Number(intervalNs) / 1000} µs interval, ${lib.onlineCpus().length} CPUs\n`);
console.log('| measured | histogram off ns/tick | on ns/tick | added ns/tick (median of paired rounds, min..max) |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.kind === 'callback' ? 'BPF callback alone (timed copy)' : 'bpf_timer_cb, shipped object (tick-path probe)'} | ${r.offMedian.toFixed(1)} | ${r.onMedian.toFixed(1)} | ${r.addedMedian.toFixed(1)} (${r.addedMin.toFixed(1)}..${r.addedMax.toFixed(1)}) |`);
