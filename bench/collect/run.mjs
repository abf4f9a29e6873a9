#!/usr/bin/env node
// What `sync-timer collect` costs the machine it samples, at 2 CPUs x 10 kHz (100 us ticks),
// beside peers measured in the same run, each a separate process in turn:
//   collect-parquet   sync-timer collect --format parquet (the writer thread encodes Parquet)
//   collect-ndjson    sync-timer collect --format ndjson
//   example-ndjson    examples/collector (NDJSON decoded and written on the event loop, stdout to a file)
// Per run, over a window after a warm-up: the process's utime+stime (/proc/PID/stat, every
// thread) and the run_time_ns of its BPF programs (kernel.bpf_stats_enabled, turned on and
// restored afterwards, also after a crash), divided by the wall time and by the rows it took.
// A last run at 1 kHz with the default row group gives the compressed Parquet bytes per row
// that docs/fleet.md uses. Figures only: nothing here asserts a time.
//
// Writes bench/out/collect/{report.md,results.json} and the table in bench/collect/README.md.
// usage: node bench/collect/run.mjs [--quick] [--reps N] [--duration SECONDS] [--no-readme]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bpfProgramFds, enableBpfStats, log, machineFacts, progStats, repo, sleep, spawnChild, stopChild } from '../sync-timer/lib/system.mjs';

const BIN = path.join(repo, 'packages/bpf-sync-timer/bin/sync-timer.js');
const EXAMPLE = path.join(repo, 'examples/dist/collector/collector.js');
const OUT = path.join(repo, 'bench/out/collect');
const README = path.join(repo, 'bench/collect/README.md');
const CPUS = 2;
const INTERVAL_US = 100;
/** The scaled case: 64 CPUs at 1 kHz. */
const TARGET = { cpus: 64, hz: 1000 };
const CLK_TCK = 100; // USER_HZ: /proc/PID/stat's unit on every Linux architecture we build for

