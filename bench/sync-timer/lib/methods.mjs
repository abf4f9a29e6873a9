// The tick sources compared, each measured by the same subscriber code
// (bpf/bench_sub.bpf.h) and the same timeline (measure()):
//   sync      the shared sync timer, started from TypeScript (SyncTimer.start)
//   sync-c    the same timer object and subscribers, started by a C harness (c/synctimer_ref.c)
//   perf      a PERF_COUNT_SW_CPU_CLOCK event per CPU per subscriber + a perf_event program
//   user      one pinned thread per CPU, clock_nanosleep(TIMER_ABSTIME) + BPF_PROG_RUN (c/usertimer.c)
//   bpftrace  bpftrace's profile:hz probe printing cpu and nsecs
// plus `sync-timed`, not a peer: a bench-only build of the timer that times its own BPF
// callback (bpf_stats cannot see timer callbacks).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binOut, bpfOut, bpfProgramFds, kallsym, nowNs, progStats, sleep, sleepUntil, spawnChild, stopChild, timerObject } from './system.mjs';

export const METHODS = ['sync', 'sync-c', 'sync-thread', 'perf', 'user', 'bpftrace'];

export const METHOD_INFO = {
  sync: { label: 'sync timer (TS)', color: '#1f5fbf', short: 'sync' },
  'sync-c': { label: 'sync timer (C harness)', color: '#6fa8e8', short: 'sync-c' },
  'sync-thread': { label: 'sync timer, thread mode (TS)', color: '#0b8a8a', short: 'thread' },
  perf: { label: 'perf_event', color: '#e07b00', short: 'perf' },
  user: { label: 'user-space timer', color: '#2e9e44', short: 'user' },
  bpftrace: { label: 'bpftrace profile:hz', color: '#9b3fb5', short: 'bpftrace' },
};

export const RECORD_SIZE = 40;

/** Decodes struct bench_record (bpf/bench_sub.bpf.h); times as Number ns. */
export function decodeRecord(b, o = 0) {
  return {
    index: Number(b.readBigUInt64LE(o)),
    nominal: Number(b.readBigUInt64LE(o + 8)),
    t: Number(b.readBigUInt64LE(o + 16)),
    fired: Number(b.readBigUInt64LE(o + 24)),
    cpu: b.readUInt32LE(o + 32),
    expectedCpu: b.readUInt32LE(o + 36),
  };
}

// ---- the tick-path probe (bpf/tick_path.bpf.c) ----------------------------------------

const SYNC_SOURCES = new Set(['sync', 'sync-c', 'sync-timed', 'sync-thread']);

const PATH_FUNCTION = { sync: 'bpf_timer_cb', 'sync-c': 'bpf_timer_cb', 'sync-timed': 'bpf_timer_cb', perf: 'perf_swevent_hrtimer', bpftrace: 'perf_swevent_hrtimer' };

/** Times the method's hrtimer function per CPU and notes its first run (start-up). */
export function loadPathProbe(lib, method, subscribers) {
  const fn = PATH_FUNCTION[method];
  const open = lib.BpfObject.open(path.join(bpfOut, 'tick_path.bpf.o'));
  open.rodata.set('target_function', fn ? kallsym(fn) : 0n);
  // A tracepoint takes at most 64 BPF programs (perf-event attachment, BPF_TRACE_MAX_PROGS):
  // 64 subscribers on hrtimer_expire_exit leave no room for the timing half of this probe.
  const timesPath = !(SYNC_SOURCES.has(method) && subscribers >= 64);
  if (!timesPath) open.program('on_expire_exit').setAutoload(false);
  const object = open.load();
  object.attachAll();
  const read = () => object.map('path').lookupPerCpu(0).map((b) => ({
    firstNs: Number(b.readBigUInt64LE(16)), totalNs: Number(b.readBigUInt64LE(24)), count: Number(b.readBigUInt64LE(32)),
  }));
  const pathMap = object.map('path');
  // the first run is noted once per reset: the start-up scenario resets before each start
  const reset = () => pathMap.updatePerCpu(0, Array.from({ length: lib.numPossibleCpus() }, () => Buffer.alloc(pathMap.valueSize)));
  return { fn, timesPath, read, reset, close: () => object.close() };
}

// ---- subscribers loaded by this process ------------------------------------------------

function loadSubscriber(lib, file, i, configure) {
  const open = lib.BpfObject.open(path.join(bpfOut, file));
  try {
    open.rodata.set('emit_records', i === 0 ? 1 : 0);
    if (i !== 0) open.map('records').setMaxEntries(4096);
    configure?.(open);
    return open.load();
  } catch (e) {
    open.close();
    throw e;
  }
}

