// The start-up scenario: SyncTimer.start against the C harness starting the same object,
// from the call (SyncTimer.start / bpf_object__open) to the first bpf_timer_cb on every CPU
// (tick_path.bpf.o, timestamps taken in the kernel). Each round starts a fresh C harness
// process and fresh Node processes (order alternating); each of them starts the timer twice.
// Process start and loading the libraries (for Node the require of both packages, the
// addon's dlopen included; reported apart) count on neither side. The aim's ratio is the
// second start on both sides: the code compiled and libbpf's one-time feature probes done,
// on both sides. The first start in a fresh process is reported beside it, and once more
// with `node --no-lazy` to show what V8's compiling of the start path on first use costs.
// The Node processes use the packages' V8 code cache as a user's do (an earlier process's
// compiled code); BPF_SYNC_TIMER_CODE_CACHE=0 in the environment runs them without it.
// Per phase: the marks of lib/startup-child.mjs and of c/synctimer_ref.c.
import * as path from 'node:path';
import { jsonLines, loadPathProbe } from './methods.mjs';
import { benchDir, binOut, bpfOut, nowNs, sleep, spawnChild, stopChild, timerObject } from './system.mjs';

const CHILD = path.join(benchDir, 'lib/startup-child.mjs');

/** Waits until the probe has seen a bpf_timer_cb on every CPU at or after t0; their times. */
async function firstTicks(probe, cpus, t0, what, timeoutMs = 5000) {
  const end = nowNs() + timeoutMs * 1e6;
  for (;;) {
    const seen = probe.read();
    const first = cpus.map((c) => seen[c].firstNs);
    if (first.every((f) => f >= t0)) return first;
    if (nowNs() > end) throw new Error(`${what}: no tick on CPU(s) ${cpus.filter((c, i) => first[i] < t0).join(',')} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** A fresh C harness process (the timer alone) starting twice: [cold, warm] phases, ns after each t0. */
async function startC(probe, cfg) {
  probe.reset();
  const proc = spawnChild(path.join(binOut, 'synctimer_ref'), [timerObject, path.join(bpfOut, 'sub_sync.bpf.o'), String(cfg.intervalNs), cfg.cpus.join(','), '0']);
  const lines = jsonLines(proc.child.stderr);
  const once = async () => {
    const armed = await lines.next((m) => m.event === 'armed', 'synctimer_ref', proc);
    const first = await firstTicks(probe, cfg.cpus, armed.t0, 'synctimer_ref');
    const p = armed.phases;
    return phasesOf({ openStart: 0, opened: p.opened, loadStart: p.preload, loaded: p.loaded, armStart: p.loaded, returned: armed.armed - armed.t0 }, first.map((f) => f - armed.t0));
  };
  try {
    const cold = await once();
    // SIGUSR1 closes the timer, the next one starts it again (c/synctimer_ref.c)
    proc.child.kill('SIGUSR1');
    await lines.next((m) => m.event === 'closed', 'synctimer_ref', proc);
    probe.reset();
    proc.child.kill('SIGUSR1');
    return { cold, warm: await once() };
  } finally {
    await stopChild(proc, 'SIGTERM');
  }
}

/** A fresh Node process starting the timer twice: [cold, warm], and its require time. */
async function startNode(probe, cfg, nodeFlags = []) {
  const proc = spawnChild(process.execPath, [...nodeFlags, CHILD, String(cfg.intervalNs), cfg.cpus.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.child.stderr.on('data', () => {});
  const lines = jsonLines(proc.child.stdout);
  const once = async () => {
    probe.reset();
    proc.child.stdin.write('start\n');
    const armed = await lines.next((m) => m.event === 'armed', 'startup-child', proc);
    const first = await firstTicks(probe, cfg.cpus, armed.t0, 'startup-child');
    return { armed, run: phasesOf(armed.phases, first.map((f) => f - armed.t0)) };
  };
  try {
    const cold = await once();
    proc.child.stdin.write('stop\n');
    await lines.next((m) => m.event === 'stopped', 'startup-child', proc);
    const warm = await once();
    return { cold: cold.run, warm: warm.run, requireMs: cold.armed.requireNs / 1e6, mode: cold.armed.mode };
  } finally {
    proc.child.stdin.end();
    await stopChild(proc, 'SIGTERM');
  }
}

/** The phases (ms) of one start from its marks (ns after the call) and first ticks per CPU. */
export function phasesOf(m, firstNs) {
  const ms = (a, b) => (b - a) / 1e6;
  const firstAll = Math.max(...firstNs);
  return {
    beforeOpen: ms(0, m.openStart),
    open: ms(m.openStart, m.opened),
    globals: ms(m.opened, m.loadStart),
    load: ms(m.loadStart, m.loaded),
    beforeArm: ms(m.loaded, m.armStart),
    armToTick: ms(m.armStart, firstAll),
    totalMs: firstAll / 1e6,
    returnedMs: m.returned / 1e6,
  };
}

/** The rows of the breakdown: [key, label]. */
export const PHASES = [
  ['beforeOpen', 'checks before open (interval, options, kernel, PREEMPT_RT)'],
  ['open', 'open (bpf_object__open)'],
  ['globals', 'globals and map sizes (open to load)'],
  ['load', 'load (libbpf, verifier)'],
  ['beforeArm', 'CPU choice, sysctl recovery (load to arming)'],
  ['armToTick', 'arming: pinned init runs, to the first tick on every CPU'],
  ['totalMs', 'call to the first tick on every CPU (the figure compared)'],
  ['returnedMs', 'call to start() returning (C: threads joined)'],
];

/**
 * `pairs` rounds, each a fresh C harness process and a fresh Node process (which starts
 * twice), their order alternating. Returns every run; summarizeStartup folds them.
 */
export async function measureStartup(lib, { intervalNs, cpus, pairs, log }) {
  const probe = loadPathProbe(lib, 'sync', 1);
  const cfg = { intervalNs, cpus };
  const out = { intervalNs, cpus, c: [], cWarm: [], nodeCold: [], nodeWarm: [], nodeEager: [], requireMs: [] };
  try {
    for (let i = 0; i < pairs; i++) {
      const order = i % 2 ? ['node', 'eager', 'c'] : ['c', 'eager', 'node'];
      for (const side of order) {
        if (side === 'c') {
          const c = await startC(probe, cfg);
          out.c.push(c.cold);
          out.cWarm.push(c.warm);
        } else if (side === 'eager') {
          // V8 compiles every function when it loads the script instead of at its first
          // call: the first start without the lazy compilation of the start path
          out.nodeEager.push((await startNode(probe, cfg, ['--no-lazy'])).cold);
        } else {
          const n = await startNode(probe, cfg);
          out.nodeCold.push(n.cold);
          out.nodeWarm.push(n.warm);
          out.requireMs.push(n.requireMs);
          out.mode = n.mode;
        }
        await sleep(20);
      }
      log?.(`start-up ${i + 1}/${pairs}: C ${out.c.at(-1).totalMs.toFixed(2)} ms, TS ${out.nodeCold.at(-1).totalMs.toFixed(2)} ms; second starts: C ${out.cWarm.at(-1).totalMs.toFixed(2)} ms, TS ${out.nodeWarm.at(-1).totalMs.toFixed(2)} ms`);
    }
  } finally {
    probe.close();
  }
  return out;
}

const medianOf = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
};

/** Medians per phase and side, and the ratio the issue asks for: TS ÷ C, call to first tick on every CPU. */
export function summarizeStartup(run) {
  const fold = (runs) => Object.fromEntries(PHASES.map(([k]) => [k, medianOf(runs.map((r) => r[k]))]));
  const c = fold(run.c);
  const cWarm = fold(run.cWarm);
  const nodeCold = fold(run.nodeCold);
  const nodeWarm = fold(run.nodeWarm);
  const nodeEager = fold(run.nodeEager);
  return {
    intervalNs: run.intervalNs,
    pairs: run.c.length,
    mode: run.mode,
    c,
    cWarm,
    nodeCold,
    nodeWarm,
    nodeEager,
    requireMs: medianOf(run.requireMs),
    spreadMs: {
      c: [Math.min(...run.c.map((r) => r.totalMs)), Math.max(...run.c.map((r) => r.totalMs))],
      nodeCold: [Math.min(...run.nodeCold.map((r) => r.totalMs)), Math.max(...run.nodeCold.map((r) => r.totalMs))],
      cWarm: [Math.min(...run.cWarm.map((r) => r.totalMs)), Math.max(...run.cWarm.map((r) => r.totalMs))],
      nodeWarm: [Math.min(...run.nodeWarm.map((r) => r.totalMs)), Math.max(...run.nodeWarm.map((r) => r.totalMs))],
    },
    // the aim's figure: a start in a process that has started before, on both sides
    startup_node_over_c: nodeWarm.totalMs / cWarm.totalMs,
    startup_first_node_over_c: nodeCold.totalMs / c.totalMs,
    startup_first_eager_node_over_c: nodeEager.totalMs / c.totalMs,
  };
}

/** The start-up table: one row per phase, medians in ms, TS ÷ C. */
export function startupTable(s) {
  const f = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
  const r = (a, b) => (Number.isFinite(a / b) && b > 0.05 ? `×${(a / b).toFixed(2)}` : '–');
  const rows = PHASES.map(([k, label]) => [label, f(s.cWarm[k]), f(s.nodeWarm[k]), r(s.nodeWarm[k], s.cWarm[k]), f(s.c[k]), f(s.nodeCold[k]), r(s.nodeCold[k], s.c[k]), f(s.nodeEager[k]), r(s.nodeEager[k], s.c[k])]);
  rows.push(['require of both packages (addon load included; not counted above)', '–', '–', '–', '–', f(s.requireMs), '–', '–', '–']);
  return { head: ['phase (medians, ms)', 'C, second start', 'TS, second start', 'TS ÷ C', 'C, first start', 'TS, first start', 'TS ÷ C', 'TS, first start, node --no-lazy', 'TS ÷ C'], rows };
}

/** What the table is and its ratios, in a few sentences. */
export function startupLine(s) {
  const range = ([a, b]) => `${a.toFixed(1)}–${b.toFixed(1)} ms`;
  return [
    `Start-up at ${s.intervalNs / 1e3} µs (the first tick comes at the next grid point), ${s.pairs} rounds, each a fresh C harness process and fresh Node processes, in alternating order:`,
    'from the call (`SyncTimer.start()`; the C harness\'s `bpf_object__open`) to the first `bpf_timer_cb` on every CPU, seen by a kernel probe.',
    'Process start and loading the libraries (Node: the require of both packages, the addon\'s dlopen included) are not counted on either side.',
    `**Second start** in the same process, on both sides (the code compiled, libbpf's feature probes cached, on both sides): TS ÷ C = **${s.startup_node_over_c.toFixed(2)}** (\`startup_node_over_c\`, aim ≤ 1.5; C ${range(s.spreadMs.cWarm)}, TS ${range(s.spreadMs.nodeWarm)}).`,
    `**First start** in a fresh process, on both sides: TS ÷ C = ${s.startup_first_node_over_c.toFixed(2)} (\`startup_first_node_over_c\`; C ${range(s.spreadMs.c)}, TS ${range(s.spreadMs.nodeCold)});`,
    `with \`node --no-lazy\`, which compiles every function when its script loads instead of at the first call, ${s.startup_first_eager_node_over_c.toFixed(2)}.`,
    'The Node processes take the packages\' compiled code from the V8 code cache an earlier process on this machine wrote (`BPF_SYNC_TIMER_CODE_CACHE=0` turns it off: a first start then compiles its path as it runs).',
  ].join(' ');
}

/** The start-up aim, as a row of the aims table. */
export function startupAim(s) {
  const ok = s.startup_node_over_c <= 1.5;
  return {
    aim: 'start-up (call to the first tick on every CPU) ≤ 1.5 × the C harness\'s',
    measured: `second start: ${s.nodeWarm.totalMs.toFixed(2)} vs ${s.cWarm.totalMs.toFixed(2)} ms: ×${s.startup_node_over_c.toFixed(2)}; first start in a fresh process: ${s.nodeCold.totalMs.toFixed(2)} vs ${s.c.totalMs.toFixed(2)} ms: ×${s.startup_first_node_over_c.toFixed(2)} (node --no-lazy ×${s.startup_first_eager_node_over_c.toFixed(2)})`,
    verdict: ok ? 'met' : 'missed',
    why: ok ? '' : 'see the start-up table: the phases where TypeScript spends more than the C harness',
  };
}
