// The machine side of the benchmark: paths, the build, the libraries, CPUs, clocks,
// kernel.bpf_stats_enabled (saved, restored on exit and on signals), per-program run
// statistics from /proc/<pid>/fdinfo, the CPU hog, and a cleanup list that runs however
// the process ends.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repo = path.resolve(benchDir, '../..');
export const buildDir = path.join(repo, 'bench/out/sync-timer');
export const bpfOut = path.join(buildDir, 'bpf');
export const binOut = path.join(buildDir, 'bin');
export const timerObject = path.join(repo, 'packages/bpf-sync-timer/dist/bpf/sync_timer.bpf.o');

/** CLOCK_MONOTONIC in ns, as a Number (exact below 2^53 ns, i.e. 104 days of uptime). */
export const nowNs = () => Number(process.hrtime.bigint());

export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Sleeps until CLOCK_MONOTONIC reaches `ns` (ms resolution, then a short spin). */
export async function sleepUntil(ns) {
  for (;;) {
    const left = ns - nowNs();
    if (left <= 0) return;
    if (left > 2e6) await sleep(Math.floor(left / 1e6) - 1);
    else await new Promise((r) => setImmediate(r));
  }
}

export const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

// ---- build --------------------------------------------------------------------------

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: repo, encoding: 'utf8' });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Compiles the bench's BPF objects and C programs when they are older than their sources. */
export function build() {
  const missing = ['packages/libbpf/dist/src/index.js', 'packages/bpf-sync-timer/dist/src/index.js', 'packages/bpf-sync-timer/dist/bpf/sync_timer.bpf.o']
    .filter((p) => !fs.existsSync(path.join(repo, p)));
  if (missing.length) throw new Error(`the project is not built (missing ${missing.join(', ')}): run cd ${repo} && bash scripts/build.sh`);
  run('bash', ['scripts/build-bpf.sh', 'bench/sync-timer/bpf', path.relative(repo, bpfOut), '-I', 'packages/bpf-sync-timer/include'], 'build-bpf');
  fs.mkdirSync(binOut, { recursive: true });
  const common = path.join(benchDir, 'c/common.h');
  // The C peers link the same pinned libbpf release as the addon, statically.
  run(process.execPath, ['packages/libbpf/scripts/build-native.js', '--quiet', '--libbpf-only'], 'build libbpf');
  const libbpfRoot = path.join(repo, 'packages/libbpf/build-libbpf/root');
  const libbpf = ['-I', path.join(libbpfRoot, 'include'), path.join(libbpfRoot, 'lib', 'libbpf.a'), '-lelf', '-lz', '-lpthread'];
  for (const [name, libs] of [['hog', []], ['usertimer', libbpf], ['synctimer_ref', libbpf]]) {
    const src = path.join(benchDir, 'c', `${name}.c`);
    const bin = path.join(binOut, name);
    const mtime = (p) => fs.statSync(p).mtimeMs;
    if (fs.existsSync(bin) && mtime(bin) > mtime(src) && mtime(bin) > mtime(common)) continue;
    run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src, ...libs], `gcc ${name}.c`);
  }
}

/** The two libraries, from their builds, as any user imports them. */
export async function loadLibraries() {
  const libbpf = await import(path.join(repo, 'packages/libbpf/dist/src/index.js'));
  const timer = await import(path.join(repo, 'packages/bpf-sync-timer/dist/src/index.js'));
  return { ...(libbpf.default ?? libbpf), ...(timer.default ?? timer) };
}

// ---- machine facts ------------------------------------------------------------------

export function parseCpuList(text) {
  const out = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b = a] = part.split('-').map(Number);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

export const onlineCpus = () => parseCpuList(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8'));

/** Address of a kernel symbol from /proc/kallsyms (root sees real addresses), as a BigInt. */
export function kallsym(name) {
  for (const line of fs.readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , sym] = line.split(' ');
    if (sym === name) {
      const a = BigInt(`0x${addr}`);
      if (a === 0n) throw new Error(`/proc/kallsyms hides addresses (kptr_restrict); run as root`);
      return a;
    }
  }
  throw new Error(`kernel symbol ${name} not found in /proc/kallsyms`);
}

