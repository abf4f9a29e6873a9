// From one run's records and program statistics to its figures (pure functions):
// delivery per CPU, lateness against the grid (or the fitted per-CPU phase for the
// grid-less perf_event sources), cross-CPU skew of the same tick, cost per tick.

/** Value at quantile q (0..1) of ascending-sorted numbers (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values) => quantile([...values].filter(Number.isFinite).sort((a, b) => a - b), 0.5);

/** Sources whose ticks carry no grid point: lateness is taken against a fitted phase. */
export const GRIDLESS = new Set(['perf', 'bpftrace']);

/**
 * The best-fitting phase of one CPU's samples of a periodic source with period T: the
 * earliest sample of the cluster around the circular median of (t mod T). Samples in
 * the quarter period before the median count as early members of the cluster; anything
 * earlier is a late sample that wrapped around. Lateness is then (t - phase) mod T, so
 * the earliest sample is on time: this favours the peer by its minimum latency.
 */
export function fitPhase(times, T) {
  if (times.length === 0) return NaN;
  let sx = 0;
  let sy = 0;
  for (const t of times) {
    const a = ((t % T) / T) * 2 * Math.PI;
    sx += Math.cos(a);
    sy += Math.sin(a);
  }
  const mean = ((Math.atan2(sy, sx) / (2 * Math.PI)) * T + T) % T;
  const wrap = (r, c) => ((((r - c) % T) + 1.5 * T) % T) - T / 2; // in [-T/2, T/2)
  const med = (mean + quantile(times.map((t) => wrap(t % T, mean)).sort((a, b) => a - b), 0.5) + T) % T;
  let earliest = 0;
  for (const t of times) {
    const d = wrap(t % T, med);
    if (d >= -T / 4 && d < earliest) earliest = d;
  }
  return (med + earliest + T) % T;
}

/** Lateness of each record against the grid (ns). */
function latenessOf(run, recs) {
  const T = run.intervalNs;
  if (!GRIDLESS.has(run.method)) return { lateness: recs.map((r) => r.t - r.nominal), phases: null };
  const phases = run.cpus.map((cpu) => fitPhase(recs.filter((r) => r.cpu === cpu).map((r) => r.t), T));
  const at = new Map(run.cpus.map((c, i) => [c, phases[i]]));
  return { lateness: recs.map((r) => ((((r.t - at.get(r.cpu)) % T) + T) % T)), phases };
}

/** max - min of the CPUs' times for each tick index every CPU reported (ns). */
export function skews(run, recs) {
  const T = run.intervalNs;
  const key = GRIDLESS.has(run.method) ? (r) => Math.floor(r.t / T) : (r) => r.index;
  const groups = new Map();
  for (const r of recs) {
    let g = groups.get(key(r));
    if (!g) groups.set(key(r), (g = new Map()));
    if (!g.has(r.cpu)) g.set(r.cpu, r.t);
  }
  const out = [];
  for (const g of groups.values()) {
    if (g.size < run.cpus.length) continue;
    const ts = [...g.values()];
    out.push(Math.max(...ts) - Math.min(...ts));
  }
  return out;
}

const stats4 = (valuesNs) => {
  const s = Float64Array.from(valuesNs, (v) => v / 1000).sort();
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), p999: quantile(s, 0.999), max: s.length ? s[s.length - 1] : NaN, n: s.length, sorted: s };
};

const delta = (a, b, k) => b[k] - a[k];

