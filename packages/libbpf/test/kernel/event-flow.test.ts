// Errors and flow of ring and perf buffers, as with Node streams, with real BPF producing
// the records (events.bpf.c's emitters, run with testRun): a throwing callback reaches
// 'error'; a failure rejects a waiting iterator; a full iterator queue pauses reading so
// that the kernel side drops instead of the heap growing; close() inside a callback stops
// the batch; closeAsync() and `await using` close.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfArgumentError, BpfError, BpfObject, PerfBuffer, RING_BATCH_MAX, RingBuffer, onlineCpus } from '../../src/index';
import type { NativeRingBufferHandle } from '../../src/native';
import { countFds, fixture, requireRoot, waitFor } from './helpers';

requireRoot();

const MAX_PER_RUN = 8192;

function emit(obj: BpfObject, program: 'emit_ring' | 'emit_perf', n: number, cpu?: number): void {
  assert.ok(n <= MAX_PER_RUN);
  obj.bss.set('count', n);
  assert.equal(obj.program(program).testRun(cpu === undefined ? {} : { cpu }).retval, 0);
}

const seqOf = (b: Buffer): number => Number(b.readBigUInt64LE(0));

/** Both kinds, with what differs between them: the map, the emitter, the record's bytes. */
const KINDS = [
  {
    name: 'ring buffer',
    emitter: 'emit_ring' as const,
    open: (obj: BpfObject, cb?: (seq: number) => void, hwm?: number) =>
      new RingBuffer(obj.map('events'), cb && ((b) => cb(seqOf(b))), hwm === undefined ? {} : { highWaterMark: hwm }),
  },
  {
    name: 'perf buffer',
    emitter: 'emit_perf' as const,
    open: (obj: BpfObject, cb?: (seq: number) => void, hwm?: number) =>
      new PerfBuffer(obj.map('perf_events'), cb && ((r) => cb(seqOf(r.data))), hwm === undefined ? {} : { highWaterMark: hwm }),
  },
];

