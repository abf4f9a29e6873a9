#!/usr/bin/env node
// Benchmark of the shared sync timer against what users would pick instead, measured side
// by side in one run on this machine: perf_event sampling (a PERF_COUNT_SW_CPU_CLOCK event
// per CPU + a BPF_PROG_TYPE_PERF_EVENT program, as bpftrace's profile:hz), a user-space
// timer (pinned threads, clock_nanosleep(TIMER_ABSTIME), BPF_PROG_RUN), bpftrace itself, and
// the same sync timer started by a C harness (to show the TypeScript side adds nothing).
// For each: delivery per CPU, lateness against the grid, cross-CPU skew, BPF cost per tick
// (kernel.bpf_stats_enabled, restored afterwards), start-up; idle and with a CPU hog.
//
// Writes bench/out/sync-timer/{report.md,report.html,results.json} and the README's
// benchmark section. Needs root and a built project (bash scripts/build.sh); bpftrace is
// optional (apt-get install bpftrace). Leaves nothing behind: no maps, no processes,
// bpf_stats as it was.
//
// usage: node bench/sync-timer/run.mjs [--quick] [--runs N] [--duration SECONDS] [--warmup MS]
//          [--intervals 10ms,1ms,100us] [--subscribers 1,8,64] [--loads idle,busy]
//          [--methods sync,sync-c,perf,user,bpftrace] [--out DIR] [--no-readme | --readme]
//          [--render-only]          (rebuild the reports from the last run's analyses.v8 in --out)
//          [--startup N]            (start-up scenario: N fresh processes per side, TS and C harness;
//                                    default profile 20, quick 3, 0 to leave it out)
//          [--startup-only]         (only that scenario: writes startup.json, not the report or README)
//          [--wait-quiet SECONDS]   (default profile: 600; before each run, wait while other processes
//                                    keep a CPU busy, and repeat a run they disturbed; SECONDS of
//                                    waiting in all, then it measures regardless)
// environment: SYNC_TIMER_BENCH_PROFILE=quick|default, SYNC_TIMER_BENCH_RUNS,
//              SYNC_TIMER_BENCH_DURATION (seconds), SYNC_TIMER_BENCH_OUT
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { analyzeRun } from './lib/analyze.mjs';
import { bpftraceFits, measure, METHODS } from './lib/methods.mjs';
import { buildReport, fmtInterval, replaceReadmeSection } from './lib/report.mjs';
import { measureStartup, startupLine, startupTable, summarizeStartup } from './lib/startup.mjs';
import { summarize } from './lib/summary.mjs';
import { bpfStatsValue, build, buildDir, enableBpfStats, loadLibraries, log, machineFacts, onlineCpus, repo, runCleanups, sleep, startHog } from './lib/system.mjs';

const PROFILES = {
  // every interval at 1 subscriber (delivery, lateness, skew), subscribers vary cost only: 1/8/64 at 1 ms
  default: { runs: 3, durationS: 2, warmupMs: 300, waitQuietS: 600, startupPairs: 20, intervals: [10_000_000, 1_000_000, 100_000], subscriberCounts: [1, 8, 64], loads: ['idle', 'busy'], methods: METHODS },
  // for the test: a few seconds, every method and plot once
  quick: { runs: 1, durationS: 0.5, warmupMs: 150, waitQuietS: 0, startupPairs: 3, intervals: [1_000_000], subscriberCounts: [1, 8], loads: ['idle', 'busy'], methods: METHODS },
};

