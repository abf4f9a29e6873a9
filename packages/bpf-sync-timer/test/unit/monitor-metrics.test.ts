// The monitor's delivery figure, from synthetic probe records: counted by tick index, it
// can never exceed 1 and does not depend on when the records are read.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTickRecord, DeliveryTracker, TICK_RECORD_SIZE, type TickRecord } from '../../src/cli/metrics';

/**
 * A timer on some CPUs and probe subscribers, producing records in the order the shared
 * ring buffer holds them: per CPU, every subscriber's record of a tick before any of the
 * next tick's. A subscriber records every tick it sees (recordEvery 1) or the first it
 * sees in each block of recordEvery tick indices, like tick_probe.bpf.c.
 */
class Sim {
  readonly queue: TickRecord[] = [];
  readonly #missed = new Map<number, bigint>();
  readonly #hits = new Map<string, bigint>();
  readonly #block = new Map<string, bigint>();

  constructor(readonly recordEvery: Map<number, bigint>) {}

  /** The timer publishes tick `index` on `cpu` after skipping `skipped` grid points; `sees` decides who sees it. */
  publish(cpu: number, index: bigint, sees: (subscriber: number) => boolean = () => true, skipped = 0n): void {
    const missed = (this.#missed.get(cpu) ?? 0n) + skipped;
    this.#missed.set(cpu, missed);
    for (const [s, every] of this.recordEvery) {
      if (!sees(s)) continue;
      const key = `${s}/${cpu}`;
      const hits = (this.#hits.get(key) ?? 0n) + 1n;
      this.#hits.set(key, hits);
      if (every > 1n) {
        if (this.#block.get(key) === index / every) continue;
        this.#block.set(key, index / every);
      }
      this.queue.push(record(cpu, index, missed, hits, s));
    }
  }

  /** The timer on `cpu` is armed afresh (its missed count starts at 0 again). */
  rearm(cpu: number): void {
    this.#missed.set(cpu, 0n);
  }

  /** Hands the first `n` queued records (all by default) to `t`. */
  consume(t: DeliveryTracker, n = this.queue.length): void {
    for (const r of this.queue.splice(0, n)) t.add(r);
  }
}

function record(cpu: number, tickIndex: bigint, missed: bigint, hits: bigint, subscriber: number): TickRecord {
  return { tickIndex, nominalNs: tickIndex * 1000n, firedNs: tickIndex * 1000n + 7n, seenNs: tickIndex * 1000n + 9n, missed, cpu, expectedCpu: cpu, hits, subscriber };
}

const ratios = (t: DeliveryTracker, cpus: number[], dropped = false) => t.take(cpus, dropped).map((d) => d.ratio);

describe('tick records', () => {
  it('decode from the 64-byte struct tick_record', () => {
    const b = Buffer.alloc(TICK_RECORD_SIZE);
    [11n, 22n, 33n, 44n, 55n].forEach((v, i) => b.writeBigUInt64LE(v, i * 8));
    b.writeUInt32LE(1, 40);
    b.writeUInt32LE(2, 44);
    b.writeBigUInt64LE(66n, 48);
    b.writeUInt32LE(7, 56);
    assert.deepEqual(decodeTickRecord(b), { tickIndex: 11n, nominalNs: 22n, firedNs: 33n, seenNs: 44n, missed: 55n, cpu: 1, expectedCpu: 2, hits: 66n, subscriber: 7 });
  });
});

describe('subscribers\' delivery by tick identity', () => {
  it('is exactly 1 when every published tick was seen, and grid points the timer skipped are not charged', () => {
    const sim = new Sim(new Map([[0, 1n], [1, 10n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    for (let i = 100n; i <= 1100n; i++) {
      if (i % 97n === 0n) continue; // the timer missed this grid point...
      for (const cpu of [0, 1]) sim.publish(cpu, i, undefined, (i - 1n) % 97n === 0n ? 1n : 0n); // ...and says so on the next tick
    }
    sim.consume(t);
    const [d0, d1] = t.take([0, 1], false);
    assert.deepEqual([d0.ratio, d1.ratio], [1, 1]);
    assert.equal(d0.seen, d0.published);
    assert.equal(d0.published, 2n * (1000n - 10n)); // ticks after each CPU's first one, less the 10 skipped grid points
  });

  it('is the share of published ticks seen when some are missing', () => {
    const sim = new Sim(new Map([[0, 1n], [3, 1n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    for (let i = 100n; i <= 110n; i++) sim.publish(0, i, (s) => s === 0 || (i !== 103n && i !== 107n));
    sim.consume(t);
    const [d0, d3] = t.take([0], false);
    assert.equal(d0.ratio, 1);
    assert.deepEqual([d3.seen, d3.published], [8n, 10n]); // ticks 101..110, of which 103 and 107 unseen
    assert.equal(d3.ratio, 0.8);
  });

  it('does not count ticks published after the window\'s last read, whoever read them first', () => {
    // The failure this replaces: a tick between reading one counter and the other gave 1.0005.
    const sim = new Sim(new Map([[0, 1n], [1, 1n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    for (let i = 1n; i <= 1000n; i++) sim.publish(0, i);
    sim.consume(t, sim.queue.length - 1); // subscriber 0's record of tick 1000 is read, subscriber 1's is not yet
    assert.deepEqual(ratios(t, [0]), [1, 1]);
    for (let i = 1001n; i <= 1500n; i++) sim.publish(0, i);
    sim.consume(t);
    const [d0, d1] = t.take([0], false);
    assert.deepEqual([d0.ratio, d1.ratio], [1, 1]);
    assert.deepEqual([d0.published, d1.published], [500n, 501n]); // subscriber 1's window runs from its own last record
  });

  it('never exceeds 1, whatever is missed and wherever the windows cut the records', () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 20; round++) {
      const sim = new Sim(new Map([[0, 1n], [1, 1n], [2, 3n], [5, 8n]]));
      const t = new DeliveryTracker(sim.recordEvery);
      const missRate = [0, 0.001, 0.05, 0.5][round % 4];
      const cpus = [0, 1];
      const totals = new Map<number, { seen: bigint; published: bigint }>([...sim.recordEvery.keys()].map((s) => [s, { seen: 0n, published: 0n }]));
      let index = 1_000_000n;
      for (let w = 0; w < 30; w++) {
        for (let n = Math.floor(random() * 60); n > 0; n--) {
          const skipped = random() < 0.05 ? BigInt(1 + Math.floor(random() * 3)) : 0n;
          index += 1n + skipped;
          for (const cpu of cpus) sim.publish(cpu, index, () => random() >= missRate, skipped);
        }
        sim.consume(t, Math.floor(random() * (sim.queue.length + 1)));
        const ds = t.take(cpus, false);
        ds.forEach((d, i) => {
          assert.ok(d.seen <= d.published, `round ${round} window ${w} subscriber ${i}: ${d.seen} of ${d.published}`);
          assert.ok(!(d.ratio > 1));
          if (missRate === 0) assert.ok(d.ratio === 1 || d.published === 0n, `no misses yet ${d.seen}/${d.published}`);
          const total = totals.get([...sim.recordEvery.keys()][i])!;
          total.seen += d.seen;
          total.published += d.published;
        });
      }
      for (const [s, total] of totals) assert.ok(total.seen <= total.published, `round ${round} subscriber ${s}`);
    }
  });

  it('charges a silent subscriber with the ticks the others prove it missed, once', () => {
    const sim = new Sim(new Map([[0, 1n], [1, 10n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    let alive = true;
    const publish = (from: bigint, to: bigint) => {
      for (let i = from; i <= to; i++) sim.publish(0, i, (s) => s === 0 || alive);
    };
    publish(100n, 199n);
    sim.consume(t);
    assert.deepEqual(ratios(t, [0]), [1, 1]);
    alive = false; // subscriber 1 stops seeing ticks after its last record, tick 190
    publish(200n, 299n);
    sim.consume(t);
    const [, silent] = t.take([0], false);
    // it saw none of ticks 200..298 (the blocks after tick 190's, before the newest tick read);
    // of 191..199 (the rest of its block) nothing is known, so they are not charged yet
    assert.deepEqual([silent.seen, silent.published, silent.ratio], [0n, 99n, 0]);
    alive = true;
    publish(300n, 399n);
    sim.consume(t);
    const [, back] = t.take([0], false);
    // ticks 191..390 less the 99 already charged: it saw 191..199 and 300..390
    assert.deepEqual([back.seen, back.published], [9n + 91n, 200n - 99n]);
    assert.ok(back.ratio <= 1);
  });

  it('makes no silence claim in a window with ring buffer drops, nor for a subscriber never heard in the first window', () => {
    const sim = new Sim(new Map([[0, 1n], [1, 1n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    for (let i = 1n; i <= 50n; i++) sim.publish(0, i, (s) => s === 0);
    sim.consume(t);
    assert.ok(Number.isNaN(ratios(t, [0])[1]), 'first window: its attachment may postdate these ticks');
    for (let i = 51n; i <= 100n; i++) sim.publish(0, i, (s) => s === 0);
    sim.consume(t);
    assert.ok(Number.isNaN(ratios(t, [0], true)[1]), 'a dropped record may have been its');
    for (let i = 101n; i <= 150n; i++) sim.publish(0, i, (s) => s === 0);
    sim.consume(t);
    const [, d] = t.take([0], false);
    assert.deepEqual([d.seen, d.published], [0n, 49n]); // 101..149: 150 is the newest, its record may be on the way
  });

  it('starts afresh on a CPU whose timer was re-armed, not charging the time it was down', () => {
    const sim = new Sim(new Map([[0, 1n]]));
    const t = new DeliveryTracker(sim.recordEvery);
    for (let i = 1n; i <= 100n; i++) {
      if (i < 50n || i > 52n) for (const cpu of [0, 1]) sim.publish(cpu, i, undefined, i === 53n ? 3n : 0n);
    }
    sim.consume(t);
    assert.deepEqual(ratios(t, [0, 1]), [1]);
    // CPU 1 goes offline after tick 120 and is re-armed at tick 5000: the index jumps and
    // missed starts at 0 again, unlike a timer that skipped grid points
    for (let i = 101n; i <= 5010n; i++) {
      sim.publish(0, i);
      if (i === 120n) {
        t.interrupt(1);
        sim.rearm(1);
      }
      if (i <= 120n || i >= 5000n) sim.publish(1, i, undefined, i === 5000n ? 2n : 0n);
    }
    sim.consume(t);
    const [interrupted] = t.take([0, 1], false);
    assert.deepEqual([interrupted.seen, interrupted.published], [4910n, 4910n]); // CPU 0 only
    for (let i = 5011n; i <= 5100n; i++) for (const cpu of [0, 1]) sim.publish(cpu, i);
    sim.consume(t);
    const [after] = t.take([0, 1], false);
    assert.equal(after.ratio, 1);
    assert.equal(after.published, 90n + 89n); // CPU 1 counts from its first record after the re-arm, 5011
  });

  it('never exceeds 1 even on records that contradict each other (the timer started over unnoticed)', () => {
    const t = new DeliveryTracker(new Map([[0, 1n]]));
    t.add(record(0, 100n, 5n, 10n, 0));
    t.add(record(0, 101n, 5n, 11n, 0));
    t.add(record(0, 103n, 6n, 14n, 0)); // 3 hits over 1 published tick: not a continuation
    t.add(record(0, 104n, 6n, 15n, 0));
    assert.deepEqual(t.take([0], false), [{ seen: 2n, published: 2n, ratio: 1 }]);
  });
});
