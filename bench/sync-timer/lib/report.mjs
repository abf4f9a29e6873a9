// The report: tables (markdown and HTML from the same rows), the plots, and the README
// section between <!-- bench:sync-timer:start --> and <!-- bench:sync-timer:end -->.
import { METHOD_INFO } from './methods.mjs';
import { ccdfPoints, linePlot, rasterPlot } from './svg.mjs';
import { checkAims, keyOf, ratio } from './summary.mjs';
import { GRIDLESS } from './analyze.mjs';
import { startupAim, startupLine, startupTable } from './startup.mjs';

export const README_START = '<!-- bench:sync-timer:start -->';
export const README_END = '<!-- bench:sync-timer:end -->';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const fmtInterval = (ns) => (ns >= 1e6 ? `${ns / 1e6} ms` : `${ns / 1e3} µs`);

/** "median ±half-range" (the spread over the runs), or the value alone for one run. */
function cell(st, digits = 1, scale = 1) {
  if (!st || !Number.isFinite(st.med)) return '–';
  const v = (x) => (x * scale).toFixed(digits);
  if (st.n < 2) return v(st.med);
  const half = ((st.max - st.min) * scale) / 2;
  return `${v(st.med)} ±${half.toFixed(digits)}`;
}

const pctCell = (st) => cell(st, 2, 100);

function ratioCell(ours, peer) {
  const r = ratio(ours, peer);
  if (!Number.isFinite(r)) return '–';
  return `×${r >= 10 ? r.toFixed(0) : r.toFixed(1)}`;
}

// ---- tables -------------------------------------------------------------------------

