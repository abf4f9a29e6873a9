// Kernel test: the collector CLI as a child process, its NDJSON checked line by line.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const CLI = path.join(__dirname, 'collector.js');
const INTERVAL_MS = 10;
const INTERVAL_NS = INTERVAL_MS * 1_000_000;

function requireRoot(): void {
  assert.equal(process.getuid?.(), 0, 'the collector loads BPF programs and needs root: run the tests with sudo');
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The ready line's mode (modern, intermediate, legacy). */
  mode: string;
  /** ms from the ready line to SIGINT (when sent). */
  windowMs: number;
}

/** Runs the CLI; with `sigintAfterMs`, sends SIGINT that long after it reports it started. */
function runCollector(args: string[], sigintAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyAt: bigint | undefined;
    let sigintAt: bigint | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000 + (sigintAfterMs ?? 0));
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (readyAt === undefined && stderr.includes('collector: started')) {
        readyAt = process.hrtime.bigint();
        if (sigintAfterMs !== undefined) {
          setTimeout(() => {
            sigintAt = process.hrtime.bigint();
            child.kill('SIGINT');
          }, sigintAfterMs);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      const mode = /mode (\w+)/.exec(stderr)?.[1] ?? '';
      const windowMs = readyAt !== undefined && sigintAt !== undefined ? Number(sigintAt - readyAt) / 1e6 : NaN;
      resolve({ code, signal, stdout, stderr, mode, windowMs });
    });
  });
}

interface Line {
  type: string;
  tick: number;
  nominal_ns: number;
  cpu: number;
  ctx_switches?: number;
  expected_cpu?: number;
  pid: number;
  tid: number;
  comm: string;
  lateness_ns: number;
  missed: number;
}

function parseLines(stdout: string): Line[] {
  assert.ok(stdout.endsWith('\n'), 'output ends with a complete line');
  return stdout.slice(0, -1).split('\n').map((l, i) => {
    try {
      return JSON.parse(l) as Line;
    } catch (e) {
      throw new assert.AssertionError({ message: `line ${i + 1} is not JSON (${(e as Error).message}): ${l}` });
    }
  });
}

function ticksByCpu(lines: Line[]): Map<number, number[]> {
  const by = new Map<number, number[]>();
  for (const l of lines.filter((x) => x.type === 'tick')) {
    if (!by.has(l.cpu)) by.set(l.cpu, []);
    by.get(l.cpu)!.push(l.tick);
  }
  return by;
}