function parseOptions(argv) {
  const o = { reps: 3, durationS: 10, warmupMs: 2000, readme: true };
  for (let i = 0; i < argv.length; i++) {
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${argv[i]} needs a value`));
    switch (argv[i]) {
      case '--quick': Object.assign(o, { reps: 1, durationS: 3, warmupMs: 1500 }); break;
      case '--reps': o.reps = Number(value()); break;
      case '--duration': o.durationS = Number(value()); break;
      case '--no-readme': o.readme = false; break;
      default: usage(`unknown argument '${argv[i]}'`);
    }
  }
  if (!(o.reps >= 1 && Number.isInteger(o.reps)) || !(o.durationS >= 1)) usage('--reps: a whole number >= 1; --duration: seconds >= 1');
  return o;
}

function usage(message) {
  process.stderr.write(`run.mjs: ${message}\nusage: node bench/collect/run.mjs [--quick] [--reps N] [--duration SECONDS] [--no-readme]\n`);
  process.exit(2);
}

/** The processes compared; `args(dir)` builds the command line. */
const METHODS = [
  { name: 'collect-parquet', what: '`sync-timer collect --format parquet`', args: (dir, s) => [BIN, 'collect', '--interval', `${INTERVAL_US}us`, '--duration', `${s}s`, '--out', dir] },
  { name: 'collect-ndjson', what: '`sync-timer collect --format ndjson`', args: (dir, s) => [BIN, 'collect', '--interval', `${INTERVAL_US}us`, '--duration', `${s}s`, '--out', dir, '--format', 'ndjson'] },
  { name: 'example-ndjson', what: '`examples/collector` (NDJSON on the event loop, stdout to a file)', args: (_dir, s) => [EXAMPLE, '--interval-ms', String(INTERVAL_US / 1000), '--duration-s', String(s)] },
];

/** utime+stime of every thread of `pid`, in ns. */
function processCpuNs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e9) / CLK_TCK; // utime, stime
}

/** run_time_ns and run_cnt of every BPF program `pid` holds, by name-less prog id. */
function bpfRunTime(pid) {
  let runTimeNs = 0;
  let runCnt = 0;
  const seen = new Set();
  for (const fd of bpfProgramFds(pid)) {
    const s = progStats(pid, fd);
    if (seen.has(s.id)) continue;
    seen.add(s.id);
    runTimeNs += s.runTimeNs;
    runCnt += s.runCnt;
  }
  return { runTimeNs, runCnt };
}

function snapshot(pid) {
  return { wallNs: Number(process.hrtime.bigint()), cpuNs: processCpuNs(pid), ...bpfRunTime(pid) };
}

/** Rows the run took and bytes it wrote: from collect's summary, or the example's stdout lines. */
function outcome(method, dir, stdoutFile) {
  if (method.name === 'example-ndjson') {
    const text = fs.readFileSync(stdoutFile, 'utf8');
    return { rows: text.split('\n').length - 1, seconds: null, bytes: text.length };
  }
  const summary = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('-summary.json'))), 'utf8'));
  return {
    rows: summary.rows, seconds: summary.seconds, bytes: summary.files.reduce((a, f) => a + f.bytes, 0),
    drops: summary.queueDrops + summary.windows.reduce((a, w) => a + Number(w.ringDrops), 0),
  };
}

/** One run of `method`: warm-up, a measured window of `durationS`, then its own end. */
async function runOnce(method, o) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-collect-${method.name}-`));
  const stdoutFile = path.join(dir, 'stdout');
  const out = fs.openSync(stdoutFile, 'w');
  const total = Math.ceil(o.warmupMs / 1000 + o.durationS + 1);
  const proc = spawnChild(process.execPath, method.args(dir, total), { stdio: ['ignore', out, 'pipe'] });
  let stderr = '';
  proc.child.stderr.on('data', (d) => (stderr += d));
  try {
    await sleep(o.warmupMs);
    const a = snapshot(proc.child.pid);
    await sleep(o.durationS * 1000);
    const b = snapshot(proc.child.pid);
    const exit = await proc.exited;
    if (exit.code !== 0) throw new Error(`${method.name} exited ${exit.code ?? exit.signal}: ${stderr}`);
    const wallS = (b.wallNs - a.wallNs) / 1e9;
    const result = { method: method.name, wallS, cpuNs: b.cpuNs - a.cpuNs, bpfNs: b.runTimeNs - a.runTimeNs, bpfRuns: b.runCnt - a.runCnt, ...outcome(method, dir, stdoutFile) };
    // rows per second over the whole run (the summary's own clock; the example: its nominal rate)
    result.rowsPerS = result.seconds ? result.rows / result.seconds : CPUS * (1e6 / INTERVAL_US);
    return result;
  } finally {
    fs.closeSync(out);
    await stopChild(proc, 'SIGKILL', 0);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Compressed bytes per row at 1 kHz with the default row group (for docs/fleet.md). */
async function bytesPerRow(o) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-collect-size-'));
  try {
    const seconds = Math.max(o.durationS, 5) * 3;
    const proc = spawnChild(process.execPath, [BIN, 'collect', '--interval', '1ms', '--duration', `${seconds}s`, '--out', dir], { stdio: 'ignore' });
    const exit = await proc.exited;
    if (exit.code !== 0) throw new Error(`size run exited ${exit.code ?? exit.signal}`);
    const r = outcome(METHODS[0], dir, null);
    return { intervalMs: 1, seconds, rows: r.rows, bytes: r.bytes, bytesPerRow: r.bytes / r.rows };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

function summarise(runs) {
  return METHODS.map((m) => {
    const rs = runs.filter((r) => r.method === m.name);
    const per = (f) => median(rs.map(f));
    return {
      method: m.name,
      what: m.what,
      runs: rs.length,
      userCpuShare: per((r) => r.cpuNs / 1e9 / r.wallS), // cores
      bpfCpuShare: per((r) => r.bpfNs / 1e9 / r.wallS),
      userNsPerRow: per((r) => r.cpuNs / (r.rowsPerS * r.wallS)),
      bpfNsPerRow: per((r) => r.bpfNs / (r.rowsPerS * r.wallS)),
      bpfNsPerRun: per((r) => r.bpfNs / r.bpfRuns),
      rowsPerS: per((r) => r.rowsPerS),
      drops: rs.reduce((a, r) => a + (r.drops ?? 0), 0),
    };
  });
}

/** 64 CPUs x 1 kHz: the cost per row held, the rows per second scaled (64,000 vs 20,000). */
function scale(s) {
  const rows = TARGET.cpus * TARGET.hz;
  return { rowsPerS: rows, userCores: (s.userNsPerRow * rows) / 1e9, bpfCores: (s.bpfNsPerRow * rows) / 1e9 };
}

const pct = (cores) => `${(cores * 100).toFixed(2)}%`;
const f1 = (x) => x.toFixed(1);

function report(result) {
  const base = result.summary.find((s) => s.method === 'example-ndjson');
  const lines = [
    `Measured ${result.date} on ${result.machine.kernel}, ${result.machine.cpus.length} CPUs (${result.machine.cpuModel}), node ${result.machine.node};`,
    `${result.options.reps} run(s) per method, ${result.options.durationS} s measured each after ${result.options.warmupMs} ms warm-up, medians; ${CPUS} CPUs x ${1e6 / INTERVAL_US / 1000} kHz.`,
    '',
    '| method | rows/s | user CPU (utime+stime) | BPF programs (bpf_stats) | user ns/row | BPF ns/row | user CPU vs example | drops |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...result.summary.map((s) => `| ${s.what} | ${Math.round(s.rowsPerS)} | ${pct(s.userCpuShare)} of a core | ${pct(s.bpfCpuShare)} | ${Math.round(s.userNsPerRow)} | ${Math.round(s.bpfNsPerRow)} | ${(s.userCpuShare / base.userCpuShare).toFixed(2)}x | ${s.drops} |`),
    '',
    `Scaled to ${TARGET.cpus} CPUs x ${TARGET.hz / 1000} kHz (${TARGET.cpus * TARGET.hz} rows/s, ${((TARGET.cpus * TARGET.hz) / (CPUS * 1e6 / INTERVAL_US)).toFixed(1)}x the measured rate), holding each method's cost per row:`,
    '',
    '| method | user space | BPF programs | total, share of the 64 CPUs |',
    '|---|---:|---:|---:|',
    ...result.summary.map((s) => {
      const x = scale(s);
      return `| ${s.method} | ${f1(x.userCores * 100)}% of a core | ${f1(x.bpfCores * 100)}% of a core | ${((x.userCores + x.bpfCores) / TARGET.cpus * 100).toFixed(3)}% |`;
    }),
    '',
    `Parquet size at 1 ms ticks, default row groups (100,000 rows), Snappy: ${result.size.rows} rows in ${result.size.bytes} bytes = **${result.size.bytesPerRow.toFixed(2)} bytes/row**.`,
  ];
  return lines.join('\n');
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write('run.mjs: needs root (BPF, kernel.bpf_stats_enabled): sudo node bench/collect/run.mjs\n');
    process.exit(1);
  }
  for (const f of [BIN, EXAMPLE, path.join(repo, 'packages/bpf-sync-timer/dist/bpf/collect.bpf.o')]) {
    if (!fs.existsSync(f)) throw new Error(`${path.relative(repo, f)} is missing: run bash scripts/build.sh`);
  }
  const stats = enableBpfStats();
  const runs = [];
  let size;
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      // rotate the order so no method always runs first after a warm machine
      for (let i = 0; i < METHODS.length; i++) {
        const m = METHODS[(i + rep) % METHODS.length];
        log(`rep ${rep + 1}/${o.reps}: ${m.name}`);
        runs.push(await runOnce(m, o));
      }
    }
    log('size run at 1 ms');
    size = await bytesPerRow(o);
  } finally {
    stats.dispose();
  }
  const result = { date: new Date().toISOString(), machine: machineFacts(), options: o, intervalUs: INTERVAL_US, runs, summary: summarise(runs), size };
  result.scaled = Object.fromEntries(result.summary.map((s) => [s.method, scale(s)]));
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(result, null, 1));
  const md = report(result);
  fs.writeFileSync(path.join(OUT, 'report.md'), `${md}\n`);
  if (o.readme) {
    const text = fs.readFileSync(README, 'utf8');
    fs.writeFileSync(README, text.replace(/<!-- results -->[\s\S]*<!-- \/results -->/, `<!-- results -->\n${md}\n<!-- /results -->`));
  }
  process.stdout.write(`${md}\n`);
}

main().catch((e) => {
  process.stderr.write(`run.mjs: ${e.stack ?? e}\n`);
  process.exit(1);
});