for (const kind of KINDS) {
  describe(`${kind.name}: errors`, () => {
    it('a throwing callback reaches the error listeners, and delivery goes on', async () => {
      using obj = BpfObject.open(fixture('events')).load();
      const seen: number[] = [];
      const errors: unknown[] = [];
      using buf = kind.open(obj, (seq) => {
        seen.push(seq);
        if (seq % 10 === 3) throw new Error(`bad record ${seq}`);
      });
      buf.on('error', (e) => errors.push(e));
      emit(obj, kind.emitter, 30);
      await waitFor(() => seen.length >= 30, () => `${seen.length} of 30 delivered`);
      assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i));
      assert.deepEqual(errors.map((e) => (e as Error).message), ['bad record 3', 'bad record 13', 'bad record 23']);
      assert.equal(buf.open, true);
    });

    it('without a listener, consume() throws the callback\'s error to its caller', () => {
      using obj = BpfObject.open(fixture('events')).load();
      let calls = 0;
      using buf = kind.open(obj, () => {
        calls++;
        throw new Error('callback failed');
      });
      emit(obj, kind.emitter, 5);
      assert.throws(() => buf.consume(), /callback failed/);
      assert.equal(calls, 1, 'the batch stopped at the throw');
      assert.equal(buf.open, true);
      const later: unknown[] = [];
      buf.on('error', (e) => later.push(e));
      assert.equal(buf.consume(), 4, 'the rest of the batch comes with the next drain');
      assert.equal(calls, 5);
      assert.equal(later.length, 4);
    });

    it('without a listener, a throw on the event loop is an uncaught exception the process can handle', () => {
      // In a child: the test runner treats uncaught exceptions as failures of its own.
      const lib = path.resolve(__dirname, '../../src/index.js');
      const script = `
        const { BpfObject, ${kind.name === 'ring buffer' ? 'RingBuffer' : 'PerfBuffer'}: Buf } = require(${JSON.stringify(lib)});
        const obj = BpfObject.open(${JSON.stringify(fixture('events'))}).load();
        const caught = [];
        process.on('uncaughtException', (e) => { caught.push(e.message); if (caught.length === 1) setTimeout(done, 50); });
        const buf = new Buf(obj.map('${kind.name === 'ring buffer' ? 'events' : 'perf_events'}'), () => { throw new Error('from the loop'); });
        obj.bss.set('count', 3);
        obj.program('${kind.emitter}').testRun();
        function done() { buf.on('error', () => {}); buf.close(); obj.close(); console.log(JSON.stringify(caught)); }
      `;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.signal, null, r.stderr);
      assert.equal(r.status, 0, r.stderr);
      const caught = JSON.parse(r.stdout) as string[];
      assert.ok(caught.length >= 1 && caught.every((m) => m === 'from the loop'), r.stdout);
    });

    it('consume() inside the callback is refused with EBUSY, and the batch goes on', () => {
      using obj = BpfObject.open(fixture('events')).load();
      const inner: unknown[] = [];
      let calls = 0;
      using buf = kind.open(obj, () => {
        calls++;
        try {
          buf.consume();
        } catch (e) {
          inner.push(e);
        }
      });
      emit(obj, kind.emitter, 4);
      assert.equal(buf.consume(), 4);
      assert.equal(calls, 4);
      assert.equal(inner.length, 4);
      assert.ok(inner.every((e) => e instanceof BpfError && e.code === 'EBUSY' && /inside its own record callback/.test(e.message)));
    });
  });

  describe(`${kind.name}: close`, () => {
    it('close() inside a callback stops the rest of the batch', () => {
      using obj = BpfObject.open(fixture('events')).load();
      const seen: number[] = [];
      const buf = kind.open(obj, (seq) => {
        seen.push(seq);
        if (seen.length === 10) buf.close();
      });
      emit(obj, kind.emitter, 100);
      assert.equal(buf.consume(), 10);
      assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => i));
      assert.equal(buf.open, false);
    });

    it('closeAsync() delivers what is ready and closes; `await using` closes at the end of the scope', async () => {
      using obj = BpfObject.open(fixture('events')).load();
      let seen = 0;
      const buf = kind.open(obj, () => void seen++);
      emit(obj, kind.emitter, 20);
      await buf.closeAsync();
      assert.equal(seen, 20);
      assert.equal(buf.open, false);
      await buf.closeAsync(); // idempotent

      let scoped: RingBuffer | PerfBuffer | undefined;
      {
        await using inner = kind.open(obj, () => {});
        scoped = inner;
        assert.equal(scoped.open, true);
      }
      assert.equal(scoped.open, false);
    });
  });

  describe(`${kind.name}: options`, () => {
    it('refuses a high-water mark that is not a whole number of records', () => {
      using obj = BpfObject.open(fixture('events')).load();
      for (const bad of [0, -1, 1.5, Number.NaN, '10']) {
        assert.throws(() => kind.open(obj, undefined, bad as number),
          (e: unknown) => e instanceof BpfArgumentError && e.argument === 'highWaterMark' && /whole number of records/.test(e.message), String(bad));
      }
      using ok = kind.open(obj);
      assert.equal(ok.highWaterMark, 4096);
    });
  });
}

describe('ring buffer: flow', () => {
  it('a full iterator queue pauses reading: the ring fills, the program counts its drops, the queue stays at the mark', async () => {
    const HWM: number = 100;
    using obj = BpfObject.open(fixture('events')).load();
    const rb = new RingBuffer(obj.map('events'), undefined, { highWaterMark: HWM });
    // The 1 MiB ring holds ~14,500 of these 72-byte records; send twice that.
    const EMITTED = 4 * MAX_PER_RUN;
    for (let sent = 0; sent < EMITTED; sent += MAX_PER_RUN) {
      emit(obj, 'emit_ring', MAX_PER_RUN);
      await new Promise((r) => setImmediate(r)); // the event loop reads, up to the mark
      assert.ok(rb.pending <= HWM, `${rb.pending} queued`);
    }
    assert.equal(rb.pending, HWM, 'the queue filled up to the mark, no further');
    assert.equal(rb.paused, true);
    const drops = Number(obj.bss.get('ring_drops'));
    assert.ok(drops > 0, 'the ring filled up while reading was paused');

    let expected = 0;
    let maxPending = 0;
    for await (const rec of rb) {
      assert.equal(seqOf(rec), expected++, 'in order, none missing of what the ring took');
      maxPending = Math.max(maxPending, rb.pending);
      if (expected === EMITTED - drops) break;
    }
    assert.equal(expected, EMITTED - drops, 'every record the ring took arrived');
    assert.ok(maxPending <= HWM, `the queue never went past the mark (${maxPending})`);
  });

  it('a waiting iterator rejects when the buffer fails', async () => {
    using obj = BpfObject.open(fixture('events')).load();
    const rb = new RingBuffer(obj.map('events'));
    const it = rb[Symbol.asyncIterator]();
    const waiting = it.next();
    // The only failure a ring can have is a corrupt record; provoke the same path.
    (rb as unknown as { fail(e: Error): void }).fail(new BpfError('ring buffer read', 74, 'corrupt'));
    await assert.rejects(waiting, /corrupt/);
    assert.equal(rb.open, false);
    assert.deepEqual(await it.next(), { value: undefined, done: true });
  });
});

