import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseCount, parseCpus, parseDuration, parseHostPort, UsageError } from '../../src/cli/units';
import { cpuReports, quantile, SkewTracker, summary, type TickRecord } from '../../src/cli/metrics';

describe('CLI values', () => {
  it('reads durations with units', () => {
    assert.equal(parseDuration('x', '500us'), 500_000n);
    assert.equal(parseDuration('x', '1ms'), 1_000_000n);
    assert.equal(parseDuration('x', '1.5ms'), 1_500_000n);
    assert.equal(parseDuration('x', '2s'), 2_000_000_000n);
    assert.equal(parseDuration('x', '250µs'), 250_000n);
    assert.equal(parseDuration('x', '1000'), 1000n);
    assert.equal(parseDuration('x', '1m'), 60_000_000_000n);
  });
  it('rejects bad durations, CPU lists and counts with a UsageError naming the option', () => {
    for (const bad of ['', 'ms', '1xs', '-1ms', '1.5', '1e3ms']) assert.throws(() => parseDuration('--interval', bad), (e: unknown) => e instanceof UsageError && /--interval/.test(e.message), bad);
    assert.throws(() => parseCpus('a-b'), UsageError);
    assert.throws(() => parseCpus(''), UsageError);
    assert.deepEqual(parseCpus('0-2,5'), [0, 1, 2, 5]);
    assert.throws(() => parseCount('--subscribers', '65', 64), UsageError);
    assert.throws(() => parseCount('--subscribers', '0', 64), UsageError);
    assert.equal(parseCount('--subscribers', '64', 64), 64);
  });
  it('reads --prometheus HOST:PORT and rejects the rest, naming the option', () => {
    assert.deepEqual(parseHostPort('--prometheus', '127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseHostPort('--prometheus', 'localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseHostPort('--prometheus', '[::1]:65535'), { host: '::1', port: 65535 });
    for (const bad of ['', '9464', ':9464', 'localhost', 'localhost:', 'localhost:65536', 'localhost:-1', 'local host:80', 'h:80:80', 'http://localhost:9464', '[::1]', 'localhost:9464/metrics']) {
      assert.throws(() => parseHostPort('--prometheus', bad), (e: unknown) => e instanceof UsageError && /^--prometheus: expected HOST:PORT/.test(e.message), bad);
    }
    assert.throws(() => parseHostPort('--prometheus', '::1:9464'), (e: unknown) => e instanceof UsageError && /in brackets: \[::1\]:9464/.test(e.message));
  });
  it('formats durations', () => {
    assert.equal(formatDuration(1_000_000n), '1 ms');
    assert.equal(formatDuration(250_000n), '250 µs');
    assert.equal(formatDuration(2_000_000_000n), '2 s');
    assert.equal(formatDuration(1500n), '1500 ns');
  });
});

const rec = (cpu: number, tick: bigint, firedOffset: bigint, expectedCpu = cpu): TickRecord => ({
  tickIndex: tick, nominalNs: tick * 1000n, firedNs: tick * 1000n + firedOffset, seenNs: 0n, missed: 0n, cpu, expectedCpu, hits: tick, subscriber: 0,
});

describe('monitor metrics', () => {
  it('quantiles by nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(xs, 0.5), 50);
    assert.equal(quantile(xs, 0.99), 99);
    assert.deepEqual(summary([3, 1, 2]), { p50: 2, p99: 3, max: 3 });
    assert.ok(Number.isNaN(summary([]).p50));
  });
  it('skew is the spread of fire times of the same tick over all CPUs; stragglers expire', () => {
    const s = new SkewTracker(2, 4n);
    s.add(rec(0, 10n, 5n));
    s.add(rec(1, 10n, 25n));
    s.add(rec(0, 11n, 7n)); // CPU 1 never reports tick 11
    assert.deepEqual(s.take(), [20]);
    for (let t = 12n; t < 20n; t++) s.add(rec(0, t, 0n));
    s.add(rec(1, 11n, 9n)); // too late: tick 11 was given up
    assert.deepEqual(s.take(), []);
  });
  it('per-CPU reports count ticks, lateness and migrations by the CPU the tick was armed for', () => {
    const records = [rec(0, 1n, 10_000n), rec(0, 2n, 30_000n), rec(1, 1n, 5_000n, 0)];
    const [c0, c1] = cpuReports([0, 1], records, 1, new Map([[0, 2]]));
    assert.equal(c0.ticksPerSecond, 3);
    assert.equal(c0.migrations, 1);
    assert.equal(c0.missed, 2);
    assert.equal(c0.latenessUs.max, 30);
    assert.equal(c1.ticksPerSecond, 0);
  });
});
