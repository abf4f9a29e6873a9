// Thread mode on the host (forced: this kernel has bpf_timer): the same subscriber programs
// get one tick per grid point on the right CPU, gaps are exactly the grid points the threads
// counted as missed, and close() leaves no thread and no tick behind.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BpfObject, RingBuffer } from '@bpf-sync-timer/libbpf';
import { SyncTimer, SyncTimerError } from '../../src/index';
import { decodeTickRecord, type TickRecord } from '../../src/cli/metrics';
import { PROBE_OBJECT } from '../../src/cli/monitor';
import { fdCount, rodataConsumer, requireRoot, sleep } from './helpers';

const threads = () => fs.readdirSync('/proc/self/task').length;

describe('thread mode', () => {
  it('delivers each grid point once per CPU to an unchanged subscriber, gaps equal to the counted misses', async () => {
    requireRoot();
    const fds = fdCount();
    const tasks = threads();
    const timer = await SyncTimer.start(1_000_000, { mode: 'thread', logger: () => {}, watchCpusMs: false });
    const records: TickRecord[] = [];
    let ring: RingBuffer | undefined;
    try {
      assert.equal(timer.mode, 'thread');
      assert.match(timer.modeReason, /^thread: requested by options\.mode; .*\((SCHED_FIFO priority 10|.*normal priority)\)$/);
      assert.equal(threads(), tasks + timer.cpus.length, 'one tick thread per armed CPU');
      const sub = timer.subscribe(BpfObject.open(PROBE_OBJECT), { idVariable: 'my_sync_timer_id' });
      ring = new RingBuffer(sub.object.map('records'), (b) => records.push(decodeTickRecord(b)));
      await sleep(1000);
      ring.consume();
    } finally {
      ring?.close();
      timer.close();
    }
    assert.equal(threads(), tasks, 'no thread left after close()');
    assert.equal(fdCount(), fds, 'no fd left after close()');
    for (const cpu of timer.cpus) {
      const mine = records.filter((r) => r.cpu === cpu);
      assert.ok(mine.length >= 300, `CPU ${cpu}: ${mine.length} ticks in 1 s at 1 ms`);
      for (const r of mine) assert.equal(r.expectedCpu, cpu, 'a tick taken on another CPU than published for');
      for (let i = 1; i < mine.length; i++) {
        const [a, b] = [mine[i - 1], mine[i]];
        // identity: the tick indices a subscriber skips are the grid points the thread skipped
        assert.equal(b.tickIndex - a.tickIndex - 1n, b.missed - a.missed,
          `CPU ${cpu}: tick ${a.tickIndex} -> ${b.tickIndex}, but the thread counted ${b.missed - a.missed} missed`);
        assert.equal(b.nominalNs, b.tickIndex * 1_000_000n, 'on the grid');
      }
      // the kick delivers right after the run: the subscriber sees the tick soon after it was published
      const delays = mine.map((r) => Number(r.seenNs - r.firedNs)).sort((x, y) => x - y);
      assert.ok(delays[Math.floor(delays.length / 2)] < 200_000, `CPU ${cpu}: median publish-to-subscriber ${delays[Math.floor(delays.length / 2)]} ns`);
    }
  });

  it('keeps the lateness histogram and stats like the other modes; stats() is CLOSED after close()', async () => {
    requireRoot();
    const timer = await SyncTimer.start(1_000_000, { mode: 'thread', logger: () => {}, watchCpusMs: false });
    let c;
    try {
      c = rodataConsumer(timer);
      await sleep(300);
      // a run counts in the histogram just before it counts as a tick: reads in the order
      // histogram, stats, histogram bracket the tick count without a race
      const h1 = timer.latenessHistogram();
      const stats = timer.stats();
      const h2 = timer.latenessHistogram();
      const seen = c.read();
      for (const [i, cpu] of timer.cpus.entries()) {
        assert.ok(stats[i].ticks > 100n, `CPU ${cpu}: ${stats[i].ticks} ticks`);
        assert.equal(stats[i].wrongCpu, 0n);
        assert.equal(stats[i].stopped, false);
        assert.ok(h1[i].count <= stats[i].ticks + 1n && stats[i].ticks <= h2[i].count, `histogram ${h1[i].count}..${h2[i].count} vs ticks ${stats[i].ticks}`);
        assert.equal(seen.migrations[cpu], 0n);
      }
    } finally {
      c?.close();
      timer.close();
    }
    assert.throws(() => timer.stats(), (e: unknown) => e instanceof SyncTimerError && e.code === 'CLOSED');
  });

  it('a worker terminated while its thread-mode timer runs leaves no tick thread behind', async () => {
    requireRoot();
    const tasks = threads();
    const index = path.resolve(__dirname, '..', '..', 'src', 'index.js');
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      require(${JSON.stringify(index)}).SyncTimer.start(1_000_000, { mode: 'thread', logger: () => {}, watchCpusMs: false })
        .then((t) => parentPort.postMessage(t.cpus.length), (e) => parentPort.postMessage(String(e)));`, { eval: true });
    const armed = await new Promise((resolve) => worker.once('message', resolve));
    assert.equal(typeof armed, 'number', String(armed));
    assert.ok(threads() >= tasks + (armed as number), 'the tick threads run');
    await worker.terminate();
    for (let i = 0; i < 50 && threads() > tasks; i++) await sleep(20);
    assert.equal(threads(), tasks, 'the environment cleanup hook joined the tick threads (and the worker\'s own)');
  });

  it('rejects a bad threadPriority before anything starts', async () => {
    for (const p of [-1, 100, 1.5, '10']) {
      await assert.rejects(SyncTimer.start(1_000_000, { mode: 'thread', threadPriority: p as number }),
        (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_OPTION' && /threadPriority/.test(e.message));
    }
  });
});
