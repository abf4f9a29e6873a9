// Kernel test: both seed examples, run as a user would, see every tick on every CPU.
import * as assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { main as seed000 } from './seed000';
import { main as seed001 } from './seed001';

const INTERVAL_MS = 1;
const SECONDS = 2;
const TOLERANCE = 0.02;

function requireRoot(): void {
  assert.equal(process.getuid?.(), 0, 'the seed examples load BPF programs and need root: run the tests with sudo');
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

function assertWithin(actual: number, expected: number, what: string): void {
  const dev = Math.abs(actual - expected) / expected;
  assert.ok(dev <= TOLERANCE, `${what}: ${actual} vs expected ${expected.toFixed(1)} (off by ${(dev * 100).toFixed(2)}% > ${TOLERANCE * 100}%)`);
}

const seeds = [
  ['seed 000 (borrowed fd, id in .rodata before load)', seed000],
  ['seed 001 (duplicated fd, id in .bss after load)', seed001],
] as const;

for (const [name, main] of seeds) {
  test(`${name}: ~${SECONDS * 1000} ticks per CPU in ${SECONDS} s at ${INTERVAL_MS} ms, no migrations`, async (t) => {
    requireRoot();
    const fdsBefore = openFds();
    const { cpus, elapsedNs, timer } = await main(SECONDS);
    assert.equal(openFds(), fdsBefore, 'fds left open by main (timer, consumer, duplicated map fd)');
    const expected = Number(elapsedNs) / 1e6 / INTERVAL_MS;
    // Grid points the timer skipped because its callback ran late (a busy machine defers
    // softirqs to ksoftirqd): they tell a slow machine from a subscriber that lost ticks.
    const missed = timer.map((s) => `cpu${s.cpu} ${s.missed}`).join(', ');
    t.diagnostic(`window ${(Number(elapsedNs) / 1e6).toFixed(1)} ms; ${cpus.map((c) => `cpu${c.cpu} ${c.ticks} ticks ${c.migrations} migrations`).join('; ')}; timer missed ${missed}`);
    assert.equal(cpus.length, availableParallelism(), `one count per usable CPU, got CPUs ${cpus.map((c) => c.cpu).join(',')}`);
    for (const c of cpus) {
      // A grid point the timer skipped gives no tick to anyone: the subscriber is held to the
      // ticks the timer fired (grid points less its own count of missed ones; that count spans
      // the timer's whole life, a little more than the window, so it only loosens the floor by
      // what the timer itself reported).
      const skipped = Number(timer.find((s) => s.cpu === c.cpu)?.missed ?? 0n);
      const what = `cpu ${c.cpu} ticks over the measured ${(Number(elapsedNs) / 1e6).toFixed(1)} ms (timer missed: ${missed})`;
      assert.ok(Number(c.ticks) <= expected * (1 + TOLERANCE), `${what}: ${c.ticks}, more than the ${expected.toFixed(1)} grid points`);
      assertWithin(Math.min(Number(c.ticks), expected - skipped), expected - skipped, what);
      assert.equal(c.migrations, 0n, `cpu ${c.cpu}: ticks that fired on another CPU`);
    }
  });
}

test('main rejects a non-positive duration before loading anything', async () => {
  await assert.rejects(seed000(0), { name: 'RangeError', message: /seconds must be a positive number, got 0/ });
  await assert.rejects(seed001(Number.NaN), { name: 'RangeError', message: /got NaN/ });
});