/** Consumes subscriber 0's ring buffer every 20 ms into `records`. */
function consumeRecords(lib, object, records) {
  const ring = new lib.RingBuffer(object.map('records'), (b) => records.push(decodeRecord(b)));
  const timer = setInterval(() => ring.consume(), 20);
  return () => {
    clearInterval(timer);
    ring.close();
  };
}

const selfStats = (programs) => () => ({ progs: programs.map((p) => progStats(process.pid, p.fd)) });

// ---- sources -------------------------------------------------------------------------

function syncSource(lib, cfg, { timed = false, thread = false } = {}) {
  const records = [];
  const subs = [];
  const closers = [];
  let timer;
  let timedObject;
  const src = {
    records,
    async start() {
      const t0 = nowNs();
      let bitmapFd;
      if (timed) {
        const open = lib.BpfObject.open(path.join(bpfOut, 'sync_timer_timed.bpf.o'));
        open.rodata.set('sync_timer_interval_ns', BigInt(cfg.intervalNs));
        open.map('sync_timer_states_shared').setMaxEntries(lib.numPossibleCpus());
        timedObject = open.load();
        await lib.initSyncTimerProgram(timedObject.program('sync_timer_init_shared'), { cpus: cfg.cpus, logger: () => {} });
        bitmapFd = timedObject.map('sync_timer_bitmap').fd;
      } else {
        timer = await lib.SyncTimer.start(cfg.intervalNs, { cpus: cfg.cpus, logger: () => {}, ...(thread ? { mode: 'thread' } : {}) });
        bitmapFd = timer.borrowedMapFd();
      }
      src.startCallNs = nowNs() - t0;
      src.mode = timer?.mode ?? 'modern';
      for (let i = 0; i < cfg.subscribers; i++) {
        const object = loadSubscriber(lib, 'sub_sync.bpf.o', i, (open) => {
          open.map('sync_timer_bitmap').reuseFd(bitmapFd);
          open.rodata.set('my_sync_timer_id', BigInt(timer ? timer.assignId() : i));
        });
        subs.push(object);
        object.attachAll();
      }
      closers.push(consumeRecords(lib, subs[0], records));
      return t0;
    },
    snapshot() {
      const s = selfStats(subs.map((o) => o.program('on_tick')))();
      // where a tick is lost: the timer skipped it (late callback) or subscriber 0 did not see it
      s.hits = subs[0].map('hits').lookupPerCpu(0).map((b) => Number(b.readBigUInt64LE(0)));
      if (timer) s.timer = timer.stats().map((t) => ({ ticks: Number(t.ticks), missed: Number(t.missed) }));
      if (timedObject) {
        const v = timedObject.map('callback_time').lookupPerCpu(0);
        s.callback = v.reduce((a, b) => ({ totalNs: a.totalNs + Number(b.readBigUInt64LE(0)), count: a.count + Number(b.readBigUInt64LE(8)) }), { totalNs: 0, count: 0 });
      }
      return s;
    },
    dropped: () => subs[0].map('drops').lookupPerCpu(0).reduce((a, b) => a + Number(b.readBigUInt64LE(0)), 0),
    async stop() {
      for (const c of closers) c();
      for (const o of subs) o.close();
      timer?.close();
      timedObject?.close();
    },
  };
  return src;
}

function syncCSource(lib, cfg) {
  const records = [];
  let proc;
  let progFds = [];
  let pending = Buffer.alloc(0);
  const src = {
    records,
    async start() {
      proc = spawnChild(path.join(binOut, 'synctimer_ref'), [timerObject, path.join(bpfOut, 'sub_sync.bpf.o'), String(cfg.intervalNs), cfg.cpus.join(','), String(cfg.subscribers)]);
      proc.child.stdout.on('data', (chunk) => {
        const b = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const whole = b.length - (b.length % RECORD_SIZE);
        for (let o = 0; o < whole; o += RECORD_SIZE) records.push(decodeRecord(b, o));
        pending = Buffer.from(b.subarray(whole));
      });
      const armed = await jsonLine(proc.child.stderr, (m) => m.event === 'armed', 'synctimer_ref', proc);
      progFds = armed.prog_fds;
      src.startCallNs = armed.armed - armed.t0;
      src.mode = armed.mode;
      return armed.t0;
    },
    snapshot: () => ({ progs: progFds.map((fd) => progStats(proc.child.pid, fd)) }),
    dropped: () => 0,
    async stop() {
      await stopChild(proc, 'SIGTERM');
    },
  };
  return src;
}