describe('perf buffer: flow', () => {
  it('a full iterator queue pauses reading: the kernel drops and counts, received + lost == emitted', async () => {
    const HWM: number = 10;
    using obj = BpfObject.open(fixture('events')).load();
    const cpu = onlineCpus()[0];
    let reported = 0;
    const pb = new PerfBuffer(obj.map('perf_events'), undefined, { highWaterMark: HWM, pagesPerCpu: 1, onLost: (n) => void (reported += n) });
    const BURST = 500; // a 1-page buffer holds about 50 of these
    emit(obj, 'emit_perf', 20, cpu);
    await waitFor(() => pb.paused, () => `not paused with ${pb.pending} queued`);
    assert.equal(pb.pending, HWM, 'the queue filled up to the mark, no further');
    emit(obj, 'emit_perf', BURST, cpu); // paused: the CPU's buffer overflows
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(pb.pending, HWM);

    const seqs: number[] = [];
    let maxPending = 0;
    const it = pb[Symbol.asyncIterator]();
    let lastSent = false;
    while (seqs.length + pb.lost < 20 + BURST + 1) {
      const r = await it.next();
      assert.equal(r.done, false);
      seqs.push(seqOf((r.value as { data: Buffer }).data));
      maxPending = Math.max(maxPending, pb.pending);
      // The kernel reports a loss with the next sample it can write: send one more when drained.
      if (!lastSent && pb.pending === 0) {
        lastSent = true;
        emit(obj, 'emit_perf', 1, cpu);
      }
    }
    pb.close();
    assert.equal(seqs.length + pb.lost, 20 + BURST + 1);
    assert.ok(pb.lost > 0, 'the kernel dropped and counted while reading was paused');
    assert.equal(reported, pb.lost);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'in order');
    assert.ok(maxPending <= HWM, `the queue never went past the mark (${maxPending})`);
  });

  it('a throwing onLost rejects a waiting iterator', async () => {
    using obj = BpfObject.open(fixture('events')).load();
    const cpu = onlineCpus()[0];
    const pb = new PerfBuffer(obj.map('perf_events'), undefined, { pagesPerCpu: 1, onLost: () => { throw new Error('onLost failed'); } });
    const it = pb[Symbol.asyncIterator]();
    emit(obj, 'emit_perf', 500, cpu); // overflows before the loop reads
    // Read what was kept, then wait: the next sample carries the loss, and onLost throws.
    let received = 0;
    for (;;) {
      if (pb.pending === 0 && received > 0) break;
      await it.next();
      received++;
    }
    const waiting = it.next();
    emit(obj, 'emit_perf', 1, cpu);
    await assert.rejects(waiting, /onLost failed/);
    assert.equal(pb.open, false);
  });
});

