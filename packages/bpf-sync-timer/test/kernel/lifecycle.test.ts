// Several timers at once, nothing after close(), and no fd leaks over many cycles.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncTimer, SyncTimerError } from '../../src/index';
import { BpfObject } from '@bpf-sync-timer/libbpf';
import { assertWithin, fdCount, fixture, rodataConsumer, requireRoot, sleep, window } from './helpers';

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

describe('timer lifecycle', () => {
  it('two timers with different intervals tick independently', async () => {
    requireRoot();
    const fast = await SyncTimer.start(1_000_000);
    const slow = await SyncTimer.start(5_000_000);
    const cf = rodataConsumer(fast);
    const cs = rodataConsumer(slow);
    try {
      const w = await window(() => ({ f: cf.read(), s: cs.read() }), 1500);
      for (const cpu of fast.cpus) {
        assertWithin(w.after.f.hits[cpu] - w.before.f.hits[cpu], Number(w.elapsedNs) / 1e6, 0.02, `1 ms timer, CPU ${cpu}`);
        assertWithin(w.after.s.hits[cpu] - w.before.s.hits[cpu], Number(w.elapsedNs) / 5e6, 0.02, `5 ms timer, CPU ${cpu}`);
      }
    } finally {
      cf.close();
      cs.close();
      fast.close();
      slow.close();
    }
  });

  it('after close() no consumer counter moves for 100 ms, and close() is idempotent', async () => {
    requireRoot();
    const timer = await SyncTimer.start(100_000);
    const c = rodataConsumer(timer);
    try {
      await sleep(50);
      assert.ok(sum(c.read().hits) > 0n, 'ticks arrive before close');
      timer.close();
      timer.close();
      const after = sum(c.read().hits);
      await sleep(100);
      assert.equal(sum(c.read().hits), after, 'a tick arrived after close()');
      assert.equal(timer.open, false);
    } finally {
      c.close();
    }
  });

  it('200 start/close cycles leak no fds', async () => {
    requireRoot();
    const warm = await SyncTimer.start(1_000_000);
    warm.close();
    const before = fdCount();
    for (let i = 0; i < 200; i++) {
      const t = await SyncTimer.start(1_000_000);
      t.assignId();
      t.close();
    }
    assert.equal(fdCount(), before);
  });

  it('a failed start (forced mode the timer refuses: bad cpus) leaks nothing', async () => {
    requireRoot();
    const before = fdCount();
    await assert.rejects(SyncTimer.start(1_000_000, { cpus: [4095] }), (e: unknown) => e instanceof SyncTimerError && e.code === 'NO_CPUS');
    assert.equal(fdCount(), before);
  });
});

describe('closeAsync', () => {
  it('stops the ticks at once, detaches 4 subscribers off the JS thread, gives their ids back, leaks no fd', async () => {
    requireRoot();
    const fds = fdCount();
    const timer = await SyncTimer.start(1_000_000);
    const subs = Array.from({ length: 4 }, () => timer.subscribe(BpfObject.open(fixture('subscribe_bss'))));
    let turns = 0;
    const spin = setInterval(() => turns++, 0);
    const closing = timer.closeAsync();
    assert.equal(timer.open, false, 'closed for use at once');
    const turnsAtCall = turns;
    await closing;
    clearInterval(spin);
    assert.ok(turns > turnsAtCall, `the event loop ran while the links detached (${turns - turnsAtCall} turns)`);
    assert.deepEqual(subs.map((s) => [s.open, s.links.every((l) => !l.attached)]), Array(4).fill([false, true]));
    await timer.closeAsync(); // idempotent
    assert.equal(fdCount(), fds);
  });
});