function perfSource(lib, cfg) {
  const records = [];
  const subs = [];
  const links = [];
  let stopConsuming;
  return {
    records,
    async start() {
      for (let i = 0; i < cfg.subscribers; i++) subs.push(loadSubscriber(lib, 'sub_perf.bpf.o', i));
      stopConsuming = consumeRecords(lib, subs[0], records);
      const t0 = nowNs();
      for (const object of subs) {
        for (const cpu of cfg.cpus) {
          // The link holds its own reference to the event: the handle closes at once.
          const event = lib.perfEventOpen({ type: lib.PerfType.SOFTWARE, config: 0 /* PERF_COUNT_SW_CPU_CLOCK */, samplePeriod: cfg.intervalNs }, { cpu });
          try {
            links.push(object.program('on_sample').attachPerfEvent(event));
          } finally {
            event.close();
          }
        }
      }
      return t0;
    },
    snapshot: () => selfStats(subs.map((o) => o.program('on_sample')))(),
    dropped: () => subs[0].map('drops').lookupPerCpu(0).reduce((a, b) => a + Number(b.readBigUInt64LE(0)), 0),
    async stop() {
      // each perf link owns its duplicate of the event fd: destroying it closes that
      for (const l of links) l.destroy();
      stopConsuming?.();
      for (const o of subs) o.close();
    },
  };
}

function userSource(lib, cfg) {
  const records = [];
  const subs = [];
  let proc;
  let stopConsuming;
  let lines;
  const src = {
    records,
    async start() {
      for (let i = 0; i < cfg.subscribers; i++) subs.push(loadSubscriber(lib, 'sub_user.bpf.o', i));
      stopConsuming = consumeRecords(lib, subs[0], records);
      const ids = subs.map((o) => progStats(process.pid, o.program('on_user_tick').fd).id);
      const t0 = nowNs();
      proc = spawnChild(path.join(binOut, 'usertimer'), [String(cfg.intervalNs), cfg.cpus.join(','), ids.join(',')]);
      lines = jsonLines(proc.child.stdout);
      proc.child.stderr.on('data', (d) => (src.stderr = (src.stderr ?? '') + d));
      await lines.next((m) => m.event === 'ready', 'usertimer', proc);
      return t0;
    },
    async snapshot() {
      proc.child.kill('SIGUSR1');
      const r = await lines.next((m) => m.event === 'rusage', 'usertimer', proc);
      return { ...selfStats(subs.map((o) => o.program('on_user_tick')))(), rusage: { utimeNs: r.utime_ns, stimeNs: r.stime_ns, ticks: r.ticks, missed: r.missed, runErrors: r.run_errors } };
    },
    dropped: () => subs[0].map('drops').lookupPerCpu(0).reduce((a, b) => a + Number(b.readBigUInt64LE(0)), 0),
    async stop() {
      if (proc) await stopChild(proc, 'SIGTERM');
      stopConsuming?.();
      for (const o of subs) o.close();
    },
  };
  return src;
}

const HZ = (intervalNs) => Math.round(1e9 / intervalNs);

/** bpftrace fits only where its profile:hz gives the interval exactly (one script = one subscriber). */
export function bpftraceFits(intervalNs) {
  return Number.isInteger(1e9 / intervalNs);
}

function bpftraceSource(lib, cfg) {
  const records = [];
  let proc;
  let text = '';
  let progFds = null;
  const src = {
    records,
    notes: [],
    async start() {
      const script = `profile:hz:${HZ(cfg.intervalNs)} { printf("%d %llu\\n", cpu, nsecs); }`;
      const t0 = nowNs();
      // setpriv: bpftrace dies with this process too
      proc = spawnChild('setpriv', ['--pdeathsig', 'KILL', 'bpftrace', '-e', script], { env: { ...process.env, BPFTRACE_NO_USER_SYMBOLS: '1' } });
      proc.child.stdout.setEncoding('utf8');
      proc.child.stdout.on('data', (d) => {
        text += d;
        const end = text.lastIndexOf('\n');
        if (end < 0) return;
        for (const line of text.slice(0, end).split('\n')) {
          const m = /^(\d+) (\d+)$/.exec(line);
          if (m) records.push({ index: 0, nominal: 0, t: Number(m[2]), fired: 0, cpu: Number(m[1]), expectedCpu: Number(m[1]) });
          else if (/lost/i.test(line)) src.notes.push(line.trim());
        }
        text = text.slice(end + 1);
      });
      proc.child.stderr.on('data', (d) => (src.stderr = (src.stderr ?? '') + d));
      src.pid = proc.child.pid;
      return t0;
    },
    snapshot() {
      progFds ??= bpfProgramFds(proc.child.pid);
      return { progs: progFds.map((fd) => progStats(proc.child.pid, fd)) };
    },
    dropped: () => 0,
    async stop() {
      await stopChild(proc, 'SIGINT');
    },
  };
  return src;
}

