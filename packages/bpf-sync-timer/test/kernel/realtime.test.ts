// Ticks aligned across processes on CLOCK_REALTIME: two processes each start their own
// SyncTimer with clock 'realtime' (each its own object and timers) and record every tick
// they see as (cpu, tick index, nominal monotonic ns). The same index must name the same
// instant in both (and on every CPU), and index x interval must be the wall-clock time of
// that instant within 2 ms. Pairs: the bpf_timer mode auto picks in both, and auto against
// thread mode (the kernel's TAI-based conversion against a thread reading CLOCK_REALTIME).
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { BpfArgumentError, BpfObject, GridRunner, GRID_RUN_REALTIME, numPossibleCpus } from '@bpf-sync-timer/libbpf';
import { initSyncTimerProgram, SyncTimer, SyncTimerError, TIMER_OBJECT_PATH } from '../../src/index';
import { realtimeOffsetNs } from './realtime-child';
import { fixture, requireRoot } from './helpers';

const INTERVAL = 1_000_000n;
const WATCH_MS = 600;
const CHILD = path.join(__dirname, 'realtime-child.js');

interface ChildReport {
  mode: string;
  clock: string;
  offsetNs: string;
  stats: Array<{ cpu: number; ticks: string; clockSteps: string }>;
  ticks: Array<[number, string, string]>;
}

function runChild(mode: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, mode, String(WATCH_MS), String(INTERVAL)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child (${mode}) exited ${code}: ${err}`));
      resolve(JSON.parse(out) as ChildReport);
    });
  });
}

/** tick index -> nominal monotonic ns, per CPU. */
function byIndex(r: ChildReport): Map<number, Map<bigint, bigint>> {
  const m = new Map<number, Map<bigint, bigint>>();
  for (const [cpu, index, nominal] of r.ticks) {
    if (!m.has(cpu)) m.set(cpu, new Map());
    m.get(cpu)!.set(BigInt(index), BigInt(nominal));
  }
  return m;
}

const abs = (v: bigint): bigint => (v < 0n ? -v : v);

async function comparePair(modeA: string, modeB: string): Promise<void> {
  const [a, b] = await Promise.all([runChild(modeA), runChild(modeB)]);
  for (const r of [a, b]) {
    assert.equal(r.clock, 'realtime');
    assert.ok(r.ticks.length >= 100, `${r.mode}: only ${r.ticks.length} ticks seen in ${WATCH_MS} ms`);
    for (const s of r.stats) assert.equal(s.clockSteps, '0', `${r.mode} CPU ${s.cpu}: a clock step on a host whose clock nobody set`);
  }
  if (modeB === 'thread') assert.equal(b.mode, 'thread');
  const ia = byIndex(a);
  const ib = byIndex(b);
  let common = 0;
  let worstNs = 0n;
  for (const [cpu, ta] of ia) {
    const tb = ib.get(cpu);
    assert.ok(tb, `CPU ${cpu} ticked in one process only`);
    for (const [index, nominal] of ta) {
      const other = tb.get(index);
      if (other === undefined) continue;
      common++;
      const d = abs(nominal - other);
      if (d > worstNs) worstNs = d;
    }
  }
  const smaller = Math.min(a.ticks.length, b.ticks.length);
  assert.ok(common >= smaller / 2, `only ${common} (cpu, index) pairs in common out of ${smaller}: the runs overlapped for ${WATCH_MS} ms`);
  // the same index is the same instant: monotonic is one clock on one host
  assert.ok(worstNs <= 50_000n, `the same tick index is ${worstNs} ns apart in the two processes (${a.mode} vs ${b.mode})`);
  // and every CPU's tick k is the same instant too
  for (const r of [ia, ib]) {
    const [first, ...rest] = [...r.values()];
    for (const other of rest) {
      for (const [index, nominal] of first) {
        const n = other.get(index);
        if (n !== undefined) assert.ok(abs(n - nominal) <= 50_000n, `tick ${index} is ${n - nominal} ns apart on two CPUs`);
      }
    }
  }
  // index x interval is the wall-clock time of the tick's instant
  let worstWallNs = 0n;
  for (const r of [a, b]) {
    const offset = BigInt(r.offsetNs);
    for (const [, index, nominal] of r.ticks) {
      const d = abs(BigInt(index) * INTERVAL - (BigInt(nominal) + offset));
      if (d > worstWallNs) worstWallNs = d;
    }
  }
  assert.ok(worstWallNs <= 2_000_000n, `index x interval is ${worstWallNs} ns from the wall clock`);
  process.stdout.write(`# ${a.mode} vs ${b.mode}: ${common} ticks in common, same index ${worstNs} ns apart at most, index x interval within ${worstWallNs} ns of the wall clock\n`);
}