/** Timing at one subscriber, per interval and load, with ratios of the sync timer against each peer. */
export function timingTable(s, opts) {
  const head = ['interval', 'load', 'method', 'delivery, worst CPU %', 'lateness p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'skew p50 µs', 'skew p99 µs', 'start-up ms', 'sync timer vs this: skew p50 · skew p99 · lateness p99'];
  const rows = [];
  for (const T of opts.intervals) {
    for (const load of opts.loads) {
      const ours = s.get(keyOf('sync', T, 1, load));
      for (const method of opts.methods) {
        const c = s.get(keyOf(method, T, 1, load));
        if (!c) continue;
        const ratios = method === 'sync' || !ours ? '' : [ratioCell(ours.m.skewP50, c.m.skewP50), ratioCell(ours.m.skewP99, c.m.skewP99), ratioCell(ours.m.latP99, c.m.latP99)].join(' · ');
        rows.push([fmtInterval(T), load, METHOD_INFO[method].label + (GRIDLESS.has(method) ? ' †' : ''), pctCell(c.m.deliveryMin), cell(c.m.latP50), cell(c.m.latP99), cell(c.m.latP999), cell(c.m.latMax, 0), cell(c.m.skewP50), cell(c.m.skewP99), cell(c.m.startupMs, 1), ratios]);
      }
    }
  }
  return { head, rows };
}

/** Cost per tick at 1 ms against the number of subscribers. */
export function costTable(s, opts) {
  const head = ['subscribers', 'load', 'method', 'tick path ns/tick ‡', 'timer callback, BPF only ns/tick', 'subscriber 0 (records) ns/tick', 'each other subscriber ns/tick', 'subscriber runs per tick', 'CPU time per tick, all subscribers µs', 'user + system µs per tick (user / system)', 'delivery, worst CPU %'];
  const rows = [];
  const T = opts.costInterval;
  for (const subs of opts.subscriberCounts) {
    for (const load of opts.loads) {
      for (const method of opts.methods) {
        const c = s.get(keyOf(method, T, subs, load));
        if (!c) continue;
        const timed = s.get(keyOf('sync-timed', T, 1, load));
        const isSync = method === 'sync' || method === 'sync-c';
        const mark = c.m.pathNs.borrowed ? ' §' : '';
        rows.push([String(subs), load, METHOD_INFO[method].label, cell(c.m.pathNs, 0) + mark, isSync && timed ? cell(timed.m.callbackBpfNs, 0) : '–', cell(c.m.sub0Ns, 0), subs > 1 ? cell(c.m.otherSubNs, 0) : '–', cell(c.m.runsPerTick, 2), cell(c.m.tickTotalNs, 2, 1e-3) + mark,
          method === 'user' ? `${cell(c.m.tickTotalNs, 1, 1e-3)} (${cell(c.m.userNs, 1, 1e-3)} / ${cell(c.m.sysNs, 1, 1e-3)})` : '–', pctCell(c.m.deliveryMin)]);
      }
    }
  }
  return { head, rows };
}

function aimsTable(aims) {
  return { head: ['aim', 'measured (medians)', 'verdict', 'why, where missed'], rows: aims.map((a) => [a.aim, a.measured, a.verdict, a.why]) };
}

/** perf_event's fitted phases per CPU (µs after each grid point), per run. */
function phaseTable(s, opts) {
  const head = ['interval', 'load', 'method', 'phase per CPU, µs after the grid point (each run)'];
  const rows = [];
  for (const T of opts.intervals) {
    for (const load of opts.loads) {
      for (const method of opts.methods.filter((m) => GRIDLESS.has(m))) {
        const c = s.get(keyOf(method, T, 1, load));
        if (!c) continue;
        rows.push([fmtInterval(T), load, METHOD_INFO[method].label, c.m.phasesUs.map((p) => p.map((v) => v.toFixed(0)).join(' / ')).join('; ')]);
      }
    }
  }
  return { head, rows };
}

const mdTable = ({ head, rows }) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`)].join('\n');

const htmlTable = ({ head, rows }) => `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;

// ---- text ---------------------------------------------------------------------------

function whatWasRun(ctx) {
  const { opts, machine } = ctx;
  const m = machine;
  return [
    `Measured ${ctx.finishedAt} on ${m.cpus.length} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, kernel ${m.kernel}, clocksource ${m.clocksource}, Node ${m.node}${m.bpftrace ? `, ${m.bpftrace}` : ''}.`,
    `Profile \`${opts.profile}\`: ${opts.runs} run(s) per configuration, each a ${opts.durationNs / 1e9} s window after ${opts.warmupMs} ms of warm-up; intervals ${opts.intervals.map(fmtInterval).join(', ')} at 1 subscriber; ${opts.subscriberCounts.join(', ')} subscribers at ${fmtInterval(opts.costInterval)}; ${opts.loads.map((l) => (l === 'busy' ? `busy (a busy loop pinned to CPU ${ctx.hogCpu})` : 'idle')).join(' and ')}; ${ctx.analyses.length} runs, ${(ctx.elapsedMs / 60000).toFixed(1)} min in all.`,
    `Cells are the median over the runs ±half the range (min to max). The machine is shared and noisy: compare within this run, not with other runs.`,
    quietness(ctx),
    ...(ctx.skipped.length ? [`Not measured: ${ctx.skipped.join('; ')}.`] : []),
  ].filter(Boolean);
}

/** How busy the CPUs were during the idle runs (this bench's own consumer included). */
function quietness(ctx) {
  const parts = [];
  let warn = '';
  for (const load of ctx.opts.loads) {
    // the busiest CPU, leaving out the hog's in the busy runs
    const busy = ctx.analyses.filter((a) => a.load === load).map((a) => Math.max(...a.busy.filter((_, i) => load !== 'busy' || a.cpus[i] !== ctx.hogCpu)));
    if (!busy.length) continue;
    const sorted = busy.sort((a, b) => a - b);
    const med = sorted[Math.floor(sorted.length / 2)];
    parts.push(`${load} runs ${(med * 100).toFixed(0)}% (median; max ${(sorted[sorted.length - 1] * 100).toFixed(0)}%)`);
    if (med > 0.3) warn = ' **Other work was running on this machine meanwhile: these figures are not of a quiet machine.**';
  }
  if (!parts.length) return '';
  return `How busy the busiest CPU was (the hog's left out), counting the method's own work (the user-space timer, bpftrace) and this bench's record consumer: ${parts.join(', ')}.` +
    `${ctx.repeated ? ` ${ctx.repeated} run(s) were measured again because other processes came up during them.` : ''}${warn}`;
}

const NOTES = [
  'Every method delivers its ticks to the same subscriber code (`bench/sync-timer/bpf/bench_sub.bpf.h`): it counts the tick per CPU and, in subscriber 0 only, writes {grid index, grid point, time, CPU} to a ring buffer that Node consumes every 20 ms (no wake-up per record). Lateness and skew use the time at which subscriber 0 ran.',
  '**sync timer (TS)**: `SyncTimer.start()` with the shipped `sync_timer.bpf.o`, subscribers on `tracepoint/timer/hrtimer_expire_exit` sharing its bitmap map. **sync timer (C harness)**: the same object and subscribers loaded and armed by `bench/sync-timer/c/synctimer_ref.c` with plain libbpf (modern mode).',
  '**perf_event** †: per subscriber, a `PERF_COUNT_SW_CPU_CLOCK` event per CPU (`sample_period` = interval) with a `BPF_PROG_TYPE_PERF_EVENT` program. Its samples carry no grid: lateness is taken against each CPU\'s best-fitting phase (the earliest sample of the cluster around the circular median of t mod interval, so its minimum latency counts as zero, which favours it), and skew groups samples by ⌊t / interval⌋. **bpftrace** †: `profile:hz:N { printf("%d %llu\\n", cpu, nsecs); }`, the same mechanism through bpftrace, one script (so one subscriber) only: several subscribers would be several bpftrace processes each with its own events, which is the perf_event row again. bpftrace\'s `interval:` probes fire on one CPU only and cannot give a per-CPU tick.',
  '**user-space timer**: `bench/sync-timer/c/usertimer.c`, one thread per CPU pinned with `pthread_setaffinity_np`, SCHED_OTHER, sleeping with `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` to each grid point and then running every subscriber program (loaded by Node, passed by id) with `BPF_PROG_RUN`; late wake-ups skip grid points. Its CPU time comes from `getrusage` at both ends of the window; the total is exact, the kernel splits it into user and system by tick sampling, so the split is rough over short windows.',
  '‡ **tick path**: the time in the hrtimer function that delivers the tick, between the `hrtimer_expire_entry` and `hrtimer_expire_exit` tracepoints, for the sync timer `bpf_timer_cb` (the kernel wrapper and our BPF callback, which `kernel.bpf_stats_enabled` does not account: the kernel calls timer callbacks directly) and for perf_event `perf_swevent_hrtimer` (the sample path including its BPF program). It includes the exit tracepoint\'s dispatch to the timing program (fentry/fexit would be tighter, but this kernel refuses ftrace-based attachment). **Timer callback, BPF only**: a bench-only build of the timer (`bpf/sync_timer_timed.bpf.c`) brackets its callback with `bpf_ktime_get_ns()`, armed through the public `initSyncTimerProgram()` in separate runs.',
  '**Subscriber cost**: `run_time_ns` from `kernel.bpf_stats_enabled` (switched on for the run and restored afterwards) divided by the ticks the subscriber received; the sync timer\'s subscribers also run on every other hrtimer expiry of their CPU, which this counts (runs per tick > 1). **CPU time per tick, all subscribers**: sync timer = tick path + all subscribers; perf_event = tick path × subscribers (each subscriber has its own events); user-space = user + system CPU of the timer process.',
  '§ With 64 subscribers on `hrtimer_expire_exit` the tracepoint is full (it takes at most 64 BPF programs), so the tick path is not timed in those runs: the value is the 1-subscriber runs\' (the tick path ends before the subscribers run). The same limit means 64 sync-timer subscribers leave no room on that tracepoint for any other tool\'s program.',
  '**Start-up** (the timing table\'s column): from the call that starts the tick source (`SyncTimer.start()` in this long-running bench process; the C harness\'s `bpf_object__open` in its fresh process; the first `perf_event_open`; spawning the timer process or bpftrace) to the first tick on every CPU (the first `bpf_timer_cb` / `perf_swevent_hrtimer` seen on each CPU, or the first record); it includes the wait for the next grid point (up to one interval). The start-up table compares the sync timer with its C harness like for like instead: both in processes of their own, phase by phase (`lib/startup.mjs`).',
];

// ---- plots --------------------------------------------------------------------------

function latenessPlots(s, opts) {
  const out = [];
  for (const T of opts.intervals) {
    for (const load of opts.loads) {
      const series = [];
      for (const method of opts.methods) {
        const c = s.get(keyOf(method, T, 1, load));
        if (!c) continue;
        const pooled = Float64Array.from(c.analyses.flatMap((a) => Array.from(a.latenessSorted))).sort();
        series.push({ label: METHOD_INFO[method].label, color: METHOD_INFO[method].color, dash: method === 'sync-c' ? '6 3' : undefined, points: ccdfPoints(pooled, 0.1) });
      }
      if (!series.length) continue;
      const maxX = Math.max(...series.flatMap((x) => x.points.map((p) => p[0])));
      out.push(linePlot({
        kind: 'lateness', title: `Lateness, ${fmtInterval(T)}, ${load}`, xLabel: 'lateness µs (log)', yLabel: 'fraction of ticks later than x',
        series, xLog: true, yLog: true, xDomain: [0.1, Math.max(10, maxX * 1.2)], yDomain: [1e-4, 1], legendAt: 'bottom-left', yTickFormat: (v) => (v >= 0.01 ? String(v) : v.toExponential(0).replace('e-', 'e−')),
      }));
    }
  }
  return out;
}

function rasterPlots(s, opts) {
  const T = opts.costInterval;
  const out = [];
  for (const load of opts.loads) {
    const rows = [];
    for (const method of opts.methods) {
      const c = s.get(keyOf(method, T, 1, load));
      if (!c) continue;
      const a = c.analyses[0];
      a.raster.forEach((ticks, i) => rows.push({ label: `${METHOD_INFO[method].label}, CPU ${a.cpus[i]}`, color: METHOD_INFO[method].color, ticks }));
    }
    if (rows.length) out.push(rasterPlot({ title: `Tick times across CPUs, ${fmtInterval(T)}, ${load} (first run, first 12 intervals of the window)`, rows, xMax: (12 * T) / 1000, gridUs: T / 1000 }));
  }
  return out;
}

function costPlots(s, opts) {
  const T = opts.costInterval;
  const xTicks = opts.subscriberCounts;
  const seriesFor = (load, pick) => opts.methods.map((method) => ({
    label: METHOD_INFO[method].label, color: METHOD_INFO[method].color, dash: method === 'sync-c' ? '6 3' : undefined, markers: true,
    points: opts.subscriberCounts.map((n) => [n, pick(s.get(keyOf(method, T, n, load)), n)]).filter(([, v]) => Number.isFinite(v) && v > 0),
  }));
  return opts.loads.flatMap((load) => [
    linePlot({ kind: 'cost', title: `CPU time per tick on one CPU, all subscribers (${fmtInterval(T)}, ${load})`, xLabel: 'subscribers (log)', yLabel: 'ns per tick (log)', xLog: true, yLog: true, xTicks,
      series: seriesFor(load, (c) => c?.m.tickTotalNs.med), legendAt: 'outside', width: 420, height: 300 }),
    linePlot({ kind: 'cost', title: `BPF run time per subscriber per tick (${load}, bpf_stats)`, xLabel: 'subscribers (log)', yLabel: 'ns per tick (log)', xLog: true, yLog: true, xTicks,
      series: seriesFor(load, (c, n) => (c ? c.m.subTotalNs.med / n : NaN)), legendAt: 'outside', width: 420, height: 300 }),
  ]);
}

// ---- documents ----------------------------------------------------------------------

export function buildReport(ctx) {
  const { summary: s, opts } = ctx;
  const aims = [...checkAims(s, opts), ...(ctx.startup ? [startupAim(ctx.startup)] : [])];
  const timing = timingTable(s, opts);
  const startup = ctx.startup ? { line: startupLine(ctx.startup), table: startupTable(ctx.startup) } : undefined;
  const costs = costTable(s, opts);
  const phases = phaseTable(s, opts);
  const head = whatWasRun(ctx);
  const md = [
    '# Sync timer benchmark',
    '',
    ...head.map((l) => `${l}\n`),
    '## Aims',
    '',
    mdTable(aimsTable(aims)),
    '',
    `## Timing, 1 subscriber`,
    '',
    mdTable(timing),
    '',
    '## Cost against subscribers',
    '',
    mdTable(costs),
    '',
    ...(phases.rows.length ? ['## perf_event phases', '', mdTable(phases), ''] : []),
    ...(startup ? ['## Start-up', '', startup.line, '', mdTable(startup.table), ''] : []),
    '## How it was measured',
    '',
    ...NOTES.map((n) => `- ${n}`),
    '',
  ].join('\n');

  const readme = [
    head.slice(0, 4).join('\n\n'),
    '',
    'Ratios are *peer ÷ sync timer* (above 1: the sync timer is lower, i.e. better). † no grid: lateness against the fitted phase of each CPU (see the report).',
    '',
    mdTable(timing),
    '',
    mdTable(costs),
    '',
    ...(startup ? [startup.line, '', mdTable(startup.table), ''] : []),
    mdTable(aimsTable(aims)),
    '',
    'Run it with `sudo npm run bench:sync-timer` (or `sync-timer bench`); it rewrites this section and writes `bench/out/sync-timer/report.md` and `report.html` (plots, method notes, perf_event phases).',
  ].join('\n');

  const plots = { lateness: latenessPlots(s, opts), raster: rasterPlots(s, opts), cost: costPlots(s, opts) };
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sync timer benchmark</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1360px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg.plot { border: 1px solid #ddd; background: #fcfcfc; }
svg .tick { font-size: 10px; fill: #555; } svg .label { font-size: 11px; fill: #333; }
svg .title { font-size: 12px; font-weight: 600; fill: #222; } svg .legend { font-size: 11px; fill: #222; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
.aims td, .aims th { text-align: left; } .met { color: #1a7f37; font-weight: 600; } .missed { color: #c62828; font-weight: 600; }
p.meta { margin: 4px 0; } ul.notes li { margin: 4px 0; }
</style></head><body>
<h1>Sync timer benchmark</h1>
${head.map((l) => `<p class="meta">${mdInline(l)}</p>`).join('\n')}
<h2>Lateness distribution per method</h2>
<div class="plots" id="lateness">${plots.lateness.join('\n')}</div>
<h2>Alignment at a glance: tick times across CPUs</h2>
<div class="plots" id="raster">${plots.raster.join('\n')}</div>
<h2>Cost against subscribers</h2>
<div class="plots" id="cost">${plots.cost.join('\n')}</div>
<h2>Aims</h2>
<div class="aims">${htmlTable(aimsTable(aims)).replace(/<td>(met|missed)<\/td>/g, '<td class="$1">$1</td>')}</div>
<h2>Timing, 1 subscriber</h2>
<p class="meta">Ratios are <i>peer ÷ sync timer</i> (above 1: the sync timer is lower, i.e. better).</p>
${htmlTable(timing)}
<h2>Cost against subscribers</h2>
${htmlTable(costs)}
${phases.rows.length ? `<h2>perf_event phases</h2>${htmlTable(phases)}` : ''}
${startup ? `<h2>Start-up</h2><p class="meta">${mdInline(startup.line)}</p>${htmlTable(startup.table)}` : ''}
<h2>How it was measured</h2>
<ul class="notes">${NOTES.map((n) => `<li>${mdInline(n)}</li>`).join('')}</ul>
</body></html>
`;
  return { md, readme, html, aims, plots };
}

/** `code` and **bold** and *italic* of the notes, as HTML. */
function mdInline(text) {
  return esc(text).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>').replace(/\*([^*]+)\*/g, '<i>$1</i>');
}

/** README text with the section between the markers replaced (nothing else touched). */
export function replaceReadmeSection(readme, body) {
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${README_START} ... ${README_END} section`);
  return `${readme.slice(0, a + README_START.length)}\n${body.trim()}\n${readme.slice(b)}`;
}
