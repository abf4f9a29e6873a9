// The metrics entry on a real timer: a real Prometheus server (Debian's `prometheus`),
// started here on a loopback port with a generated config, scrapes the endpoint the
// monitor serves; the series are then read back through Prometheus's HTTP API. Also the
// in-kernel lateness histogram (on and off) and `sync-timer monitor --prometheus`.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { SyncTimer, SyncTimerError } from '../../src/index';
import { serveMetrics } from '../../src/cli/prometheus';
import { requireRoot, sleep } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const PROMETHEUS = '/usr/bin/prometheus';

/** A loopback port free now (the kernel's pick, released for the child to bind). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

interface PromServer {
  url: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `target` (host:port) every second, with its own config and storage. */
async function startPrometheus(target: string): Promise<PromServer> {
  assert.ok(fs.existsSync(PROMETHEUS), `${PROMETHEUS} is missing: run scripts/bootstrap.sh (it installs Debian's prometheus package)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-timer-prometheus-'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: sync-timer',
    '    scrape_interval: 1s',
    '    scrape_timeout: 900ms',
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n'));
  let log = '';
  const child: ChildProcess = spawn(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killed);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true, 30_000, () => `Prometheus did not get ready:\n${log}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, log: () => log, stop };
}

/** Polls `check` every 250 ms until it is true; fails after `ms` with `why()`. */
async function until(check: () => Promise<boolean>, ms: number, why: () => string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(why());
    await sleep(250);
  }
}

/** An instant query: value per `cpu` label. */
async function query(prom: PromServer, expr: string): Promise<Map<string, number>> {
  const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  assert.equal(body.status, 'success', JSON.stringify(body));
  return new Map(body.data.result.map((s) => [s.metric.cpu, Number(s.value[1])]));
}

const hasCpus = (m: Map<string, number>, cpus: readonly number[]) => cpus.every((c) => m.has(String(c)));