/** Reads JSON lines from a stream; next(pred) resolves with the next matching one. */
export function jsonLines(stream) {
  const queue = [];
  const waiters = [];
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m;
      try { m = JSON.parse(line); } catch { continue; }
      queue.push(m);
      for (const w of [...waiters]) w();
    }
  });
  return {
    next(pred, what, proc, timeoutMs = 20000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = queue.findIndex((m) => pred(m) || m.event === 'error');
          if (i < 0) return false;
          const [m] = queue.splice(i, 1);
          done();
          if (m.event === 'error' && !pred(m)) reject(new Error(`${what}: ${m.what}: ${m.message}`));
          else resolve(m);
          return true;
        };
        const timer = setTimeout(() => { done(); reject(new Error(`${what}: no answer within ${timeoutMs} ms`)); }, timeoutMs);
        const onExit = ({ code, signal }) => { if (!check()) { done(); reject(new Error(`${what} exited (${code ?? signal}) early`)); } };
        const done = () => { clearTimeout(timer); waiters.splice(waiters.indexOf(check), 1); };
        waiters.push(check);
        if (!check()) proc.exited.then((r) => setImmediate(() => onExit(r)));
      });
    },
  };
}

function jsonLine(stream, pred, what, proc) {
  return jsonLines(stream).next(pred, what, proc);
}

/** Per CPU [busy, total] jiffies from /proc/stat: how busy the machine was meanwhile. */
function cpuTimes() {
  const out = [];
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = [total - v[3] - v[4], total];
  }
  return out;
}

const SOURCES = { sync: syncSource, 'sync-c': syncCSource, perf: perfSource, user: userSource, bpftrace: bpftraceSource, 'sync-timed': (lib, cfg) => syncSource(lib, cfg, { timed: true }), 'sync-thread': (lib, cfg) => syncSource(lib, cfg, { thread: true }) };

/**
 * One measured run: start the source, wait for the first tick on every CPU (start-up),
 * warm up, then a window of `durationNs` aligned to the grid, with program statistics
 * taken at both ends, and a short tail so late records arrive. Everything is released
 * before it returns.
 */
export async function measure(lib, cfg) {
  const T = cfg.intervalNs;
  const src = SOURCES[cfg.method](lib, cfg);
  const probe = loadPathProbe(lib, cfg.method, cfg.subscribers);
  const out = { ...cfg, cpus: cfg.cpus };
  try {
    const t0 = await src.start();
    out.startCallNs = src.startCallNs;
    out.mode = src.mode;
    // start-up: the probe sees the hrtimer function's first run per CPU; else the first record
    const firstRecord = (cpu) => src.records.find((r) => r.cpu === cpu)?.t ?? 0;
    const firstTick = (cpu) => (probe.fn ? probe.read()[cpu].firstNs : 0) || firstRecord(cpu);
    const deadline = nowNs() + (cfg.method === 'bpftrace' ? 30e9 : 10e9);
    while (!cfg.cpus.every((c) => firstTick(c) > 0 && firstRecord(c) > 0)) {
      if (nowNs() > deadline) throw new Error(`${cfg.method}: no tick on CPU(s) ${cfg.cpus.filter((c) => !firstTick(c)).join(',')} within ${(deadline - t0) / 1e9 | 0} s${src.stderr ? `: ${src.stderr.trim()}` : ''}`);
      await sleep(2);
    }
    out.firstTickNs = cfg.cpus.map((c) => firstTick(c) - t0);
    out.startupNs = Math.max(...out.firstTickNs);
    await sleep(cfg.warmupMs);
    const w0 = (Math.floor(nowNs() / T) + 2) * T;
    const w1 = w0 + Math.round(cfg.durationNs / T) * T;
    out.window = [w0, w1];
    await sleepUntil(w0);
    const s0 = { t: nowNs(), ...(await src.snapshot()), path: probe.read(), cpuTimes: cpuTimes() };
    await sleepUntil(w1);
    const s1 = { t: nowNs(), ...(await src.snapshot()), path: probe.read(), cpuTimes: cpuTimes() };
    out.snapshots = [s0, s1];
    await sleep(Math.max(60, (3 * T) / 1e6));
    out.dropped = src.dropped();
    out.notes = src.notes ?? [];
  } finally {
    try {
      await src.stop();
    } finally {
      probe.close();
    }
  }
  out.records = src.records;
  return out;
}
