// Worker threads and the native boundary: a worker that ends (terminated, process.exit in
// it, an uncaught throw) with runs in flight and every kind of live native handle leaves
// the process running with nothing leaked; concurrent loads keep their logs apart; wrapped
// handles of one kind are refused where another is expected; a thread that cannot start
// is an errno, not std::terminate. Each scenario runs in a child process
// (worker-scenarios.ts) so that a regression fails its test instead of killing the runner.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfArgumentError, BpfObject, GridRunner, perfEventOpen, PerfType, runOnCpus } from '../../src/index';
import { native } from '../../src/native';
import { fixture, pinnableCpus, requireRoot, waitFor } from './helpers';

requireRoot();

const SCENARIOS = path.join(__dirname, 'worker-scenarios.js');

function scenario(name: string, repeats: number): Record<string, unknown> {
  const r = spawnSync(process.execPath, [SCENARIOS, name, String(repeats)], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, `the process died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, `exit status ${r.status}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /terminate called|Segmentation|Aborted|FATAL ERROR/);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe('a worker that ends while native work is in flight', () => {
  it('terminated during runOnCpus (50 runs in flight), 10 times: the process lives on', () => {
    assert.deepEqual(scenario('runs-terminated', 10), { terminated: 10 });
  });

  for (const end of ['terminate', 'exit', 'throw'] as const) {
    it(`ended by ${end} with an object, a link, a grid runner, a perf event, a dup fd, an open object and a run in flight, 3 times: nothing leaks`, () => {
      const r = scenario(`live-${end}`, 3) as { codes: number[]; errors: string[]; fdsBefore: number; fdsAfter: number; threadsBefore: number; threadsAfter: number };
      const code = { terminate: 1, exit: 3, throw: 1 }[end];
      assert.deepEqual(r.codes, [code, code, code]);
      if (end === 'throw') assert.deepEqual(r.errors, Array(3).fill('worker throws with everything open'));
      assert.equal(r.fdsAfter, r.fdsBefore, 'every fd the workers opened is closed by their environment cleanup');
      assert.equal(r.threadsAfter, r.threadsBefore, 'the grid runners\' threads were joined');
    });
  }
});

describe('the main thread ending with everything open', () => {
  for (const [end, status] of [['exit', 4], ['throw', 1], ['return', 0]] as const) {
    it(`by ${end === 'return' ? 'running out of work' : end === 'exit' ? 'process.exit(4)' : 'an uncaught throw'}: exit status ${status}, no crash`, () => {
      for (let i = 0; i < 3; i++) {
        const r = spawnSync(process.execPath, [SCENARIOS, `at-exit-${end}`], { encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.signal, null, `run ${i} died of ${r.signal}: ${r.stderr}`);
        assert.equal(r.status, status, r.stderr);
        assert.doesNotMatch(r.stderr, /terminate called|Segmentation|Aborted|FATAL ERROR/);
        if (end === 'throw') assert.match(r.stderr, /main throws with everything open/);
      }
    });
  }
});

describe('libbpf messages per environment', () => {
  it('two workers loading failing programs at once: 2 x 40 VerifierErrors, each with its own log, 0 mixed', () => {
    const r = scenario('concurrent-logs', 40) as Record<string, { own: number; missing: number; foreignMessages: number }>;
    assert.deepEqual(r, {
      unchecked: { own: 40, missing: 0, foreignMessages: 0 },
      long_log: { own: 40, missing: 0, foreignMessages: 0 },
    });
  });
});

describe('type tags', () => {
  it('a method called on another kind of handle is a TypeError, not a crash', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const [link] = obj.attachAll();
    using ev = perfEventOpen({ type: PerfType.SOFTWARE, config: 0, samplePeriod: 1_000_000 }, { cpu: 0 });
    const addon = native();
    const fdHandle = ev.nativeHandle();
    const objectProto = addon.NativeObject.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    // V8 checks the receiver's class first ('Illegal invocation'); the tag check behind it
    // covers receivers that pass that check without being a live instance.
    assert.throws(() => objectProto.maps.call(fdHandle), TypeError);
    assert.throws(() => objectProto.close.call({}), TypeError);
    const fdProto = Object.getPrototypeOf(fdHandle) as Record<string, (...a: unknown[]) => unknown>;
    assert.throws(() => fdProto.close.call(Object.create(fdProto)), TypeError);
    assert.equal(link.attached, true, 'the link is untouched');
    assert.ok(ev.fd >= 0, 'the perf event is still open');
  });

  it('an argument of the wrong kind is a TypeError naming it; handles cannot be made from JS', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const addon = native() as unknown as Record<string, new (...a: unknown[]) => unknown>;
    assert.throws(() => new addon.NativeLink(), { name: 'TypeError', message: 'NativeLink is created by attach calls only' });
    assert.throws(() => new addon.NativeFd(), { name: 'TypeError', message: 'NativeFd is created by perfEventOpen and dupFd only' });
    const p = obj.program('whoami');
    const [h, index] = p.nativeCall((handle, i) => [handle as unknown as Record<string, (...a: unknown[]) => unknown>, i] as const);
    assert.throws(() => h.progAttachPerfEvent(index, h), { name: 'TypeError', message: 'perfEvent must be a NativeFd' });
    assert.throws(() => h.progAttachPerfEvent(index, {}), { name: 'TypeError', message: 'perfEvent must be a NativeFd' });
    assert.throws(() => p.attachPerfEvent(7 as never), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'event' && /fd numbers are not accepted/.test(e.message));
  });
});