test('collector: 3 s at 10 ms gives aligned per-CPU tick records and exits 0 on SIGINT', async (t) => {
  requireRoot();
  const run = await runCollector(['--interval-ms', String(INTERVAL_MS), '--duration-s', '60'], 3000);
  assert.equal(run.signal, null, `killed by ${run.signal}; stderr: ${run.stderr}`);
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  assert.match(run.stderr, /collector: stopped after [\d.]+ s: \d+ records/);

  const lines = parseLines(run.stdout);
  for (const l of lines) {
    assert.ok(l.type === 'tick' || l.type === 'migration', `record type ${l.type}`);
    assert.equal(l.nominal_ns, l.tick * INTERVAL_NS, `nominal_ns is tick * interval: ${JSON.stringify(l)}`);
    assert.ok(l.lateness_ns >= 0, `the timer never fires before its grid point: ${JSON.stringify(l)}`);
    assert.ok(typeof l.comm === 'string' && l.comm.length > 0, `comm is a non-empty string: ${JSON.stringify(l)}`);
    assert.ok(Number.isInteger(l.pid) && l.pid >= 0 && Number.isInteger(l.tid) && l.tid >= 0, `pid/tid: ${JSON.stringify(l)}`);
  }
  const migrations = lines.filter((l) => l.type === 'migration');
  for (const m of migrations) assert.notEqual(m.expected_cpu, m.cpu, `a migration names two CPUs: ${JSON.stringify(m)}`);
  // Pinned timers (modern mode, 6.7+) cannot migrate.
  if (run.mode === 'modern') assert.equal(migrations.length, 0, 'migration records in modern mode');

  const ticks = lines.filter((l) => l.type === 'tick');
  const switches = ticks.map((l) => l.ctx_switches!);
  assert.ok(switches.every((n) => Number.isInteger(n) && n >= 0), 'ctx_switches are non-negative integers');
  assert.ok(switches.filter((n) => n > 0).length >= 5, `ticks with context switches: ${switches.filter((n) => n > 0).length} of ${ticks.length}`);

  const by = ticksByCpu(lines);
  assert.equal(by.size, availableParallelism(), `tick records from CPUs ${[...by.keys()].join(',')}`);
  const expected = run.windowMs / INTERVAL_MS;
  t.diagnostic(`window ${run.windowMs.toFixed(0)} ms, mode ${run.mode}, ${lines.length} lines, ${migrations.length} migrations; ` +
    [...by].map(([cpu, idx]) => `cpu${cpu} ${idx.length} ticks`).join(', ') +
    `; ticks with ctx switches ${switches.filter((n) => n > 0).length}/${ticks.length}`);
  for (const [cpu, idx] of by) {
    const dev = Math.abs(idx.length - expected) / expected;
    assert.ok(dev <= 0.05, `cpu ${cpu}: ${idx.length} tick records vs ${expected.toFixed(1)} expected over ${run.windowMs.toFixed(0)} ms (${(dev * 100).toFixed(1)}% off)`);
    let consecutive = 0;
    for (let i = 1; i < idx.length; i++) {
      assert.ok(idx[i] > idx[i - 1], `cpu ${cpu}: tick ${idx[i]} after ${idx[i - 1]}`);
      if (idx[i] === idx[i - 1] + 1) consecutive++;
    }
    assert.ok(consecutive >= (idx.length - 1) * 0.95, `cpu ${cpu}: ${consecutive} of ${idx.length - 1} steps are +1`);
  }
  // Alignment: the same grid point is sampled on every CPU.
  for (const [a, ia] of by) {
    for (const [b, ib] of by) {
      if (a === b) continue;
      const onB = new Set(ib);
      const shared = ia.filter((t) => onB.has(t)).length;
      assert.ok(shared >= ia.length * 0.95, `ticks of cpu ${a} also on cpu ${b}: ${shared} of ${ia.length}`);
      t.diagnostic(`ticks of cpu ${a} also on cpu ${b}: ${shared}/${ia.length}`);
    }
  }
});

test('collector: --duration-s stops it by itself, exit 0, tick count matches the reported run time', async (t) => {
  requireRoot();
  const run = await runCollector(['--interval-ms', '5', '--duration-s', '1']);
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}`);
  const secs = Number(/stopped after ([\d.]+) s/.exec(run.stderr)?.[1]);
  assert.ok(secs >= 0.99 && secs < 1.5, `reported run time ${secs} s`);
  for (const [cpu, idx] of ticksByCpu(parseLines(run.stdout))) {
    const expected = (secs * 1000) / 5;
    t.diagnostic(`cpu${cpu}: ${idx.length} tick records in ${secs} s at 5 ms`);
    assert.ok(Math.abs(idx.length - expected) <= expected * 0.05, `cpu ${cpu}: ${idx.length} tick records vs ${expected.toFixed(1)}`);
  }
});

test('collector: bad arguments exit 2 with the usage, before loading anything', async () => {
  for (const args of [['--interval-ms', '0'], ['--duration-s', '-1'], ['--interval-ms', 'x'], ['--bogus']]) {
    const run = await runCollector(args);
    assert.equal(run.code, 2, `${args.join(' ')}: exit code`);
    assert.match(run.stderr, /usage: collector/, `${args.join(' ')}: usage shown`);
    assert.equal(run.stdout, '', `${args.join(' ')}: no output`);
  }
});