export function parseOptions(argv, env = process.env) {
  const profile = argv.includes('--quick') ? 'quick' : env.SYNC_TIMER_BENCH_PROFILE || 'default';
  if (!PROFILES[profile]) usage(`unknown profile '${profile}' (quick or default)`);
  const o = { profile, ...structuredClone(PROFILES[profile]), out: env.SYNC_TIMER_BENCH_OUT || buildDir, readme: profile === 'default' };
  if (env.SYNC_TIMER_BENCH_RUNS) o.runs = positive('SYNC_TIMER_BENCH_RUNS', env.SYNC_TIMER_BENCH_RUNS);
  if (env.SYNC_TIMER_BENCH_DURATION) o.durationS = positive('SYNC_TIMER_BENCH_DURATION', env.SYNC_TIMER_BENCH_DURATION);
  for (let i = 0; i < argv.length; i++) {
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
    switch (argv[i]) {
      case '--quick': break;
      case '--runs': o.runs = Math.round(positive('--runs', value())); break;
      case '--duration': o.durationS = positive('--duration', value()); break;
      case '--warmup': o.warmupMs = positive('--warmup', value()); break;
      case '--intervals': o.intervals = value().split(',').map((v) => parseInterval(v)); break;
      case '--subscribers': o.subscriberCounts = value().split(',').map((v) => Math.round(positive('--subscribers', v))); break;
      case '--loads': o.loads = value().split(','); if (!o.loads.every((l) => l === 'idle' || l === 'busy')) usage('--loads: idle and/or busy'); break;
      case '--methods': o.methods = value().split(','); if (!o.methods.every((m) => METHODS.includes(m))) usage(`--methods: some of ${METHODS.join(',')}`); break;
      case '--out': o.out = path.resolve(value()); break;
      case '--wait-quiet': o.waitQuietS = Number(value()); if (!(o.waitQuietS >= 0)) usage('--wait-quiet: seconds, 0 to not wait'); break;
      case '--render-only': o.renderOnly = true; break;
      case '--startup': o.startupPairs = Number(value()); if (!(Number.isInteger(o.startupPairs) && o.startupPairs >= 0)) usage('--startup: a number of starts per side, 0 to leave the scenario out'); break;
      case '--startup-only': o.startupOnly = true; break;
      case '--no-readme': o.readme = false; o.noReadme = true; break;
      case '--readme': o.readme = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  if (o.subscriberCounts.some((n) => n > 64)) usage('--subscribers: at most 64 (the bitmap has 64 bits)');
  o.durationNs = Math.round(o.durationS * 1e9);
  // cost against subscribers is measured at 1 ms when it is among the intervals, else at the first
  o.costInterval = o.intervals.includes(1_000_000) ? 1_000_000 : o.intervals[0];
  if (!o.subscriberCounts.includes(1)) o.subscriberCounts.unshift(1);
  return o;
}

function positive(what, v) {
  const n = Number(v);
  if (!(n > 0)) usage(`${what}: expected a positive number, got '${v}'`);
  return n;
}

function parseInterval(text) {
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s)$/.exec(text.trim());
  if (!m) usage(`--intervals: cannot read '${text}' (e.g. 10ms,1ms,100us)`);
  const ns = Math.round(Number(m[1]) * { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 }[m[2]]);
  if (ns < 10_000) usage(`--intervals: ${text} is below 10 µs`);
  return ns;
}

function usage(msg) {
  if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
  process.stderr.write('usage: node bench/sync-timer/run.mjs [--quick] [--runs N] [--duration SECONDS] [--warmup MS] [--intervals 10ms,1ms,100us] [--subscribers 1,8,64] [--loads idle,busy] [--methods sync,sync-c,perf,user,bpftrace] [--out DIR] [--no-readme|--readme] [--wait-quiet SECONDS] [--startup N] [--startup-only]\n');
  process.exit(msg ? 2 : 0);
}

/** The runs to make, grouped by load (the hog runs through a whole group), methods interleaved. */
export function plan(o, { bpftrace }) {
  const skipped = [];
  const groups = [];
  for (const load of o.loads) {
    const runs = [];
    for (let rep = 1; rep <= o.runs; rep++) {
      const rotate = (list) => list.map((_, i) => list[(i + rep - 1) % list.length]);
      for (const T of o.intervals) {
        for (const method of rotate(o.methods)) {
          if (method === 'bpftrace' && (!bpftrace || !bpftraceFits(T))) continue;
          runs.push({ method, intervalNs: T, subscribers: 1, load, rep });
        }
      }
      for (const n of o.subscriberCounts.filter((c) => c !== 1 || !o.intervals.includes(o.costInterval))) {
        for (const method of rotate(o.methods.filter((m) => m !== 'bpftrace'))) runs.push({ method, intervalNs: o.costInterval, subscribers: n, load, rep });
      }
      if (o.methods.includes('sync')) runs.push({ method: 'sync-timed', intervalNs: o.costInterval, subscribers: 1, load, rep });
    }
    groups.push({ load, runs });
  }
  if (o.methods.includes('bpftrace')) {
    if (!bpftrace) skipped.push('bpftrace (not installed: apt-get install bpftrace)');
    else for (const T of o.intervals.filter((t) => !bpftraceFits(t))) skipped.push(`bpftrace at ${fmtInterval(T)} (profile:hz needs a whole number of Hz)`);
    if (o.subscriberCounts.some((n) => n > 1)) skipped.push('bpftrace with several subscribers (each would be another bpftrace process with its own perf events: the perf_event rows)');
  }
  return { groups, skipped };
}

/** Busy fraction of the busiest CPU over `ms` (leaving out `exclude`, the hog's), from /proc/stat. */
async function busiestCpu(ms, exclude = -1) {
  const read = () => fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => {
    const f = l.split(/\s+/);
    const v = f.slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return [Number(f[0].slice(3)), total - v[3] - v[4], total];
  });
  const a = read();
  await sleep(ms);
  return Math.max(0, ...read().map(([cpu, busy, total], i) => (cpu === exclude ? 0 : (busy - a[i][1]) / Math.max(1, total - a[i][2]))));
}