describe("clock: 'realtime' across processes", () => {
  it('two processes in the mode auto picks publish the same tick index for the same instant, index x interval within 2 ms of the wall clock', async () => {
    requireRoot();
    await comparePair('auto', 'auto');
  });

  it('a bpf_timer mode and thread mode agree on every tick index', async () => {
    requireRoot();
    await comparePair('auto', 'thread');
  });

  it('intermediate mode keeps the same realtime grid as thread mode', async () => {
    requireRoot();
    await comparePair('intermediate', 'thread');
  });

  it("GridRunner with clock 'realtime' runs at wall-clock grid points, flags its context, and refuses a clock it does not know", async () => {
    requireRoot();
    const open = BpfObject.open(TIMER_OBJECT_PATH);
    open.program('sync_timer_init_shared').setAutoload(false);
    open.map('sync_timer_states_shared').setMaxEntries(1);
    const obj = open.load();
    try {
      const program = obj.program('sync_timer_thread_tick');
      assert.throws(() => GridRunner.start(program, 0, INTERVAL, { clock: 'tai' as never }), (e: unknown) => e instanceof BpfArgumentError && /clock/.test(e.message));
      assert.throws(() => GridRunner.start(program, 0, INTERVAL, { clock: 'realtime', stepNs: -1 }), (e: unknown) => e instanceof BpfArgumentError && /stepNs/.test(e.message));
      assert.equal(GRID_RUN_REALTIME, 1);
      const runner = GridRunner.start(program, 0, INTERVAL, { clock: 'realtime' });
      try {
        await new Promise((r) => setTimeout(r, 200));
        const s = runner.stats();
        assert.ok(s.runs > 100n, `${s.runs} runs in 200 ms at 1 ms`);
        assert.equal(s.errors, 0n);
        assert.equal(s.clockSteps, 0n);
        // the last run's index is its wall-clock grid point; its monotonic instant converts to it
        const d = s.lastIndex * INTERVAL - (s.lastNominalNs + realtimeOffsetNs());
        assert.ok(d < 2_000_000n && d > -2_000_000n, `index x interval is ${d} ns from the wall clock`);
      } finally {
        runner.stop();
      }
    } finally {
      obj.close();
    }
  });

  it("a realtime timer says its clock, and legacy mode refuses it with CLOCK_UNSUPPORTED", async () => {
    requireRoot();
    const timer = await SyncTimer.start(INTERVAL, { clock: 'realtime', logger: () => {}, watchCpusMs: false });
    try {
      assert.equal(timer.clock, 'realtime');
      assert.notEqual(timer.mode, 'legacy');
    } finally {
      timer.close();
    }
    const mono = await SyncTimer.start(INTERVAL, { logger: () => {}, watchCpusMs: false });
    try {
      assert.equal(mono.clock, 'monotonic');
    } finally {
      mono.close();
    }
    await assert.rejects(SyncTimer.start(INTERVAL, { clock: 'realtime', mode: 'legacy' }), (e: unknown) => e instanceof SyncTimerError && e.code === 'CLOCK_UNSUPPORTED');
  });

  it("a DEFINE_SYNC_TIMER object built without SYNC_TIMER_REALTIME_ENABLED refuses clock 'realtime' with CLOCK_UNSUPPORTED naming the define, and arms nothing", async () => {
    requireRoot();
    const open = BpfObject.open(fixture('own_timer'));
    open.map('sync_timer_states_own').setMaxEntries(numPossibleCpus());
    const obj = open.load();
    try {
      await assert.rejects(initSyncTimerProgram(obj.program('sync_timer_init_own'), { clock: 'realtime', mode: 'modern', logger: () => {} }), (e: unknown) =>
        e instanceof SyncTimerError && e.code === 'CLOCK_UNSUPPORTED' && /SYNC_TIMER_REALTIME_ENABLED/.test(e.message));
      assert.equal(obj.map('sync_timer_states_own').lookup(0), undefined, 'no timer state was created');
    } finally {
      obj.close();
    }
  });
});