export function machineFacts() {
  const read = (p) => { try { return fs.readFileSync(p, 'utf8').trim(); } catch { return ''; } };
  const model = /model name\s*:\s*(.*)/.exec(read('/proc/cpuinfo'))?.[1] ?? 'unknown CPU';
  const bpftrace = spawnSync('bpftrace', ['--version'], { encoding: 'utf8' });
  return {
    kernel: read('/proc/sys/kernel/osrelease'),
    cpus: onlineCpus(),
    cpuModel: model,
    memoryGiB: Math.round(Number(/MemTotal:\s+(\d+)/.exec(read('/proc/meminfo'))?.[1] ?? 0) / 1048576),
    clocksource: read('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
    node: process.version,
    bpftrace: bpftrace.status === 0 ? bpftrace.stdout.trim() : null,
  };
}

// ---- program statistics -------------------------------------------------------------

/** run_time_ns / run_cnt / prog_id of a BPF program fd held by process `pid`. */
export function progStats(pid, fd) {
  const text = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const field = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { id: field('prog_id'), runTimeNs: field('run_time_ns'), runCnt: field('run_cnt') };
}

/** The fds of process `pid` that are BPF programs. */
export function bpfProgramFds(pid) {
  const out = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf-prog') out.push(Number(fd));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

// ---- cleanup, signals, bpf_stats ----------------------------------------------------

const cleanups = new Set();
let signalled = false;
let hooked = false;

/** Runs `fn` at exit, on SIGINT/SIGTERM/SIGHUP, or when `dispose()`d, whichever comes first, once. */
export function onCleanup(fn) {
  if (!hooked) hookProcess();
  const entry = () => {
    cleanups.delete(entry);
    try { fn(); } catch (e) { log(`cleanup: ${e.message}`); }
  };
  cleanups.add(entry);
  return { dispose: entry };
}

export function runCleanups() {
  for (const c of [...cleanups].reverse()) c();
}

// installed with the first cleanup, so importing this module changes nothing
function hookProcess() {
  hooked = true;
  process.on('exit', runCleanups);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (signalled) return;
      signalled = true;
      log(`${sig}: stopping, releasing everything`);
      runCleanups();
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]);
    });
  }
}

const STATS = '/proc/sys/kernel/bpf_stats_enabled';
const SAVED = '/run/bpf-sync-timer-bench.bpf_stats_enabled';

/**
 * Turns kernel.bpf_stats_enabled on and restores the value it had at exit, on signals
 * and on dispose. The original is also kept in /run, so a run killed with SIGKILL is
 * repaired by the next one.
 */
export function enableBpfStats() {
  if (fs.existsSync(SAVED)) {
    const stale = fs.readFileSync(SAVED, 'utf8').trim();
    fs.writeFileSync(STATS, stale);
    fs.rmSync(SAVED);
    log(`restored kernel.bpf_stats_enabled=${stale} left by a run that died`);
  }
  const original = fs.readFileSync(STATS, 'utf8').trim();
  fs.writeFileSync(SAVED, original);
  fs.writeFileSync(STATS, '1');
  return onCleanup(() => {
    fs.writeFileSync(STATS, original);
    fs.rmSync(SAVED, { force: true });
  });
}

export const bpfStatsValue = () => fs.readFileSync(STATS, 'utf8').trim();

// ---- child processes ----------------------------------------------------------------

/** Spawns a child that is killed (SIGKILL) at cleanup unless it exited before. */
export function spawnChild(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  // 'close': the process ended and its stdio is drained (every record read)
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.on('error', () => {});
  const guard = onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  exited.then(() => guard.dispose());
  return { child, exited };
}

/** Stops a child: `signal`, then SIGKILL after `graceMs`. */
export async function stopChild({ child, exited }, signal = 'SIGTERM', graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const r = await exited;
  clearTimeout(timer);
  return r;
}

/** A busy loop pinned to `cpu` (the C hog: it also dies with this process). */
export function startHog(cpu) {
  const hog = spawnChild(path.join(binOut, 'hog'), [String(cpu)], { stdio: 'ignore' });
  return { cpu, stop: () => stopChild(hog, 'SIGKILL') };
}
