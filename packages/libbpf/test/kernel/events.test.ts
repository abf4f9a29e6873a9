// Ring and perf buffers fed by events.bpf.c's emitters (raw_tp programs run with testRun)
// and delivered by the event loop (uv_poll), counted and checked for order and loss.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfArgumentError, BpfObject, ClosedError, PerfBuffer, RingBuffer, onlineCpus, type PerfRecord } from '../../src/index';
import { fixture, requireRoot, waitFor } from './helpers';

requireRoot();

const EVENT_SIZE = 64;
const MAX_PER_RUN = 8192; // events.bpf.c emits at most this many per run

/** Runs emitter `program` so that it emits `n` events (one run: n <= MAX_PER_RUN). */
function emit(obj: BpfObject, program: string, n: number, cpu?: number): void {
  assert.ok(n <= MAX_PER_RUN);
  obj.bss.set('count', n);
  assert.equal(obj.program(program).testRun(cpu === undefined ? {} : { cpu }).retval, 0);
}

describe('ring buffer', () => {
  it('delivers 100,000 events in order, none lost', async () => {
    const TOTAL = 100_000;
    using obj = BpfObject.open(fixture('events')).load();
    let received = 0;
    let outOfOrder = 0;
    let firstBad = '';
    let wrongSize = 0;
    using rb = new RingBuffer(obj.map('events'), (rec) => {
      const seq = rec.readBigUInt64LE(0);
      if (seq !== BigInt(received) && outOfOrder++ === 0) firstBad = `record #${received} has seq ${seq}`;
      if (rec.length !== EVENT_SIZE) wrongSize++;
      received++;
    });
    for (let emitted = 0; emitted < TOTAL;) {
      const n = Math.min(MAX_PER_RUN, TOTAL - emitted);
      emit(obj, 'emit_ring', n);
      emitted += n;
      await waitFor(() => received >= emitted, () => `${received} of ${emitted} events delivered`);
    }
    assert.equal(received, TOTAL);
    assert.equal(outOfOrder, 0, firstBad);
    assert.equal(wrongSize, 0);
    assert.equal(obj.bss.get('ring_drops'), 0n, 'the program never failed to reserve');
    assert.equal(obj.bss.get('next_seq'), BigInt(TOTAL));
    assert.equal(rb.consume(), 0, 'nothing is left behind');
  });

  it('can be iterated with for await, in order, until closed', async () => {
    using obj = BpfObject.open(fixture('events')).load();
    const rb = new RingBuffer(obj.map('events'));
    emit(obj, 'emit_ring', 500);
    const seqs: bigint[] = [];
    for await (const rec of rb) {
      seqs.push(rec.readBigUInt64LE(0));
      if (seqs.length === 500) break; // break closes the buffer
    }
    assert.deepEqual(seqs, Array.from({ length: 500 }, (_, i) => BigInt(i)));
    assert.equal(rb.open, false);
    assert.equal(rb.pending, 0);
  });

  it('delivers what is ready when closed, and refuses consume() after', async () => {
    using obj = BpfObject.open(fixture('events')).load();
    let received = 0;
    const rb = new RingBuffer(obj.map('events'), () => void received++);
    emit(obj, 'emit_ring', 10);
    rb.close();
    assert.equal(received, 10, 'close() drained the ring first');
    rb.close();
    assert.throws(() => rb.consume(), ClosedError);
  });

  it('is closed with its object', () => {
    const obj = BpfObject.open(fixture('events')).load();
    const rb = new RingBuffer(obj.map('events'), () => {});
    obj.close();
    assert.equal(rb.open, false);
    assert.throws(() => rb.consume(), ClosedError);
  });

  it('wants a ring buffer map', () => {
    using obj = BpfObject.open(fixture('events')).load();
    assert.throws(() => new RingBuffer(obj.map('perf_events')), (e: unknown) =>
      e instanceof BpfArgumentError && /is BPF_MAP_TYPE_PERF_EVENT_ARRAY, not BPF_MAP_TYPE_RINGBUF/.test(e.message));
  });
});

describe('perf buffer', () => {
  it('delivers each CPU\'s events, in order, tagged with that CPU', async () => {
    const PER_CPU = 300;
    using obj = BpfObject.open(fixture('events')).load();
    const records: PerfRecord[] = [];
    using pb = new PerfBuffer(obj.map('perf_events'), (r) => records.push({ cpu: r.cpu, data: Buffer.from(r.data) }));
    const cpus = onlineCpus();
    for (const cpu of cpus) emit(obj, 'emit_perf', PER_CPU, cpu);
    const total = PER_CPU * cpus.length;
    await waitFor(() => records.length >= total, () => `${records.length} of ${total} samples delivered`);
    assert.equal(records.length, total);
    assert.equal(pb.lost, 0);
    cpus.forEach((cpu, i) => {
      const mine = records.filter((r) => r.cpu === cpu).map((r) => r.data.readBigUInt64LE(0));
      assert.deepEqual(mine, Array.from({ length: PER_CPU }, (_, k) => BigInt(i * PER_CPU + k)), `CPU ${cpu}`);
    });
    // perf pads raw samples to 8 bytes with their u32 size: 64 bytes come back as 68.
    assert.ok(records.every((r) => r.data.length >= EVENT_SIZE));
  });

  it('counts what a full buffer dropped: received + lost == emitted', async () => {
    const BURST = 1000; // a 1-page buffer holds about 50 of these
    using obj = BpfObject.open(fixture('events')).load();
    const seqs: bigint[] = [];
    let reported = 0;
    const cpu = onlineCpus()[0];
    using pb = new PerfBuffer(obj.map('perf_events'), (r) => seqs.push(r.data.readBigUInt64LE(0)),
      { pagesPerCpu: 1, onLost: (n) => void (reported += n) });
    emit(obj, 'emit_perf', BURST, cpu); // all before the loop runs: the buffer overflows
    await waitFor(() => seqs.length > 0, () => 'no sample of the burst was delivered');
    // The kernel reports a loss with the next sample it can write: send one more.
    emit(obj, 'emit_perf', 1, cpu);
    await waitFor(() => seqs.length + pb.lost >= BURST + 1, () => `received ${seqs.length}, lost ${pb.lost} of ${BURST + 1}`);
    assert.equal(seqs.length + pb.lost, BURST + 1);
    assert.ok(pb.lost > 0 && seqs.length > 1, `received ${seqs.length}, lost ${pb.lost}`);
    assert.equal(reported, pb.lost, 'onLost saw every loss');
    assert.equal(seqs.at(-1), BigInt(BURST), 'the last sample arrived');
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'received in order');
    assert.equal(seqs[0], 0n, 'the first samples of the burst are the ones kept');
  });

  it('wants a power-of-two page count and a perf event array', () => {
    using obj = BpfObject.open(fixture('events')).load();
    assert.throws(() => new PerfBuffer(obj.map('perf_events'), undefined, { pagesPerCpu: 3 }), { name: 'BpfArgumentError', argument: 'pagesPerCpu' });
    assert.throws(() => new PerfBuffer(obj.map('events')), /not BPF_MAP_TYPE_PERF_EVENT_ARRAY/);
  });
});
