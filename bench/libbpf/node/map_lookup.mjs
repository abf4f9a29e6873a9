// Node peer of the map lookup benchmark, the twin of ../c/map_lookup.c: a server driven by
// run.mjs. Loads the benchmark object with the library, fills MAP (u32 -> u64, keys
// 0..maxEntries-1), warms up each of KINDS, prints `ready`, then for each line `KIND MS` on
// stdin reads the map in passes for MS milliseconds and prints one JSON line with the
// entries read and the time taken; ends at end of input. KINDS, one or more joined by commas:
//   number  BpfMap.lookup(k), the key as a number; a new value Buffer per call
//   buffer  BpfMap.lookup(keyBuf), one 4-byte key Buffer rewritten before each call
//   into    BpfMap.lookupInto(k, out): one reused value Buffer, as the C peer's u64
//   batch   BpfMap.lookupBatch() of the whole map per call into reused key and value
//           Buffers, as the C peer's `batch` mode reuses its arrays
//   mmap    a BPF_F_MMAPABLE array read through BpfMap.mmap()'s buffer (no syscall)
// Where the peer reuses its value memory, it reads values through a typed array over it, as
// C reads its u64s; the others read each new Buffer with readUInt32LE.
//
// usage: node map_lookup.mjs LIB OBJ MAP KIND[,KIND...]
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const [lib, objPath, mapName, kindList] = process.argv.slice(2);
const { BpfObject } = await import(pathToFileURL(lib).href);
const KINDS = ['number', 'buffer', 'into', 'batch', 'mmap'];
const kinds = String(kindList).split(',');
for (const k of kinds) {
  if (!KINDS.includes(k) || kinds.indexOf(k) !== kinds.lastIndexOf(k)) {
    throw new Error(`KIND must be one or more of ${KINDS.join(', ')} joined by commas, got ${kindList}`);
  }
}

const obj = BpfObject.open(objPath).load();
const map = obj.map(mapName);
const n = map.maxEntries;
for (let k = 0; k < n; k++) map.update(k, BigInt(k) * 3n);

const keyBuf = Buffer.alloc(4);
const out = Buffer.from(new ArrayBuffer(8));
const out32 = new Uint32Array(out.buffer);
const batchKeys = Buffer.alloc(n * 4);
const batchValues = Buffer.from(new ArrayBuffer(n * 8));
const values32 = new Uint32Array(batchValues.buffer);
let sum = 0;
let misses = 0;
// One pass over the keys; returns the lookups made. Values are read (low 32 bits suffice)
// into a local sum, as the C peer's sum is a register: the module-level one is a context slot
// whose every update cost ~10 % of a batch pass.
const passes = {
  number: () => {
    let s = 0;
    for (let k = 0; k < n; k++) {
      const v = map.lookup(k);
      if (v === undefined) misses++;
      else s += v.readUInt32LE(0);
    }
    sum += s;
    return n;
  },
  buffer: () => {
    let s = 0;
    for (let k = 0; k < n; k++) {
      keyBuf.writeUInt32LE(k, 0);
      const v = map.lookup(keyBuf);
      if (v === undefined) misses++;
      else s += v.readUInt32LE(0);
    }
    sum += s;
    return n;
  },
  into: () => {
    let s = 0;
    for (let k = 0; k < n; k++) {
      if (!map.lookupInto(k, out)) misses++;
      else s += out32[0];
    }
    sum += s;
    return n;
  },
  mmap: () => {
    let s = 0;
    for (let k = 0; k < n; k++) s += mapped32[2 * k];
    sum += s;
    return n;
  },
  batch: () => {
    const b = map.lookupBatch({ keys: batchKeys, values: batchValues });
    misses += n - b.count;
    let s = 0;
    for (let i = 0; i < b.count; i++) s += values32[2 * i];
    sum += s;
    return b.count;
  },
};
const mapped32 = kinds.includes('mmap') ? new Uint32Array(map.mmap().buffer) : null;

const now = () => process.hrtime.bigint();
for (const k of kinds) for (const end = now() + 200_000_000n; now() < end;) passes[k](); // warm-up (JIT), like the C peer's

// Lines from stdin, read blocking: nothing else runs in this process while it waits.
const input = Buffer.alloc(256);
const pause = new Int32Array(new SharedArrayBuffer(4));
let pending = '';
function readLine() {
  for (;;) {
    const nl = pending.indexOf('\n');
    if (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      return line;
    }
    let got;
    try {
      got = fs.readSync(0, input);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 1); // a non-blocking pipe: wait 1 ms
      continue;
    }
    if (got === 0) return null;
    pending += input.toString('latin1', 0, got);
  }
}

fs.writeSync(1, 'ready\n');
for (let line; (line = readLine()) !== null;) {
  const [kind, msText] = line.split(' ');
  const pass = passes[kind];
  if (!kinds.includes(kind) || !(Number(msText) > 0)) throw new Error(`expected a line KIND MS with one of the kinds ${kindList}, got ${line}`);
  misses = 0;
  let lookups = 0;
  const t0 = now();
  const end = t0 + BigInt(Math.round(Number(msText) * 1e6));
  let t;
  do lookups += pass();
  while ((t = now()) < end);
  fs.writeSync(1, `${JSON.stringify({ lookups, misses, ns: Number(t - t0), sum })}\n`);
}
obj.close();
