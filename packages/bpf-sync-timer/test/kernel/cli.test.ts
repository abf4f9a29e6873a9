// The sync-timer command as a user runs it.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { includeDir } from '../../src/index';
import { requireRoot } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('sync-timer CLI', () => {
  it('monitor --json reports each armed CPU every second at the interval\'s rate', () => {
    requireRoot();
    const r = run('monitor', '--interval', '1ms', '--duration', '3s', '--subscribers', '2', '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const cpus = new Set(lines.map((l) => l.cpu));
    assert.ok(cpus.size >= 1);
    assert.ok(lines.length >= 2 * cpus.size, `expected >= 2 reports per CPU, got ${lines.length} lines`);
    for (const l of lines) {
      assert.equal(l.mode, 'modern');
      assert.ok(Math.abs(l.ticks_per_s - 1000) / 1000 < 0.03, `CPU ${l.cpu} second ${l.second}: ${l.ticks_per_s} ticks/s`);
      assert.equal(l.migrations, 0);
      assert.ok(l.lateness_us.p50 >= 0 && l.lateness_us.p50 <= l.lateness_us.p99 && l.lateness_us.p99 <= l.lateness_us.max);
      assert.equal(l.subscriber_delivery.length, 2);
      // counted by tick index, so never above 1; below only for ticks a subscriber really missed
      for (const d of l.subscriber_delivery) assert.ok(d >= 0.99 && d <= 1, `CPU ${l.cpu} second ${l.second}: delivery ${d}`);
      if (cpus.size > 1) assert.ok(l.skew_us.p50 >= 0 && l.skew_us.p50 < 1000, `skew ${l.skew_us.p50}`);
    }
  });

  it('monitor shows a table and stops cleanly on Ctrl-C (SIGINT), restoring everything', async () => {
    requireRoot();
    const before = fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8');
    const child = spawn(process.execPath, [BIN, 'monitor', '--duration', '60s', '--mode', 'legacy'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0);
    assert.match(out, /legacy mode/);
    assert.match(out, /cpu\s+ticks\/s\s+late p50/);
    assert.match(out, /cross-CPU skew/);
    assert.equal(fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8'), before);
  });

  it('bad values get a clear message and exit status 2', () => {
    for (const args of [['monitor', '--interval', '1xs'], ['monitor', '--cpus', 'a'], ['monitor', '--subscribers', '65'], ['monitor', '--bogus'], ['frobnicate']]) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^sync-timer: /);
    }
    const tooSmall = run('monitor', '--interval', '500ns', '--duration', '1s');
    assert.equal(tooSmall.status, 1);
    assert.match(tooSmall.stderr, /INTERVAL_TOO_SMALL/);
  });

  it('include-dir prints the directory holding the C headers, the package\'s includeDir', () => {
    const r = run('include-dir');
    assert.equal(r.status, 0);
    const dir = r.stdout.trim();
    assert.ok(fs.existsSync(path.join(dir, 'sync_timer_bitmap.bpf.h')) && fs.existsSync(path.join(dir, 'sync_timer.bpf.h')));
    assert.equal(dir, includeDir);
  });

  it('doctor reports every check OK on this machine and the mode it would use', () => {
    requireRoot();
    const r = run('doctor', '--json');
    assert.equal(r.status, 0, r.stdout);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; ok: boolean; detail: string }>;
    assert.deepEqual(checks.map((c) => c.name), ['kernel', 'BTF', 'privileges', 'tracefs', 'PREEMPT_RT', 'timer_migration', 'libbpf', 'CPUs', 'timer mode']);
    assert.ok(checks.every((c) => c.ok));
    assert.match(checks.at(-1)!.detail, /^modern on CPUs/);
  });

  it('doctor as an unprivileged user names the missing privileges and exits 1', () => {
    requireRoot();
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, BIN, 'doctor'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /PROBLEM\s+privileges/);
    assert.match(r.stdout, /fix: run as root/);
  });
});
