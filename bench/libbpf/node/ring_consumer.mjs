// Node peer of the ring buffer benchmark: the twin of ../c/ring_consumer.c. Loads the
// benchmark object with the library, consumes its `events` ring with the library's
// RingBuffer callback, and starts the C producer with the ring's fd as fd 3. Each record is
// touched: its seq must follow the previous one. Prints one JSON line.
//   adaptive, batch: streaming for AMOUNT seconds; records arrive on the event loop (libuv
//     watches the ring) while the producer runs on PRODUCER_CPU; before the producer starts,
//     eight fills of the ring (as in drain) and 500 single runs are consumed untimed, a warm start.
//   drain: AMOUNT times, fills the ring itself (synchronous test runs of the same program
//     until a reserve fails), then times one RingBuffer.consume() of the backlog.
//     PRODUCER and PRODUCER_CPU are not used.
//
// DELIVERY: records (default; a Buffer per record, kept valid), spans (the callback gets
// (bytes, offset, length), no allocation per record) or batch (one call per batch with the
// records' offsets and lengths); see RingBufferOptions.delivery.
//
// usage: node ring_consumer.mjs LIB OBJ PRODUCER PRODUCER_CPU BATCH adaptive|batch|drain AMOUNT [DELIVERY]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const [lib, objPath, producer, producerCpu, batch, mode, amount, delivery = 'records'] = process.argv.slice(2);
if (!['adaptive', 'batch', 'drain'].includes(mode)) throw new Error(`unknown mode ${mode}`);
if (!['records', 'spans', 'batch'].includes(delivery)) throw new Error(`unknown delivery ${delivery}`);
const { BpfObject, RingBuffer } = await import(pathToFileURL(lib).href);

const obj = BpfObject.open(objPath).load();
const ring = obj.map('events');

let count = 0;
let words; // spans: a u32 view of the span Buffer
let wordsOf;
let expected = 0;
let errors = 0;
// seq is a u64; two u32 reads avoid a BigInt per record (exact below 2^53)
const rb = delivery === 'batch'
  ? new RingBuffer(ring, (bytes, offsets, lengths, n) => {
    if (wordsOf !== bytes) {
      wordsOf = bytes;
      words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    }
    // The loop works on locals, stored back once per batch: module-level variables are
    // context slots, and a store to one per record costs more than the record's checks.
    let next = expected;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const w = offsets[i] >> 2;
      const seq = words[w + 1] * 0x1_0000_0000 + words[w];
      if (lengths[i] !== 64 || seq !== next) bad++;
      next = seq + 1;
    }
    expected = next;
    errors += bad;
    count += n;
  }, { delivery: 'batch' })
  : delivery === 'spans'
  ? new RingBuffer(ring, (bytes, offset, length) => {
    // `bytes` is the same Buffer on every call: one u32 view over it reads like C's e->seq
    // (Buffer.readUInt32LE costs ~10 ns a call here, more than the rest of the record's work).
    if (wordsOf !== bytes) {
      wordsOf = bytes;
      words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    }
    const seq = words[(offset >> 2) + 1] * 0x1_0000_0000 + words[offset >> 2];
    if (length !== 64 || seq !== expected) errors++;
    expected = seq + 1;
    count++;
  }, { delivery: 'spans' })
  : new RingBuffer(ring, (rec) => {
    const seq = rec.readUInt32LE(4) * 0x1_0000_0000 + rec.readUInt32LE(0);
    if (rec.length !== 64 || seq !== expected) errors++;
    expected = seq + 1;
    count++;
  });
const cpuNs = (u) => (u.user + u.system) * 1000;
const WARMUP = 8; // as in ../c/ring_consumer.c (with 2, the first timed drains still ran at ~70 % of the later ones)
const WARMUP_RUNS = 500; // streaming, as there

const prog = obj.program('produce');
const state = Buffer.alloc(24); // struct bench_state: batch u32, wakeup u32, next_seq u64, drops u64
/**
 * Fills the ring with this process's copy of the program (synchronous test runs on this
 * CPU: the event loop does not run, nothing consumes) until the first failed reserve;
 * returns the program's state after it.
 */
function fill() {
  state.fill(0);
  state.writeUInt32LE(Number(batch), 0);
  obj.bss.set('state', state);
  let st;
  do {
    prog.testRun();
    st = obj.bss.get('state');
  } while (st.readBigUInt64LE(16) === 0n);
  return st;
}

if (mode === 'drain') {
  // This process fills the ring itself, with the same program, then one RingBuffer.consume()
  // of the backlog is timed. No fork between drains.
  const fills = Number(amount);
  let ns = 0n;
  let cpu = 0;
  let submitted = 0;
  let drops = 0;
  // The first WARMUP fills are not counted: they warm up the JIT (and caches) on both sides.
  for (let i = -WARMUP; i < fills; i++) {
    const st = fill();
    expected = 0;
    const before = count;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    rb.consume();
    const dt = process.hrtime.bigint() - t0;
    const dc = cpuNs(process.cpuUsage(c0));
    if (i < 0) {
      count = before;
      continue;
    }
    submitted += Number(st.readBigUInt64LE(8));
    drops += Number(st.readBigUInt64LE(16));
    ns += dt;
    cpu += dc;
  }
  rb.close();
  obj.close();
  console.log(JSON.stringify({ consumed: count, errors, ns: Number(ns), cpuNs: cpu, producer: { submitted, drops, fills } }));
} else {
  // Streaming starts warm, as draining does: WARMUP fills and runs consumed before the producer
  // starts, not counted (the JIT would otherwise compile the consumer while the producer
  // runs, its threads on this CPU; caches on both sides).
  for (let i = 0; i < WARMUP; i++) {
    fill();
    expected = 0;
    rb.consume();
  }
  // And WARMUP_RUNS single runs, each consumed: many small drains, as streaming has.
  state.fill(0);
  state.writeUInt32LE(Number(batch), 0);
  obj.bss.set('state', state);
  expected = 0;
  for (let i = 0; i < WARMUP_RUNS; i++) {
    prog.testRun();
    rb.consume();
  }
  count = 0;
  errors = 0;
  expected = 0;
  const child = spawn(producer, [objPath, producerCpu, amount, batch, mode], {
    stdio: ['pipe', 'pipe', 'inherit', ring.fd],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done || !first.value.startsWith('ready')) throw new Error('producer failed to start');
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const report = lines.next();

  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  child.stdin.write('go\n');
  const code = await exited;
  rb.consume(); // what is still in the ring
  const t1 = process.hrtime.bigint();
  const cpu = cpuNs(process.cpuUsage(c0));
  const producerReport = JSON.parse((await report).value);
  rb.close();
  obj.close();
  if (code !== 0) throw new Error(`producer exited with ${code}`);
  console.log(JSON.stringify({ consumed: count, errors, ns: Number(t1 - t0), cpuNs: cpu, producer: producerReport }));
}
