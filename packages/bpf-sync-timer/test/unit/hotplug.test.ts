// The CPU watcher against a fake machine whose CPUs go offline and come back.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CpuWatcher, type HotplugEvent } from '../../src/hotplug';
import { SyncTimerError } from '../../src/errors';
import type { CpuTimerStats } from '../../src/stats';

function machine(cpus: number[]) {
  const state = { online: new Set(cpus), stopped: new Set<number>(), failRearm: new Set<number>(), clock: 0, rearmed: [] as number[][] };
  const events: HotplugEvent[] = [];
  const stat = (cpu: number): CpuTimerStats => ({ cpu, ticks: 1n, missed: 0n, rearmFailures: 0n, wrongCpu: state.stopped.has(cpu) ? 1n : 0n, lastRearmError: 0, nextExpectedNs: 0n, lastFiredNs: 0n, stopped: state.stopped.has(cpu), clockSteps: 0n, lastClockStepNs: 0n });
  const deps = {
    online: () => [...state.online],
    stats: (list: number[]) => list.map(stat),
    rearm: async (list: number[]) => {
      state.rearmed.push(list);
      return list.map((cpu) => (state.failRearm.has(cpu) ? { cpu, error: new SyncTimerError('AFFINITY_FAILED', 'x', { cpu }) } : (state.stopped.delete(cpu), { cpu, firstExpiryNs: 1n })));
    },
    emit: (e: HotplugEvent) => events.push(e),
    now: () => state.clock,
  };
  return { state, events, deps };
}

describe('CpuWatcher', () => {
  it('reports a CPU going offline and re-arms it when it comes back, with the delay', async () => {
    const m = machine([0, 1, 2, 3]);
    const w = new CpuWatcher([0, 1, 2, 3], [], m.deps);
    await w.check();
    assert.deepEqual(m.events, []);
    m.state.online.delete(2);
    m.state.stopped.add(2); // its migrated timer stopped itself
    m.state.clock = 1000;
    await w.check();
    assert.deepEqual(m.events, [{ type: 'cpu-offline', cpu: 2 }]);
    assert.deepEqual(w.armed, [0, 1, 3]);
    assert.deepEqual(w.waiting, [2]);
    await w.check();
    assert.deepEqual(m.state.rearmed, [], 'nothing re-armed while it is offline');
    m.state.online.add(2);
    m.state.clock = 4000;
    await w.check();
    assert.deepEqual(m.state.rearmed, [[2]]);
    assert.deepEqual(m.events.at(-1), { type: 'cpu-rearmed', cpu: 2, downForMs: 3000 });
    assert.deepEqual(w.armed, [0, 1, 2, 3]);
  });

  it('re-arms a timer that stopped after migrating even if its CPU never looked offline', async () => {
    const m = machine([0, 1]);
    const w = new CpuWatcher([0, 1], [], m.deps);
    m.state.stopped.add(1);
    await w.check();
    assert.deepEqual(m.state.rearmed, [[1]]);
    assert.equal(m.events[0].type, 'cpu-rearmed');
  });

  it('arms a CPU that was offline at start once it comes online; retries failed re-arms', async () => {
    const m = machine([0]);
    const w = new CpuWatcher([0], [1], m.deps);
    m.state.online.add(1);
    m.state.failRearm.add(1);
    await w.check();
    assert.equal(m.events[0].type, 'cpu-rearm-failed');
    assert.deepEqual(w.waiting, [1]);
    m.state.failRearm.clear();
    await w.check();
    assert.equal(m.events[1].type, 'cpu-rearmed');
    assert.deepEqual(w.armed, [0, 1]);
  });
});
