// One peer of the decode benchmark, in its own process: decodes the same records (views of
// one Buffer, as RingBuffer delivers them) with DECODER for SECONDS after a warm-up, and
// prints one JSON line: records decoded, nanoseconds, and a checksum of every decoded field
// (the peers must agree on it).
//   hand       Buffer.read* by offset, as examples/collector/records.ts does
//   generated  the codec of a module bpf-skel wrote (compiled by tsc)
//   runtime    btfCodec(object, 'struct collector_record') (compiled with new Function)
//
// usage: node decode.mjs DECODER LIB OBJECT MODULE RECORDS SECONDS
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [decoder, lib, object, modulePath, recordsArg, secondsArg] = process.argv.slice(2);
const N = Number(recordsArg);
const SECONDS = Number(secondsArg);
const SIZE = 80;

// Deterministic records: small counters, realistic 64-bit clocks, short and full comms.
const all = Buffer.alloc(N * SIZE);
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
const comms = ['node', 'kworker/0:1', 'systemd-journald', 'sh', 'ksoftirqd/1'];
for (let i = 0; i < N; i++) {
  const o = i * SIZE;
  all.writeUInt32LE(rnd() & 1, o);
  all.writeUInt32LE(rnd() & 1, o + 4);
  all.writeUInt32LE(rnd() & 1, o + 8);
  all.writeUInt32LE(rnd() & 0x3fffff, o + 12);
  all.writeUInt32LE(rnd() & 0x3fffff, o + 16);
  all.writeBigUInt64LE(BigInt(i), o + 24);
  all.writeBigUInt64LE(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, o + 32);
  all.writeBigUInt64LE(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n + BigInt(rnd() & 0xffff), o + 40);
  all.writeBigUInt64LE(BigInt(rnd() & 3), o + 48);
  all.writeBigUInt64LE(BigInt(rnd() & 0xff), o + 56);
  all.write(comms[i % comms.length].slice(0, 16), o + 64, 'latin1');
}
const records = Array.from({ length: N }, (_, i) => Buffer.from(all.buffer, all.byteOffset + i * SIZE, SIZE));

function hand(b) {
  if (b.length < SIZE) throw new RangeError(`collector record: expected ${SIZE} bytes, got ${b.length}`);
  const comm = b.subarray(64, 80);
  const nul = comm.indexOf(0);
  return {
    kind: b.readUInt32LE(0),
    cpu: b.readUInt32LE(4),
    expected_cpu: b.readUInt32LE(8),
    pid: b.readUInt32LE(12),
    tid: b.readUInt32LE(16),
    _pad: b.readUInt32LE(20),
    tick_index: b.readBigUInt64LE(24),
    nominal_ns: b.readBigUInt64LE(32),
    fired_ns: b.readBigUInt64LE(40),
    missed: b.readBigUInt64LE(48),
    ctx_switches: b.readBigUInt64LE(56),
    comm: comm.toString('utf8', 0, nul < 0 ? comm.length : nul),
  };
}

let decode;
if (decoder === 'hand') {
  decode = hand;
} else if (decoder === 'generated') {
  const codec = createRequire(import.meta.url)(modulePath).collector_record;
  decode = (b) => codec.decode(b);
} else if (decoder === 'runtime') {
  const { btfCodec } = await import(pathToFileURL(lib).href);
  const codec = btfCodec(object, 'struct collector_record', { strings: ['comm'] });
  decode = (b) => codec.decode(b);
} else {
  throw new Error(`DECODER must be hand, generated or runtime, got ${decoder}`);
}

// The decoded records are kept (so nothing can be optimized away) and checked after timing.
const out = new Array(N);
const pass = () => {
  for (let i = 0; i < N; i++) out[i] = decode(records[i]);
};
const until = (s) => {
  const end = process.hrtime.bigint() + BigInt(Math.round(s * 1e9));
  let passes = 0;
  while (process.hrtime.bigint() < end) {
    for (let k = 0; k < 16; k++) pass();
    passes += 16;
  }
  return passes;
};
until(Math.min(1, SECONDS / 2)); // warm-up: the JIT settles
const t0 = process.hrtime.bigint();
const passes = until(SECONDS);
const ns = Number(process.hrtime.bigint() - t0);

let sum = 0;
let big = 0n;
for (const r of out) {
  sum += r.kind + r.cpu + r.expected_cpu + r.pid + r.tid + r._pad + r.comm.length;
  big ^= r.tick_index ^ r.nominal_ns ^ r.fired_ns ^ r.missed ^ r.ctx_switches;
}
process.stdout.write(`${JSON.stringify({ decoder, records: passes * N, ns, checksum: `${sum}:${big}`, sample: { ...out[1], tick_index: String(out[1].tick_index), nominal_ns: String(out[1].nominal_ns), fired_ns: String(out[1].fired_ns), missed: String(out[1].missed), ctx_switches: String(out[1].ctx_switches) } })}\n`);