/** Waits (up to `seconds`) until no CPU but `exclude` is more than 20% busy; returns whether it is. */
async function waitQuiet(seconds, exclude = -1, sampleMs = 1000) {
  const end = Date.now() + seconds * 1000;
  let said = false;
  for (;;) {
    const busy = await busiestCpu(sampleMs, exclude);
    if (busy < 0.2) {
      if (said) log(`machine quiet again (busiest CPU ${(busy * 100).toFixed(0)}%)`);
      return true;
    }
    if (Date.now() > end) {
      log(`machine still busy (busiest CPU ${(busy * 100).toFixed(0)}%) after ${Math.round(seconds)} s: measuring anyway`);
      return false;
    }
    if (!said) log(`other processes keep a CPU ${(busy * 100).toFixed(0)}% busy: waiting for a quiet machine (up to ${Math.round(seconds)} s)`);
    said = true;
  }
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (o.renderOnly) return renderOnly(o);
  if (process.getuid?.() !== 0) {
    process.stderr.write('run.mjs: needs root (BPF, perf events, kernel.bpf_stats_enabled): sudo npm run bench:sync-timer\n');
    process.exit(1);
  }
  const started = Date.now();
  build();
  const lib = await loadLibraries();
  const machine = machineFacts();
  const cpus = onlineCpus();
  const startup = o.startupPairs > 0 ? await measureStartup(lib, { intervalNs: STARTUP_INTERVAL_NS, cpus, pairs: o.startupPairs, log }) : undefined;
  if (o.startupOnly) return writeStartupOnly(o, machine, startup);
  const hogCpu = cpus[cpus.length - 1];
  const { groups, skipped } = plan(o, { bpftrace: Boolean(machine.bpftrace) });
  const total = groups.reduce((a, g) => a + g.runs.length, 0);
  log(`profile ${o.profile}: ${total} runs of ${o.durationS} s on CPUs ${cpus.join(',')}; bpf_stats_enabled was ${bpfStatsValue()}`);
  const stats = enableBpfStats();
  const analyses = [];
  const failures = [];
  let done = 0;
  let repeated = 0;
  let waitBudgetS = o.waitQuietS; // for the whole bench, not per run
  try {
    for (const group of groups) {
      const hog = group.load === 'busy' ? startHog(hogCpu) : null;
      try {
        if (hog) await sleep(300);
        for (const r of group.runs) {
          const cfg = { ...r, cpus, durationNs: o.durationNs, warmupMs: o.warmupMs };
          const t = Date.now();
          const what = `${r.method} ${fmtInterval(r.intervalNs)} ×${r.subscribers} ${r.load} #${r.rep}`;
          try {
            const exclude = hog ? hogCpu : -1;
            let a;
            for (let attempt = 1; ; attempt++) {
              let quiet = false;
              if (waitBudgetS > 0) {
                const t0 = Date.now();
                quiet = await waitQuiet(waitBudgetS, exclude, 300);
                waitBudgetS -= (Date.now() - t0) / 1000;
              }
              a = analyzeRun(await measure(lib, cfg));
              // other work that came up during the run: measure it again once it is gone
              if (!quiet || attempt === 3 || (await busiestCpu(300, exclude)) < 0.2) break;
              repeated++;
              log(`${what}: other processes came up during the run; measuring it again`);
            }
            analyses.push(a);
            log(`[${++done}/${total}] ${what}: delivery ${a.delivery.map((d) => (d * 100).toFixed(1)).join('/')}%, late p50/p99 ${a.latenessUs.p50.toFixed(1)}/${a.latenessUs.p99.toFixed(1)} µs, skew p99 ${a.skewUs.p99.toFixed(1)} µs, sub ${a.cost.sub0Ns.toFixed(0)} ns (${((Date.now() - t) / 1000).toFixed(1)} s)`);
          } catch (e) {
            done++;
            failures.push(`${what}: ${e.message}`);
            log(`[${done}/${total}] ${what} FAILED: ${e.stack ?? e}`);
          }
          await sleep(50);
        }
      } finally {
        await hog?.stop();
      }
    }
  } finally {
    stats.dispose();
  }
  if (analyses.length === 0) throw new Error(`every run failed:\n${failures.join('\n')}`);
  const run = { opts: o, machine, hogCpu, analyses, startup, repeated, skipped: [...skipped, ...failures.map((f) => `failed: ${f}`)], elapsedMs: Date.now() - started, finishedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  fs.mkdirSync(o.out, { recursive: true });
  // everything the report is made of, so it can be rebuilt without measuring again (--render-only)
  fs.writeFileSync(path.join(o.out, 'analyses.v8'), v8.serialize(run));
  render(run, o);
  log(`wrote ${path.join(o.out, 'report.md')}, report.html, results.json in ${((Date.now() - started) / 1000).toFixed(0)} s${failures.length ? ` (${failures.length} run(s) failed)` : ''}`);
  return failures.length ? 1 : 0;
}

// The start-up scenario's interval: the first tick comes at the next grid point, so a short
// interval keeps that wait (the same for both sides) from hiding the start-up itself.
const STARTUP_INTERVAL_NS = 100_000;

/** --startup-only: startup.json (the ratio, the medians, every run) and the table on stdout. */
function writeStartupOnly(o, machine, startup) {
  if (!startup) usage('--startup-only needs --startup N with N > 0');
  const s = summarizeStartup(startup);
  fs.mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, 'startup.json');
  fs.writeFileSync(file, JSON.stringify({ startup_node_over_c: s.startup_node_over_c, machine, startup: s, runs: startup }, null, 1));
  const { head, rows } = startupTable(s);
  process.stdout.write(`${startupLine(s)}\n\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`);
  log(`wrote ${file}`);
  return 0;
}

