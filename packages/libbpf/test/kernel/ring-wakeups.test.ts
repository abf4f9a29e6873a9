// Ring buffer wake-ups are edge-triggered (native/event_poller.h): the consumer is woken
// when the kernel signals the ring, not whenever the producer is ahead of it. What must
// hold: a producer on another thread, in bursts and pauses, with the kernel's default
// wake-ups, never leaves a committed record undelivered (the kernel signals a commit only
// at the position the consumer published, so a consumer that stopped at a record still
// being written must have re-read after publishing); a drain that a callback's throw ended
// early goes on by itself; records submitted without a wake-up wait for the next one.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BpfObject, RingBuffer, onlineCpus } from '../../src/index';
import { fixture, requireRoot, waitFor } from './helpers';

requireRoot();

const LIB = path.resolve(__dirname, '../../src/index.js');

/**
 * A worker that loads its own copy of the events object with `events` reusing `ringFd`,
 * then test-runs emit_ring `rounds` times on `cpu`, 1 to 64 records a run, pausing 0 to
 * 300 us between runs (seeded); posts the records the ring took and the drops.
 */
function producer(ringFd: number, cpu: number, rounds: number, seed: number): Promise<{ submitted: number; drops: number }> {
  const code = `
    const { BpfObject } = require(${JSON.stringify(LIB)});
    const { parentPort, workerData } = require('node:worker_threads');
    const open = BpfObject.open(${JSON.stringify(fixture('events'))});
    open.map('events').reuseFd(workerData.ringFd);
    const obj = open.load();
    let s = workerData.seed >>> 0;
    const rand = (n) => { s = (s * 1664525 + 1013904223) >>> 0; return s % n; };
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < workerData.rounds; i++) {
      obj.bss.set('count', 1 + rand(64));
      obj.program('emit_ring').testRun({ cpu: workerData.cpu });
      const pause = rand(300);
      if (pause > 100) Atomics.wait(sleeper, 0, 0, pause / 1000);
    }
    parentPort.postMessage({ submitted: Number(obj.bss.get('next_seq')), drops: Number(obj.bss.get('ring_drops')) });
    obj.close();
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { ringFd, cpu, rounds, seed } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (c) => c !== 0 && reject(new Error(`producer exited with ${c}`)));
  });
}

describe('ring buffer: edge-triggered wake-ups', () => {
  const cpus = onlineCpus();
  const producerCpu = cpus[cpus.length - 1];

  for (const delivery of ['records', 'spans', 'batch'] as const) {
    it(`${delivery}: a producer on another thread, in bursts and pauses, with default wake-ups: every record arrives, in order, with no wake-up left to wait for`, async () => {
      using obj = BpfObject.open(fixture('events')).load();
      const seqs: number[] = [];
      const take = (bytes: Buffer, at: number): void => void seqs.push(Number(bytes.readBigUInt64LE(at)));
      const rb = delivery === 'records'
        ? new RingBuffer(obj.map('events'), (rec) => take(rec, 0))
        : delivery === 'spans'
          ? new RingBuffer(obj.map('events'), (bytes, offset) => take(bytes, offset), { delivery: 'spans' })
          : new RingBuffer(obj.map('events'), (bytes, offsets, _lengths, n) => {
            for (let i = 0; i < n; i++) take(bytes, offsets[i]);
          }, { delivery: 'batch' });
      try {
        // The object's own emitter is not run here: the worker's copy writes into this ring
        // (`next_seq` is the worker's; records are numbered 0.. in the order the ring took them).
        const { submitted, drops } = await producer(obj.map('events').fd, producerCpu, 3000, 7 + seqs.length);
        assert.ok(submitted > 40_000, `the producer submitted ${submitted}`);
        // No consume() here: the last records must come by the kernel's wake-ups alone.
        await waitFor(() => seqs.length >= submitted, () => `${seqs.length} of ${submitted} delivered (${drops} dropped by the ring)`, 10_000);
        assert.equal(seqs.length, submitted);
        for (let i = 0; i < seqs.length; i++) if (seqs[i] !== i) assert.fail(`record ${i} has seq ${seqs[i]}`);
      } finally {
        rb.close();
      }
    });
  }

  it('a drain ended by an uncaught callback error goes on by itself (process kept alive by an uncaughtException handler)', () => {
    // In a child process: the uncaught error is the point of the case.
    const script = `
      const { BpfObject, RingBuffer } = require(${JSON.stringify(LIB)});
      const obj = BpfObject.open(${JSON.stringify(fixture('events'))}).load();
      let seen = 0, thrown = 0;
      process.on('uncaughtException', () => void thrown++);
      const rb = new RingBuffer(obj.map('events'), () => { seen++; if (seen === 10) throw new Error('record 10'); });
      // After the drains a new ring does by itself (two loop turns), one wake-up for all
      // 1000 records: the throw at the 10th ends that drain; the rest must follow
      // without another record being written.
      setTimeout(() => {
        obj.bss.set('count', 1000);
        obj.program('emit_ring').testRun();
      }, 50);
      const give = setTimeout(() => { console.log(JSON.stringify({ seen, thrown })); process.exit(0); }, 2000);
      const poll = setInterval(() => { if (seen >= 1000) { clearInterval(poll); clearTimeout(give); rb.close(); console.log(JSON.stringify({ seen, thrown })); } }, 5);
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { seen: 1000, thrown: 1 });
  });
});