describe('ring buffer: span delivery', () => {
  it('delivers every record as (bytes, offset, length), in order, with errors and close() as in record mode', async () => {
    using obj = BpfObject.open(fixture('events')).load();
    const seqs: number[] = [];
    const errors: unknown[] = [];
    const rb = new RingBuffer(obj.map('events'), (bytes, offset, length) => {
      assert.equal(length, 64);
      const seq = Number(bytes.readBigUInt64LE(offset));
      seqs.push(seq);
      if (seq === 5) throw new Error('bad span');
      if (seq === 2999) rb.close();
    }, { delivery: 'spans' });
    rb.on('error', (e) => errors.push(e));
    emit(obj, 'emit_ring', 1000);
    await waitFor(() => seqs.length >= 1000, () => `${seqs.length} of 1000 delivered`);
    emit(obj, 'emit_ring', 3000); // closed at 2999 of 0..3999: the rest of that batch is not delivered
    assert.equal(rb.consume(), 2000);
    assert.deepEqual(seqs, Array.from({ length: 3000 }, (_, i) => i));
    assert.deepEqual(errors.map((e) => (e as Error).message), ['bad span']);
    assert.equal(rb.open, false);
  });

  it("delivery 'batch': one call per batch with every record's offset and length, in order; errors and close() as in record mode", async () => {
    using obj = BpfObject.open(fixture('events')).load();
    const seqs: number[] = [];
    const calls: number[] = [];
    const errors: unknown[] = [];
    let rb: RingBuffer | undefined;
    rb = new RingBuffer(obj.map('events'), (bytes, offsets, lengths, count) => {
      calls.push(count);
      assert.ok(count <= RING_BATCH_MAX && offsets.length >= count && lengths.length >= count);
      for (let i = 0; i < count; i++) {
        assert.equal(lengths[i], 64);
        assert.equal(offsets[i] % 8, 0);
        seqs.push(Number(bytes.readBigUInt64LE(offsets[i])));
      }
      if (calls.length === 2) throw new Error('bad batch');
      if (calls.length === 3) rb!.close();
    }, { delivery: 'batch' });
    rb.on('error', (e) => errors.push(e));
    for (let k = 0; k < 3; k++) {
      emit(obj, 'emit_ring', 1000); // a batch each: consumed synchronously below
      assert.equal(rb.consume(), 1000);
    }
    // The third call closed it: a fourth batch is never delivered.
    emit(obj, 'emit_ring', 1000);
    assert.throws(() => rb!.consume(), (e: unknown) => e instanceof BpfError && e.code === 'EBADF');
    assert.deepEqual(calls, [1000, 1000, 1000]);
    assert.deepEqual(seqs, Array.from({ length: 3000 }, (_, i) => i));
    assert.deepEqual(errors.map((e) => (e as Error).message), ['bad batch']);
    assert.equal(rb.open, false);
  });

  it('refuses spans without a callback, and an unknown delivery', () => {
    using obj = BpfObject.open(fixture('events')).load();
    assert.throws(() => new RingBuffer(obj.map('events'), undefined as never, { delivery: 'spans' }),
      (e: unknown) => e instanceof BpfArgumentError && e.argument === 'delivery' && /delivers to a callback/.test(e.message));
    assert.throws(() => new RingBuffer(obj.map('events'), undefined as never, { delivery: 'batch' }),
      (e: unknown) => e instanceof BpfArgumentError && e.argument === 'delivery' && /'batch' delivers to a callback/.test(e.message));
    assert.throws(() => new RingBuffer(obj.map('events'), () => {}, { delivery: 'bytes' as never }),
      (e: unknown) => e instanceof BpfArgumentError && e.argument === 'delivery' && /expected 'records', 'spans' or 'batch'/.test(e.message));
  });
});

describe('ring buffer: unmapped on close', () => {
  it('a record kept from the callback stays readable after close(); the ring pages are detached', () => {
    using obj = BpfObject.open(fixture('events')).load();
    const kept: Buffer[] = [];
    const rb = new RingBuffer(obj.map('events'), (rec) => kept.push(rec));
    const { consumer, producer, dataSize } = (rb as unknown as { handle: NativeRingBufferHandle }).handle.regions();
    assert.equal(producer.byteLength, 4096 + 2 * dataSize, 'producer page, then the data twice');
    assert.equal(consumer.byteLength, 4096);
    emit(obj, 'emit_ring', 3);
    rb.close();
    assert.deepEqual(kept.map(seqOf), [0, 1, 2], 'records are copies, valid after the ring is gone');
    assert.equal(producer.byteLength, 0, 'detached before munmap: no view reaches unmapped memory');
    assert.equal(consumer.byteLength, 0);
  });
});

describe('ring and perf buffers: nothing leaks', () => {
  it('200 open/deliver/close cycles leave the fd count and the mappings where they were', () => {
    using obj = BpfObject.open(fixture('events')).load();
    const mappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length;
    const cycle = () => {
      let n = 0;
      const rb = new RingBuffer(obj.map('events'), () => void n++);
      const pb = new PerfBuffer(obj.map('perf_events'), () => void n++, { pagesPerCpu: 1 });
      emit(obj, 'emit_ring', 2);
      emit(obj, 'emit_perf', 2);
      rb.close();
      pb.close();
      assert.equal(n, 4);
    };
    cycle();
    const fds = countFds();
    const maps = mappings();
    for (let i = 0; i < 200; i++) cycle();
    assert.equal(countFds(), fds);
    assert.ok(mappings() <= maps + 8, `${maps} mappings before, ${mappings()} after`); // the heap may map a few more
  });
});