/** Writes report.md, report.html, results.json and (default profile) the README section. */
function render(run, o) {
  const summary = summarize(run.analyses);
  const startup = run.startup ? summarizeStartup(run.startup) : undefined;
  const ctx = { ...run, summary, startup };
  const report = buildReport(ctx);
  fs.writeFileSync(path.join(o.out, 'report.md'), report.md);
  fs.writeFileSync(path.join(o.out, 'report.html'), report.html);
  fs.writeFileSync(path.join(o.out, 'results.json'), JSON.stringify({
    options: run.opts, machine: run.machine, elapsedMs: run.elapsedMs, skipped: run.skipped, repeated: run.repeated, aims: report.aims,
    startup_node_over_c: startup?.startup_node_over_c ?? null, startup: startup ?? null,
    configurations: [...summary.values()].map(({ analyses: runs, ...c }) => ({ ...c, runs: runs.map(({ latenessSorted, raster, ...a }) => a) })),
  }, null, 1));
  if (o.readme) {
    const readmePath = path.join(repo, 'README.md');
    fs.writeFileSync(readmePath, replaceReadmeSection(fs.readFileSync(readmePath, 'utf8'), report.readme));
    log('README.md benchmark section updated');
  }
  process.stdout.write(`${report.md}\n`);
}

/** --render-only: the reports again from the last run's analyses. */
function renderOnly(o) {
  const file = path.join(o.out, 'analyses.v8');
  if (!fs.existsSync(file)) throw new Error(`no ${file}: run the benchmark first`);
  const run = v8.deserialize(fs.readFileSync(file));
  render(run, { ...o, readme: !o.noReadme && run.opts.profile === 'default' });
  log(`rebuilt the reports in ${o.out} from ${file} (measured ${run.finishedAt})`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/sync-timer/run.mjs')) {
  main().then((code) => {
    runCleanups();
    process.exit(code);
  }, (e) => {
    process.stderr.write(`run.mjs: ${e.stack ?? e}\n`);
    runCleanups();
    process.exit(1);
  });
}

