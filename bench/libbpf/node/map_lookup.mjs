// Node peer of the map lookup benchmark: the twin of ../c/map_lookup.c. Loads the
// benchmark object with the library, fills MAP (u32 -> u64, keys 0..maxEntries-1), warms
// up, then calls BpfMap.lookup in a loop over the keys for SECONDS and prints one JSON line.
// KEY: `number` passes the key as a number (the library encodes it into a fresh Buffer),
// `buffer` reuses one 4-byte Buffer rewritten before each call.
//
// usage: node map_lookup.mjs LIB OBJ MAP SECONDS KEY
import { pathToFileURL } from 'node:url';

const [lib, objPath, mapName, secondsArg, keyKind] = process.argv.slice(2);
const { BpfObject } = await import(pathToFileURL(lib).href);
if (keyKind !== 'number' && keyKind !== 'buffer') throw new Error(`KEY must be number or buffer, got ${keyKind}`);

const obj = BpfObject.open(objPath).load();
const map = obj.map(mapName);
const n = map.maxEntries;
for (let k = 0; k < n; k++) map.update(k, BigInt(k) * 3n);

const keyBuf = Buffer.alloc(4);
let sum = 0;
let misses = 0;
// One pass over the keys; returns the lookups made. Values are read (low 32 bits suffice).
const pass = keyKind === 'number'
  ? () => {
      for (let k = 0; k < n; k++) {
        const v = map.lookup(k);
        if (v === undefined) misses++;
        else sum += v.readUInt32LE(0);
      }
      return n;
    }
  : () => {
      for (let k = 0; k < n; k++) {
        keyBuf.writeUInt32LE(k, 0);
        const v = map.lookup(keyBuf);
        if (v === undefined) misses++;
        else sum += v.readUInt32LE(0);
      }
      return n;
    };

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