describe('metrics on a real timer', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('a real Prometheus scrapes the served metrics: per-CPU series consistent with the timer, the histogram growing', async () => {
    requireRoot();
    const timer = await SyncTimer.start(1_000_000);
    cleanups.push(() => timer.close());
    const served = await serveMetrics(timer, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => served.close());
    const prom = await startPrometheus(new URL(served.url).host);
    cleanups.push(() => prom.stop());
    const cpus = timer.cpus;
    const why = (what: string) => () => `${what}: no series for CPUs ${cpus.join(',')} within 30 s; Prometheus's log:\n${prom.log()}`;

    let ticks = new Map<string, number>();
    await until(async () => hasCpus((ticks = await query(prom, 'bpf_sync_timer_ticks_total{job="sync-timer"}')), cpus), 30_000, why('ticks_total'));
    const first = await query(prom, 'bpf_sync_timer_lateness_seconds_count');
    assert.ok(hasCpus(first, cpus), why('lateness_seconds_count')());
    const missed = await query(prom, 'bpf_sync_timer_missed_total');
    const wrong = await query(prom, 'bpf_sync_timer_wrong_cpu_total');
    const stopped = await query(prom, 'bpf_sync_timer_stopped');
    const inf = await query(prom, 'bpf_sync_timer_lateness_seconds_bucket{le="+Inf"}');
    const buckets = await query(prom, 'count by (cpu) (bpf_sync_timer_lateness_seconds_bucket)');
    const stats = timer.stats(); // afterwards: every scraped value is at most this
    for (const s of stats) {
      const cpu = String(s.cpu);
      assert.ok(ticks.get(cpu)! > 0 && ticks.get(cpu)! <= Number(s.ticks), `CPU ${cpu}: ticks_total ${ticks.get(cpu)} vs stats() ${s.ticks} read afterwards`);
      assert.ok(missed.get(cpu)! <= Number(s.missed), `CPU ${cpu}: missed_total ${missed.get(cpu)} vs ${s.missed}`);
      assert.equal(wrong.get(cpu), 0, `CPU ${cpu}: wrong_cpu_total`);
      assert.equal(stopped.get(cpu), 0, `CPU ${cpu}: stopped`);
      assert.ok(first.get(cpu)! > 0 && first.get(cpu)! <= Number(s.ticks), `CPU ${cpu}: lateness count ${first.get(cpu)} vs ticks ${s.ticks}`);
      assert.equal(inf.get(cpu), first.get(cpu), `CPU ${cpu}: the +Inf bucket is the count`);
      assert.equal(buckets.get(cpu), 24, `CPU ${cpu}: 23 finite buckets and +Inf`);
    }
    // a later scrape counts more ticks in the histogram
    await until(async () => {
      const now = await query(prom, 'bpf_sync_timer_lateness_seconds_count');
      return cpus.every((c) => (now.get(String(c)) ?? 0) > first.get(String(c))!);
    }, 15_000, () => `the histogram count did not grow; Prometheus's log:\n${prom.log()}`);
    // PromQL's own histogram functions take the series as they are
    await until(async () => hasCpus(await query(prom, 'histogram_quantile(0.5, rate(bpf_sync_timer_lateness_seconds_bucket[5s]))'), cpus), 15_000, why('histogram_quantile'));
    const p50 = await query(prom, 'histogram_quantile(0.5, rate(bpf_sync_timer_lateness_seconds_bucket[5s]))');
    for (const c of cpus) assert.ok(p50.get(String(c))! > 0 && p50.get(String(c))! < 0.001, `CPU ${c}: median lateness ${p50.get(String(c))} s, expected under the 1 ms interval`);
  });

  it('the lateness histogram counts every tick, and is left out with latenessHistogram: false', async () => {
    requireRoot();
    {
      using timer = await SyncTimer.start(1_000_000);
      assert.equal(timer.hasLatenessHistogram, true);
      await sleep(1000);
      const before = timer.stats();
      const hist = timer.latenessHistogram();
      const afterStats = timer.stats();
      for (const [i, h] of hist.entries()) {
        assert.equal(h.cpu, timer.cpus[i]);
        assert.equal(h.counts.length, 24);
        assert.equal(h.boundsNs[0], 1024n);
        assert.equal(h.boundsNs[22], 1n << 32n);
        assert.ok(h.count >= before[i].ticks && h.count <= afterStats[i].ticks, `CPU ${h.cpu}: ${h.count} counted vs ${before[i].ticks}..${afterStats[i].ticks} ticks`);
        const meanUs = Number(h.sumNs) / Number(h.count) / 1000;
        assert.ok(meanUs > 0 && meanUs < 1000, `CPU ${h.cpu}: mean lateness ${meanUs} µs`);
      }
    }
    using off = await SyncTimer.start(1_000_000, { latenessHistogram: false });
    assert.equal(off.hasLatenessHistogram, false);
    assert.throws(() => off.latenessHistogram(), (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_OPTION');
    await sleep(200);
    assert.ok(off.stats().every((s) => s.ticks > 0n));
  });

  it('sync-timer monitor --prometheus serves /metrics while it runs and closes it on exit', async () => {
    requireRoot();
    const child = spawn(process.execPath, [BIN, 'monitor', '--duration', '3s', '--json', '--prometheus', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    cleanups.push(() => void child.kill('SIGKILL'));
    let url = '';
    await until(async () => !!(url = /serving metrics on (\S+)/.exec(stderr)?.[1] ?? ''), 10_000, () => `no URL announced:\n${stderr}`);
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    assert.match(text, /^bpf_sync_timer_ticks_total\{cpu="0"\} [1-9]\d*$/m);
    assert.match(text, /^bpf_sync_timer_lateness_seconds_count\{cpu="0"\} [1-9]\d*$/m);
    assert.equal((await fetch(new URL('/other', url))).status, 404);
    assert.equal(await exited, 0, stderr);
    await assert.rejects(fetch(url), 'the endpoint is closed once the monitor exits');
  });

  it('monitor --prometheus refuses a bad HOST:PORT (status 2) and an address in use (status 1)', async () => {
    requireRoot();
    const bad = spawnSync(process.execPath, [BIN, 'monitor', '--prometheus', 'localhost'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--prometheus: expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464, got 'localhost'/);
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const { port } = taken.address() as net.AddressInfo;
      const child = spawn(process.execPath, [BIN, 'monitor', '--duration', '2s', '--prometheus', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(code, 1, stderr);
      assert.match(stderr, new RegExp(`^sync-timer: --prometheus: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'));
    } finally {
      taken.close();
    }
  });
});
