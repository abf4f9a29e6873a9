#!/usr/bin/env node
// What a subscriber costs on tracepoint/timer/hrtimer_expire_exit, where it runs on every
// hrtimer expiry of its CPU, ticks or not: kernel.bpf_stats_enabled (restored afterwards)
// counts run_cnt and run_time_ns of programs attached there at once, in one run, while the
// sync timer runs:
//   empty            returns 0: the floor bpf_stats charges any program here
//   take_tick        a check-only subscriber on sync_timer_take_tick()
//   check_and_reset  a check-only subscriber on sync_timer_check_and_reset() (the seeds' form)
//   seed000          examples/seed/bpf/seed000.bpf.c as the seeds write it, built against our header
//   read_id          only the id's load (where the cost goes)
//   read_bitmap      only the per-CPU entry's lookup and a plain read (where the cost goes)
// Each repetition loads every program afresh and attaches them behind an unmeasured empty
// lead program, in an order rotated by one each time (a program's place in the tracepoint's
// array changes what it pays); the ratios are to the empty program of the same repetition.
// Two loads: `timer` (the timer alone: most expiries are ticks) and `foreign` (a sleeper
// thread per CPU, c/sleeper.c: most expiries are not ticks, the path the helper keeps short).
//
// Writes bench/out/subscriber/{report.md,results.json}. Needs root and a built project
// (bash scripts/build.sh). Figures only: nothing here asserts a time.
//
// usage: node bench/subscriber/run.mjs [--quick] [--reps N] [--duration SECONDS]
//          [--interval 1ms] [--loads timer,foreign] [--sleep-us 50] [--out DIR]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableBpfStats, loadLibraries, log, machineFacts, onlineCpus, progStats, repo, runCleanups, sleep, spawnChild, stopChild } from '../sync-timer/lib/system.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDefault = path.join(repo, 'bench/out/subscriber');

/** The measured programs, in report order; `file` is in the build's bpf/ directory. */
export const PROGRAMS = [
  { name: 'empty', file: 'sub_empty.bpf.o', prog: 'on_expire_exit', what: 'returns 0' },
  { name: 'take_tick', file: 'sub_take_tick.bpf.o', prog: 'on_expire_exit', what: 'check-only, sync_timer_take_tick()' },
  { name: 'check_and_reset', file: 'sub_check_and_reset.bpf.o', prog: 'on_expire_exit', what: 'check-only, sync_timer_check_and_reset()' },
  { name: 'seed000', file: 'seed000.bpf.o', prog: 'handle_hrtimer_expire_exit', what: 'examples/seed/bpf/seed000.bpf.c (check_and_reset, lookup, CPU check, counter)' },
  { name: 'read_id', file: 'sub_read_id.bpf.o', prog: 'on_expire_exit', what: 'only loads the id (.rodata)' },
  { name: 'read_bitmap', file: 'sub_read_bitmap.bpf.o', prog: 'on_expire_exit', what: "only looks up this CPU's entry and reads trigger_mask" },
];

/** The aim of issue 11: a check-only subscriber within this many times the empty program. */
export const AIM = 1.5;

const PROFILES = {
  default: { reps: 12, durationS: 2, warmupMs: 300, intervalNs: 1_000_000, loads: ['timer', 'foreign'], sleepUs: 50 },
  quick: { reps: 2, durationS: 0.5, warmupMs: 100, intervalNs: 1_000_000, loads: ['timer', 'foreign'], sleepUs: 50 },
};

