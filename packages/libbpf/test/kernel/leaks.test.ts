// No leaks: 1,000 cycles of open -> load -> attach -> close leave the fd count flat and
// RSS within a bound.
import { it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfObject } from '../../src/index';
import { countFds, fixture, requireRoot } from './helpers';

requireRoot();

const CYCLES = 1000;
/** RSS may grow by less than this over all cycles (JS garbage not yet collected included). */
const RSS_BOUND = 64 * 1024 * 1024;

// With --expose-gc, collect before each measurement; without it RSS includes garbage.
const exposedGc = (globalThis as { gc?: () => void }).gc;
const gc = exposedGc ?? (() => {});

function cycle(path: string): void {
  const open = BpfObject.open(path);
  open.rodata.set('target_pid', process.pid);
  const obj = open.load();
  const links = obj.attachAll();
  assert.equal(links.length, 1);
  void process.ppid; // one getppid(2): proves the tracepoint is attached in this cycle
  assert.equal(obj.bss.get('tp_hits'), 1n);
  obj.close();
  assert.equal(links[0].attached, false);
}

it(`${CYCLES} open/load/attach/close cycles leak no fds and keep RSS growth under ${RSS_BOUND >> 20} MiB`, (t) => {
  const path = fixture('basic');
  // Detaching the last program from a tracepoint makes the kernel wait for RCU grace
  // periods (tracepoint_synchronize_unregister: ~40 ms here). A second attachment, held for
  // the whole test, keeps the tracepoint registered, so each cycle's detach skips that wait
  // (one tasks-trace grace period per detach remains). It changes nothing of what the
  // cycles create and release.
  using keeper = BpfObject.open(path).load();
  keeper.attachAll();

  cycle(path); // warm-up: lazily loaded code, libbpf's feature probes, V8 caches
  gc();
  const fds = countFds();
  const rss = process.memoryUsage().rss;

  // The fd count is able to see a leak: one loaded object holds maps, programs and a link.
  const probe = BpfObject.open(path).load();
  probe.attachAll();
  assert.ok(countFds() >= fds + 6 + 6 + 1, `an open object adds fds (${countFds()} vs ${fds})`);
  probe.close();
  assert.equal(countFds(), fds);

  const start = Date.now();
  for (let i = 0; i < CYCLES; i++) cycle(path);
  const elapsed = Date.now() - start;
  gc();
  const grown = process.memoryUsage().rss - rss;
  t.diagnostic(`${CYCLES} cycles in ${elapsed} ms (${(elapsed / CYCLES).toFixed(1)} ms each); fds ${fds} -> ${countFds()}; ` +
    `RSS grew ${(grown / 1048576).toFixed(1)} MiB (${exposedGc ? 'after gc' : 'gc not exposed'})`);
  assert.equal(countFds(), fds, 'the fd count is back where it was');
  assert.ok(grown < RSS_BOUND, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
});