describe('handles instead of owned fd numbers', () => {
  it('a PerfEvent closed before its link: the link keeps sampling until destroyed; nothing else is closed', async () => {
    using obj = BpfObject.open(fixture('perf')).load();
    const other = fs.openSync(fixture('perf'), 'r');
    try {
      const ev = perfEventOpen({ type: PerfType.SOFTWARE, config: 0 /* CPU_CLOCK */, samplePeriod: 100_000 }, { cpu: pinnableCpus()[0] });
      const link = obj.program('on_sample').attachPerfEvent(ev);
      const samples = (): bigint => obj.bss.get('samples') as bigint;
      await waitFor(() => samples() > 0n, () => `samples ${samples()}`);
      ev.close();
      ev.close();
      assert.equal(ev.open, false);
      assert.throws(() => ev.fd, { name: 'ClosedError' });
      const before = samples();
      await waitFor(() => samples() > before, () => `samples ${samples()} after closing the PerfEvent`);
      link.destroy();
      const stopped = samples();
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(samples(), stopped, 'no sample after the link is destroyed');
      assert.ok(fs.fstatSync(other).isFile(), 'an unrelated fd stays open');
    } finally {
      fs.closeSync(other);
    }
  });

  it('attachPerfEvent refuses a closed PerfEvent', () => {
    using obj = BpfObject.open(fixture('perf')).load();
    const ev = perfEventOpen({ type: PerfType.SOFTWARE, config: 0, samplePeriod: 100_000 }, { cpu: pinnableCpus()[0] });
    ev.close();
    assert.throws(() => obj.program('on_sample').attachPerfEvent(ev), { name: 'ClosedError' });
  });
});

describe('thread start failure in runOnCpus', () => {
  it('a run whose thread cannot start reports EAGAIN; the ones started are joined (pids cgroup)', () => {
    const cpus = pinnableCpus();
    assert.ok(cpus.length >= 2, 'needs two CPUs');
    // cgroup v1 mounts the controller on its own; v2 lists it among the root's controllers.
    const v2 = (d: string): boolean => fs.existsSync(path.join(d, 'cgroup.controllers')) && fs.readFileSync(path.join(d, 'cgroup.controllers'), 'utf8').includes('pids');
    const root = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup'].find((d) => fs.existsSync(path.join(d, 'cgroup.procs')) && (d.endsWith('/pids') || v2(d)));
    assert.ok(root, 'needs the pids cgroup controller (v1 at /sys/fs/cgroup/pids or v2)');
    const cg = fs.mkdtempSync(path.join(root, 'libbpf-test-'));
    try {
      const script = `
        const fs = require('fs');
        const { BpfObject, runOnCpus } = require(${JSON.stringify(path.resolve(__dirname, '../../src/index.js'))});
        const p = BpfObject.open(${JSON.stringify(fixture('basic'))}).load().program('whoami');
        (async () => {
          await runOnCpus(p, [${cpus[0]}, ${cpus[1]}]); // starts libuv's pool
          fs.writeFileSync(${JSON.stringify(cg)} + '/cgroup.procs', String(process.pid));
          fs.writeFileSync(${JSON.stringify(cg)} + '/pids.max', String(fs.readdirSync('/proc/self/task').length + 1));
          const runs = await runOnCpus(p, [${cpus[0]}, ${cpus[1]}]);
          fs.writeFileSync(${JSON.stringify(cg)} + '/pids.max', 'max');
          console.log(JSON.stringify(runs.map((r) => [r.cpu, r.errno, r.retval])));
        })();`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.signal, null, `died of ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [[cpus[0], 0, cpus[0]], [cpus[1], 11, 0]]);
    } finally {
      fs.rmdirSync(cg);
    }
  });
});

describe('closeAsync', () => {
  it('detaches on the pool: the link is dead at once, the object closes after its links', async () => {
    const obj = BpfObject.open(fixture('basic')).load();
    const links = obj.attachAll();
    const runner = GridRunner.start(obj.program('whoami'), pinnableCpus()[0], 1_000_000n);
    const closing = obj.closeAsync();
    assert.equal(obj.open, false, 'unusable from the call on');
    assert.equal(links[0].attached, false);
    assert.equal(runner.stats().running, false);
    await closing;
    await obj.closeAsync(); // idempotent
    assert.throws(() => obj.program('whoami'), { name: 'ClosedError' });
  });
});