export function parseOptions(argv) {
  const profile = argv.includes('--quick') ? 'quick' : 'default';
  const o = { profile, ...structuredClone(PROFILES[profile]), out: outDefault };
  for (let i = 0; i < argv.length; i++) {
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
    switch (argv[i]) {
      case '--quick': break;
      case '--reps': o.reps = positiveInt('--reps', value()); break;
      case '--duration': o.durationS = positive('--duration', value()); break;
      case '--interval': o.intervalNs = interval(value()); break;
      case '--loads': o.loads = value().split(','); if (!o.loads.every((l) => l === 'timer' || l === 'foreign')) usage('--loads: timer and/or foreign'); break;
      case '--sleep-us': o.sleepUs = positive('--sleep-us', value()); break;
      case '--out': o.out = path.resolve(value()); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

function positive(what, v) {
  const n = Number(v);
  if (!(n > 0)) usage(`${what}: expected a positive number, got '${v}'`);
  return n;
}

const positiveInt = (what, v) => Math.max(1, Math.round(positive(what, v)));

function interval(text) {
  const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)$/.exec(text.trim());
  if (!m) usage(`--interval: cannot read '${text}' (e.g. 1ms, 100us)`);
  return Math.round(Number(m[1]) * { us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 }[m[2]]);
}

function usage(msg) {
  if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/subscriber/run.mjs [--quick] [--reps N] [--duration SECONDS] [--interval 1ms] [--loads timer,foreign] [--sleep-us 50] [--out DIR]\n');
  process.exit(msg ? 2 : 0);
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: repo, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${what} failed: ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
}

/** This bench's programs, the seeds (against the current header) and the sleeper, when stale. */
function build(out) {
  if (!fs.existsSync(path.join(repo, 'packages/bpf-sync-timer/dist/src/index.js'))) throw new Error(`the project is not built: cd ${repo} && bash scripts/build.sh`);
  const bpf = path.join(out, 'bpf');
  for (const src of ['bench/subscriber/bpf', 'examples/seed/bpf']) run('bash', ['scripts/build-bpf.sh', src, bpf, '-I', 'packages/bpf-sync-timer/include'], `build-bpf ${src}`);
  const bin = path.join(out, 'bin', 'sleeper');
  const src = path.join(here, 'c/sleeper.c');
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src, '-lpthread'], 'gcc sleeper.c');
  return { bpf, sleeper: bin };
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const perCpuSum = (map) => sum(map.lookupPerCpu(0).map((b) => Number(b.readBigUInt64LE(0))));

/** Loads one program afresh, sharing the timer's bitmap, with id `id` when it has one. */
function loadProgram(lib, dir, p, timer, id) {
  const open = lib.BpfObject.open(path.join(dir, p.file));
  try {
    if (p.name !== 'empty') {
      open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
      open.rodata.set('my_sync_timer_id', BigInt(id));
    }
    const object = open.load();
    return { ...p, object, program: object.program(p.prog) };
  } catch (e) {
    open.close();
    throw e;
  }
}

/** Ticks a program took (its own counter), where it counts them. */
function ticksTaken(p) {
  const map = { take_tick: 'taken', check_and_reset: 'taken', seed000: 'ticks' }[p.name];
  return map ? perCpuSum(p.object.map(map)) + (p.name === 'seed000' ? perCpuSum(p.object.map('migrations')) : 0) : null;
}

/** One repetition: every program loaded, attached behind the lead in rotated order, measured, closed. */
async function repetition(lib, o, dirs, timer, rep) {
  const order = PROGRAMS.map((_, i) => PROGRAMS[(i + rep) % PROGRAMS.length]);
  const ids = [];
  const loaded = [];
  const lead = loadProgram(lib, dirs.bpf, PROGRAMS[0], timer);
  try {
    lead.object.attachAll();
    for (const p of order) {
      const id = p.name === 'empty' ? null : timer.assignId();
      if (id !== null) ids.push(id);
      const l = loadProgram(lib, dirs.bpf, p, timer, id);
      loaded.push(l);
      l.object.attachAll();
    }
    await sleep(o.warmupMs);
    const take = () => loaded.map((l) => ({ stats: progStats(process.pid, l.program.fd), taken: ticksTaken(l) }));
    const s0 = take();
    const timer0 = timer.stats();
    await sleep(o.durationS * 1000);
    const s1 = take();
    const timer1 = timer.stats();
    const ticks = sum(timer1.map((t) => Number(t.ticks))) - sum(timer0.map((t) => Number(t.ticks)));
    const rows = loaded.map((l, i) => {
      const runCnt = s1[i].stats.runCnt - s0[i].stats.runCnt;
      const runTimeNs = s1[i].stats.runTimeNs - s0[i].stats.runTimeNs;
      return { name: l.name, position: i, runCnt, runTimeNs, nsPerRun: runTimeNs / runCnt, taken: l.taken === null || s1[i].taken === null ? null : s1[i].taken - s0[i].taken };
    });
    const empty = rows.find((r) => r.name === 'empty');
    for (const r of rows) r.ratio = r.nsPerRun / empty.nsPerRun;
    return { rep, ticks, rows: PROGRAMS.map((p) => rows.find((r) => r.name === p.name)) };
  } finally {
    for (const l of loaded) l.object.close();
    lead.object.close();
    for (const id of ids) timer.releaseId(id);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/** Per program over the repetitions: pooled ns/run (every place in the array), median ratio, range. */
export function summarizeLoad(reps) {
  const runs = sum(reps.map((r) => r.rows[0].runCnt));
  const ticks = sum(reps.map((r) => r.ticks));
  const pooledEmpty = sum(reps.map((r) => r.rows[0].runTimeNs)) / runs;
  return {
    tickShare: ticks / runs,
    programs: PROGRAMS.map((p, i) => {
      const rows = reps.map((r) => r.rows[i]);
      const runCnt = sum(rows.map((r) => r.runCnt));
      const runTimeNs = sum(rows.map((r) => r.runTimeNs));
      const ratios = rows.map((r) => r.ratio);
      return {
        name: p.name, what: p.what, runCnt, runTimeNs, nsPerRun: runTimeNs / runCnt, pooledRatio: runTimeNs / runCnt / pooledEmpty,
        medianRatio: median(ratios), minRatio: Math.min(...ratios), maxRatio: Math.max(...ratios),
        nsPerRunByRep: rows.map((r) => r.nsPerRun), taken: rows.every((r) => r.taken === null) ? null : sum(rows.map((r) => r.taken ?? 0)),
      };
    }),
  };
}

function loadLabel(o, load) {
  return load === 'timer' ? `the timer alone (${o.intervalNs / 1e6} ms)` : `the timer (${o.intervalNs / 1e6} ms) + a sleeper per CPU (${o.sleepUs} µs sleeps)`;
}

export function report(result) {
  const { options: o } = result;
  const lines = [`# Subscriber cost on hrtimer_expire_exit`, '', `${result.machine.cpuModel}, ${result.machine.cpus.length} CPUs, kernel ${result.machine.kernel}; ${o.reps} repetitions of ${o.durationS} s per load, every program attached at once, rotated; bpf_stats (run_time_ns / run_cnt). Aim: a check-only subscriber within ${AIM}× the empty program.`, ''];
  for (const [load, s] of Object.entries(result.loads)) {
    lines.push(`## ${loadLabel(o, load)}`, '', `ticks are ${(s.tickShare * 100).toFixed(1)}% of the expiries the programs ran on`, '');
    lines.push('| program | run_cnt | run_time_ns | ns/run (pooled) | × empty (pooled) | × empty (median, min–max per rep) | ticks taken | what |', '|---|---:|---:|---:|---:|---:|---:|---|');
    for (const p of s.programs) {
      lines.push(`| ${p.name} | ${p.runCnt} | ${p.runTimeNs} | ${p.nsPerRun.toFixed(1)} | ${p.pooledRatio.toFixed(2)} | ${p.medianRatio.toFixed(2)} (${p.minRatio.toFixed(2)}–${p.maxRatio.toFixed(2)}) | ${p.taken ?? ''} | ${p.what} |`);
    }
    const check = s.programs.filter((p) => p.name === 'take_tick' || p.name === 'check_and_reset');
    lines.push('', `check-only within ${AIM}× empty (median ratio): ${check.map((p) => `${p.name} ${p.medianRatio <= AIM ? 'yes' : 'no'} (${p.medianRatio.toFixed(2)})`).join(', ')}`, '');
  }
  return lines.join('\n');
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('run.mjs: needs root (BPF, kernel.bpf_stats_enabled): sudo npm run bench:subscriber\n');
    return 1;
  }
  const started = Date.now();
  const dirs = build(o.out);
  const lib = await loadLibraries();
  const cpus = onlineCpus();
  const stats = enableBpfStats();
  const loads = {};
  const raw = {};
  try {
    for (const load of o.loads) {
      const sleeper = load === 'foreign' ? spawnChild(dirs.sleeper, [String(Math.round(o.sleepUs * 1000)), cpus.join(',')], { stdio: 'ignore' }) : null;
      const timer = await lib.SyncTimer.start(o.intervalNs, { cpus, logger: () => {} });
      try {
        raw[load] = [];
        for (let rep = 0; rep < o.reps; rep++) {
          const r = await repetition(lib, o, dirs, timer, rep);
          raw[load].push(r);
          log(`${load} #${rep + 1}/${o.reps}: ${r.rows.map((x) => `${x.name} ${x.nsPerRun.toFixed(0)} ns (${x.ratio.toFixed(2)}×)`).join(', ')}`);
        }
        loads[load] = summarizeLoad(raw[load]);
      } finally {
        timer.close();
        if (sleeper) await stopChild(sleeper, 'SIGKILL');
      }
    }
  } finally {
    stats.dispose();
  }
  const result = { options: o, machine: machineFacts(), aim: AIM, elapsedMs: Date.now() - started, finishedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), loads, repetitions: raw };
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'results.json'), JSON.stringify(result, null, 1));
  const md = report(result);
  fs.writeFileSync(path.join(o.out, 'report.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
  log(`wrote ${path.join(o.out, 'report.md')} and results.json in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/subscriber/run.mjs')) {
  main().then((code) => {
    runCleanups();
    process.exit(code);
  }, (e) => {
    process.stderr.write(`run.mjs: ${e.stack ?? e}\n`);
    runCleanups();
    process.exit(1);
  });
}