/** Cost per tick from the two program-statistics snapshots. */
export function cost(run) {
  const [s0, s1] = run.snapshots;
  const ticks = run.records.filter((r) => r.t >= s0.t && r.t < s1.t).length;
  const sharedTicks = run.method === 'sync' || run.method === 'sync-c' || run.method === 'sync-timed' || run.method === 'sync-thread';
  const subs = s0.progs.map((p, i) => {
    const runs = delta(p, s1.progs[i], 'runCnt');
    const own = sharedTicks ? ticks : runs; // a perf/user/bpftrace program runs once per tick of its own
    return { nsPerTick: delta(p, s1.progs[i], 'runTimeNs') / own, runsPerTick: runs / own };
  });
  const pathNs = sum(s1.path.map((p, c) => p.totalNs - s0.path[c].totalNs));
  const pathCalls = sum(s1.path.map((p, c) => p.count - s0.path[c].count));
  const out = {
    ticks,
    subs,
    sub0Ns: subs[0]?.nsPerTick ?? NaN,
    otherSubNs: subs.length > 1 ? mean(subs.slice(1).map((s) => s.nsPerTick)) : NaN,
    subTotalNs: sum(subs.map((s) => s.nsPerTick)),
    runsPerTick: subs[0]?.runsPerTick ?? NaN,
    pathNs: pathCalls > 0 && pathNs > 0 ? pathNs / pathCalls : NaN,
  };
  if (s0.callback) out.callbackBpfNs = (s1.callback.totalNs - s0.callback.totalNs) / (s1.callback.count - s0.callback.count);
  if (s0.hits) {
    out.subscriberHits = sum(s1.hits.map((h, c) => h - s0.hits[c]));
    if (s0.timer) {
      out.timerTicks = sum(s1.timer.map((t, i) => t.ticks - s0.timer[i].ticks));
      out.timerMissed = sum(s1.timer.map((t, i) => t.missed - s0.timer[i].missed));
    }
  }
  if (s0.rusage) {
    const threadTicks = s1.rusage.ticks - s0.rusage.ticks;
    out.userNs = (s1.rusage.utimeNs - s0.rusage.utimeNs) / threadTicks;
    out.sysNs = (s1.rusage.stimeNs - s0.rusage.stimeNs) / threadTicks;
    out.runErrors = s1.rusage.runErrors;
  }
  // All the CPU time spent delivering one tick to every subscriber on one CPU.
  if (run.method === 'sync' || run.method === 'sync-c') out.tickTotalNs = out.pathNs + out.subTotalNs;
  else if (GRIDLESS.has(run.method)) out.tickTotalNs = out.pathNs * subs.length;
  else if (run.method === 'user') out.tickTotalNs = out.userNs + out.sysNs;
  return out;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const mean = (xs) => (xs.length ? sum(xs) / xs.length : NaN);

/** Everything one run yields. */
export function analyzeRun(run) {
  const T = run.intervalNs;
  const [w0, w1] = run.window;
  const points = Math.round((w1 - w0) / T);
  const gridless = GRIDLESS.has(run.method);
  const recs = run.records.filter(gridless ? (r) => r.t >= w0 && r.t < w1 : (r) => r.nominal >= w0 && r.nominal < w1);
  const delivery = run.cpus.map((cpu) => {
    const mine = recs.filter((r) => r.cpu === cpu);
    return (gridless ? mine.length : new Set(mine.map((r) => r.index)).size) / points;
  });
  const { lateness, phases } = latenessOf(run, recs);
  const late = stats4(lateness);
  const skew = stats4(skews(run, recs));
  const callbackLate = gridless || run.method === 'user' ? null : stats4(recs.map((r) => r.fired - r.nominal));
  const rasterEnd = w0 + 12 * T;
  return {
    key: configKey(run),
    method: run.method,
    intervalNs: T,
    subscribers: run.subscribers,
    load: run.load,
    rep: run.rep,
    cpus: run.cpus,
    mode: run.mode,
    points,
    delivery,
    deliveryMin: Math.min(...delivery),
    latenessUs: { min: late.sorted.length ? late.sorted[0] : NaN, p50: late.p50, p99: late.p99, p999: late.p999, max: late.max },
    latenessSorted: late.sorted,
    callbackLatenessUs: callbackLate && { p50: callbackLate.p50, p99: callbackLate.p99 },
    phasesUs: phases?.map((p) => p / 1000) ?? null,
    skewUs: { p50: skew.p50, p99: skew.p99, n: skew.n },
    cost: cost(run),
    busy: run.cpus.map((c) => {
      const [a, b] = [run.snapshots[0].cpuTimes[c], run.snapshots[1].cpuTimes[c]];
      return (b[0] - a[0]) / Math.max(1, b[1] - a[1]);
    }),
    startupMs: run.startupNs / 1e6,
    firstTickMs: run.firstTickNs.map((n) => n / 1e6),
    startCallMs: run.startCallNs === undefined ? null : run.startCallNs / 1e6,
    dropped: run.dropped,
    notes: run.notes,
    raster: run.cpus.map((cpu) => run.records.filter((r) => r.cpu === cpu && r.t >= w0 && r.t < rasterEnd).map((r) => (r.t - w0) / 1000)),
  };
}

export const configKey = (r) => `${r.method}|${r.intervalNs}|${r.subscribers}|${r.load}`;
