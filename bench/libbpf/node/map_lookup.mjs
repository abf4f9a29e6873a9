// Node peer of the map lookup benchmark: the twin of ../c/map_lookup.c. Loads the
// benchmark object with the library, fills MAP (u32 -> u64, keys 0..maxEntries-1), warms
// up, then reads every key in a loop for SECONDS and prints one JSON line. KIND:
//   number  BpfMap.lookup(k), the key as a number; a new value Buffer per call
//   buffer  BpfMap.lookup(keyBuf), one 4-byte key Buffer rewritten before each call
//   into    BpfMap.lookupInto(k, out): one reused value Buffer, as the C peer's u64
//   batch   BpfMap.lookupBatch() of the whole map per call into reused key and value
//           Buffers, as the C peer's `batch` mode reuses its arrays
//   mmap    a BPF_F_MMAPABLE array read through BpfMap.mmap()'s buffer (no syscall)
// Where the peer reuses its value memory, it reads values through a typed array over it, as
// C reads its u64s; the others read each new Buffer with readUInt32LE.
//
// usage: node map_lookup.mjs LIB OBJ MAP SECONDS KIND
import { pathToFileURL } from 'node:url';

const [lib, objPath, mapName, secondsArg, keyKind] = process.argv.slice(2);
const { BpfObject } = await import(pathToFileURL(lib).href);
const KINDS = ['number', 'buffer', 'into', 'batch', 'mmap'];
if (!KINDS.includes(keyKind)) throw new Error(`KIND must be one of ${KINDS.join(', ')}, got ${keyKind}`);

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
const mapped32 = keyKind === 'mmap' ? new Uint32Array(map.mmap().buffer) : null;
const pass = passes[keyKind];

const now = () => process.hrtime.bigint();
const seconds = Number(secondsArg);
for (const end = now() + 200_000_000n; now() < end;) pass(); // warm-up (JIT), like the C peer's
misses = 0;
let lookups = 0;
const t0 = now();
const c0 = process.cpuUsage();
const end = t0 + BigInt(Math.round(seconds * 1e9));
let t;
do lookups += pass();
while ((t = now()) < end);
const c1 = process.cpuUsage(c0);
obj.close();
console.log(JSON.stringify({ lookups, misses, ns: Number(t - t0), cpuNs: (c1.user + c1.system) * 1000, sum }));
