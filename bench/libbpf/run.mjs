#!/usr/bin/env node
// Benchmark of @bpf-sync-timer/libbpf against plain C libbpf, same machine, same run:
//   1. ring buffer consumption of 64-byte events: Node `RingBuffer` callback vs libbpf
//      `ring_buffer` in C, both consuming the same BPF program's output
//      - streaming: a producer process on the other CPU test-runs the program in a loop,
//        with the kernel's adaptive wake-ups or with one forced wake-up per run;
//      - draining: the consumer fills the ring, then one consume of the backlog is timed
//        (the consumers' cost per record, without producer or wake-ups);
//   2. map lookups: BpfMap.lookup/lookupInto vs bpf_map_lookup_elem on ARRAY and HASH maps,
//      and whole-map batch reads (BpfMap.lookupBatch vs bpf_map_lookup_batch); in each run a
//      C and a Node process, both warm, take turns of 50 ms reading (see lookupRun).
// The Node ring consumer runs twice: with a Buffer per record (`delivery: 'records'`) and
// with the span callback (`delivery: 'spans'`, no allocation per record) and with the batch
// callback (`delivery: 'batch'`, one call per batch with the records' offsets and lengths).
// Builds its BPF object and C peers into bench/out/, prints a markdown report, writes it to
// bench/out/libbpf.md and between the bench markers of packages/libbpf/README.md, and the
// run's ratios to bench/out/libbpf.json.
// Needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_NICE), two CPUs, and the library built
// (`bash scripts/build.sh`). No assertions: it measures and reports.
//
// usage: node bench/libbpf/run.mjs [--runs N] [--ring-seconds S] [--fills N] [--lookup-runs N]
//                                  [--lookup-seconds S] [--batch N] [--no-readme]
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(scriptDir, '../..');
const outDir = path.join(repo, 'bench/out');
const libPath = path.resolve(scriptDir, '../../packages/libbpf/dist/src/index.js');
const readmePath = path.join(repo, 'packages/libbpf/README.md');
const START = '<!-- bench:libbpf:start -->';
const END = '<!-- bench:libbpf:end -->';

const opts = parseArgs(process.argv.slice(2));

function parseArgs(argv) {
  const o = { runs: 3, ringSeconds: 3, fills: 10, lookupRuns: 5, lookupSeconds: 1, batch: 4096, readme: true };
  const num = (i) => {
    const v = Number(argv[i + 1]);
    if (!(v > 0)) usage(`${argv[i]} needs a positive number`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--runs': o.runs = Math.round(num(i++)); break;
      case '--ring-seconds': o.ringSeconds = num(i++); break;
      case '--fills': o.fills = Math.round(num(i++)); break;
      case '--lookup-runs': o.lookupRuns = Math.round(num(i++)); break;
      case '--lookup-seconds': o.lookupSeconds = num(i++); break;
      case '--batch': o.batch = Math.min(4096, Math.round(num(i++))); break;
      case '--no-readme': o.readme = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

function usage(msg) {
  if (msg) console.error(`run.mjs: ${msg}`);
  console.error('usage: node bench/libbpf/run.mjs [--runs N] [--ring-seconds S] [--fills N] [--lookup-runs N] [--lookup-seconds S] ' +
    '[--batch N<=4096] [--no-readme]');
  process.exit(msg ? 2 : 0);
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function run(cmd, args, what, timeoutMs) {
  const r = spawnSync(cmd, args, { cwd: repo, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- preconditions and build ----------------------------------------------------------

if (!fs.existsSync(libPath)) {
  console.error(`run.mjs: the library is not built (no ${libPath}); run: cd ${repo} && bash scripts/build.sh`);
  process.exit(1);
}
const online = readCpuList('/sys/devices/system/cpu/online');
if (online.length < 2) {
  console.error('run.mjs: needs two online CPUs (consumer and producer on different CPUs)');
  process.exit(1);
}
const [consumerCpu, producerCpu] = online;

function readCpuList(file) {
  const out = [];
  for (const part of fs.readFileSync(file, 'utf8').trim().split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

fs.mkdirSync(outDir, { recursive: true });
log('building the BPF object and the C peers');
run('bash', ['scripts/build-bpf.sh', 'bench/libbpf/bpf', 'bench/out/bpf'], 'build-bpf');
run(process.execPath, ['packages/libbpf/scripts/build-native.js', '--quiet', '--libbpf-only'], 'build libbpf');
const libbpfRoot = path.join(repo, 'packages/libbpf/build-libbpf/root');
const cDir = path.join(scriptDir, 'c');
const cHeader = path.join(cDir, 'bench_common.h');
const bins = {};
for (const name of ['ring_producer', 'ring_consumer', 'map_lookup']) {
  const src = path.join(cDir, `${name}.c`);
  const bin = path.join(outDir, name);
  bins[name] = bin;
  const mtime = (f) => fs.statSync(f).mtimeMs;
  if (fs.existsSync(bin) && mtime(bin) > mtime(src) && mtime(bin) > mtime(cHeader)) continue;
  // The C peers link the same pinned libbpf release as the addon, statically.
  run('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-I', path.join(libbpfRoot, 'include'), '-o', bin, src,
    path.join(libbpfRoot, 'lib', 'libbpf.a'), '-lelf', '-lz'], `gcc ${name}.c`);
}
const obj = path.join(outDir, 'bpf/ringbench.bpf.o');
const nodeDir = path.join(scriptDir, 'node');

// ---- measurements -----------------------------------------------------------------------

const loadBefore = os.loadavg()[0];
// Consumers (and the producers they start) run at nice -20 so that other work on the
// machine takes less of their CPUs; both peers alike. Without the right, nice warns and
// runs them anyway.
const pinned = (cmd, args) => ['nice', ['-n', '-20', 'taskset', '-c', String(consumerCpu), cmd, ...args]];

// mode: adaptive | batch (streaming for ringSeconds) or drain (opts.fills fills)
// peer: c, node (a Buffer per record) or spans (Node, the span callback)
function ringRun(peer, mode) {
  const amount = String(mode === 'drain' ? opts.fills : opts.ringSeconds);
  const common = [obj, bins.ring_producer, String(producerCpu), String(opts.batch), mode, amount];
  const [cmd, args] = peer === 'c'
    ? pinned(bins.ring_consumer, common)
    : pinned(process.execPath, [path.join(nodeDir, 'ring_consumer.mjs'), libPath, ...common, peer === 'node' ? 'records' : peer === 'batched' ? 'batch' : peer]);
  const r = JSON.parse(run(cmd, args, `ring ${peer} (${mode})`, (opts.ringSeconds + 60) * 1000));
  const p = r.producer;
  return {
    rate: r.consumed / (r.ns / 1e9),
    errors: r.errors + Math.abs(p.submitted - r.consumed), // out of order, or not delivered
    dropShare: p.drops / (p.submitted + p.drops),
    busy: r.cpuNs / r.ns,
    cpuNsPerEvent: r.cpuNs / r.consumed,
    nsPerEvent: r.ns / r.consumed,
  };
}

// A peer process of the map benchmark, a server that reads the map for as long as it is told
// to (see c/map_lookup.c and node/map_lookup.mjs): `ready` once warm, then one JSON line per
// `KIND MS` line. Only one peer reads at a time; the others wait in a blocking read.
class LookupPeer {
  constructor(what, cmd, args) {
    this.what = what;
    this.lines = [];
    this.waiter = null;
    this.stderr = '';
    this.exit = null;
    this.child = spawn(cmd, args, { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      this.lines.push(...parts);
      this.#wake();
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => { this.stderr += chunk; });
    this.child.on('error', (e) => { this.exit = { error: e }; this.#wake(); });
    this.child.on('close', (code, signal) => { this.exit ??= { code, signal }; this.#wake(); });
  }

  #wake() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  #exitText() {
    return this.exit.error?.message ?? `exit ${this.exit.code ?? this.exit.signal}`;
  }

  // Waits until done() holds, for at most timeoutMs; false if it still does not.
  async #until(done, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (let left = timeoutMs; !done(); left = deadline - Date.now()) {
      if (left <= 0) return false;
      await new Promise((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, left).unref();
      });
    }
    return true;
  }

  async line(timeoutMs) {
    const got = await this.#until(() => this.lines.length > 0 || this.exit, timeoutMs);
    if (this.lines.length) return this.lines.shift();
    if (!got) throw new Error(`${this.what}: no answer within ${timeoutMs} ms:\n${this.stderr}`);
    throw new Error(`${this.what} ended (${this.#exitText()}):\n${this.stderr}`);
  }

  async ready() {
    const l = await this.line(60_000);
    if (l !== 'ready') throw new Error(`${this.what}: expected ready, got ${l}\n${this.stderr}`);
  }

  // Reads with KIND for ms milliseconds; returns the entries read and the time it took.
  async read(kind, ms) {
    this.child.stdin.write(`${kind} ${ms}\n`);
    const r = JSON.parse(await this.line(ms + 30_000));
    if (r.misses) throw new Error(`${this.what} (${kind}): ${r.misses} misses`);
    return r;
  }

  // Ends its input; it must exit by itself within 30 s (else it is killed and this throws).
  async close() {
    this.child.stdin.end();
    if (!(await this.#until(() => this.exit, 30_000))) {
      this.child.kill('SIGKILL');
      throw new Error(`${this.what}: did not exit within 30 s of the end of its input:\n${this.stderr}`);
    }
    if (this.exit.error || this.exit.code !== 0) throw new Error(`${this.what} failed (${this.#exitText()}):\n${this.stderr}`);
  }
}

const TURN_MS = 50;
// One run of the map benchmark on MAP: a C peer and a Node peer, pinned to one CPU, take
// turns of TURN_MS reading with each of their kinds (C's: single, batch or mmap; Node's:
// number, buffer, into, batch or mmap), in an order reversed every round, until each kind has
// read for lookupSeconds. So a change of the machine's speed (this is a shared virtual
// machine) reaches every kind alike within the run. Returns each side's rate per kind
// (entries read per second).
async function lookupRun(map, cKinds, nodeKinds) {
  const peers = {};
  try {
    peers.c = new LookupPeer(`C map peer (${map})`, ...pinned(bins.map_lookup, [obj, map, cKinds.join(',')]));
    await peers.c.ready();
    peers.node = new LookupPeer(`Node map peer (${map})`,
      ...pinned(process.execPath, [path.join(nodeDir, 'map_lookup.mjs'), libPath, obj, map, nodeKinds.join(',')]));
    await peers.node.ready();
    // C's and Node's kinds alternate: C single, Node into, C batch, Node batch, ...
    const turns = [];
    for (let i = 0; i < Math.max(cKinds.length, nodeKinds.length); i++) {
      if (i < cKinds.length) turns.push(['c', cKinds[i]]);
      if (i < nodeKinds.length) turns.push(['node', nodeKinds[i]]);
    }
    const sums = new Map(turns.map((t) => [t, { lookups: 0, ns: 0 }]));
    const goalNs = opts.lookupSeconds * 1e9;
    for (let round = 0; [...sums.values()].some((x) => x.ns < goalNs); round++) {
      for (const t of round % 2 ? [...turns].reverse() : turns) {
        const x = sums.get(t);
        if (x.ns >= goalNs) continue;
        const r = await peers[t[0]].read(t[1], Math.min(TURN_MS, Math.max(1, Math.ceil((goalNs - x.ns) / 1e6))));
        x.lookups += r.lookups;
        x.ns += r.ns;
      }
    }
    const out = { c: {}, node: {} };
    for (const [[side, kind], x] of sums) out[side][kind] = x.lookups / (x.ns / 1e9);
    await Promise.all(Object.values(peers).map((p) => p.close()));
    return out;
  } catch (e) {
    for (const p of Object.values(peers)) if (!p.exit) p.child.kill('SIGKILL');
    throw e;
  }
}

// Repeats fn(peer) for each peer, alternating the order between runs so that drifts
// (temperature, other load) hit the peers alike.
// out[peer][i] is run i's result.
function alternate(peers, fn, what) {
  const out = Object.fromEntries(peers.map((p) => [p, []]));
  for (let i = 0; i < opts.runs; i++) {
    for (const p of i % 2 ? [...peers].reverse() : peers) {
      log(`${what}, run ${i + 1}/${opts.runs}: ${p}`);
      out[p].push(fn(p));
    }
  }
  return out;
}

// adaptive: the kernel's default, a wake-up whenever a record lands while the consumer has
// caught up (so a consumer that keeps up costs its producer more wake-ups); batch: the
// producer submits with BPF_RB_NO_WAKEUP and forces one wake-up per run, so it works the
// same whoever consumes.
const WAKEUPS = ['adaptive', 'batch'];
const ring = {};
const RING_PEERS = ['c', 'node', 'spans', 'batched'];
// The Node deliveries, and their names in the tables.
const NODE_DELIVERY = { node: 'Buffer per record', spans: 'span callback', batched: 'batch callback' };
for (const mode of [...WAKEUPS, 'drain']) ring[mode] = alternate(RING_PEERS, (p) => ringRun(p, mode), `ring buffer, ${mode}`);

const MAPS = ['lookup_array', 'lookup_hash'];
// lookups[plan][i] is run i's { c: { kind: rate }, node: { kind: rate } } of a plan: its map,
// C's kinds, Node's kinds. Node's allocating forms (a new Buffer per lookup) take turns with
// C apart from lookupInto and batches, so that no collection of Node's garbage runs during
// the turns of the ratios that libbpf.json keeps.
const lookups = {};
const lookupPlans = {
  ...Object.fromEntries(MAPS.flatMap((map) => [
    [map, [map, ['single', 'batch'], ['into', 'batch']]],
    [`${map}/alloc`, [map, ['single'], ['number', 'buffer']]],
  ])),
  // The same reads from a BPF_F_MMAPABLE array's mapping: memory reads, no syscall.
  lookup_mmap: ['lookup_mmap', ['mmap'], ['mmap']],
};
for (const [plan, [map, cKinds, nodeKinds]] of Object.entries(lookupPlans)) {
  lookups[plan] = [];
  for (let i = 0; i < opts.lookupRuns; i++) {
    log(`map reads, ${map}, run ${i + 1}/${opts.lookupRuns}: C ${cKinds.join(', ')} and Node ${nodeKinds.join(', ')} in turns`);
    lookups[plan].push(await lookupRun(map, cKinds, nodeKinds));
  }
}
const loadAfter = os.loadavg()[0];

// ---- report -----------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtRate = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)} M` : `${(x / 1e3).toFixed(0)} k`);
const fmtNs = (x) => `${x.toFixed(x < 10 ? 1 : 0)} ns`;
const pct = (x) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const stat = (runs, f, fmt) => {
  const xs = runs.map(f);
  return { med: median(xs), text: `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` };
};
const ratio = (a, b) => (a / b).toFixed(a / b < 0.1 ? 3 : 2);

const { libbpfVersion } = await import(pathToFileURL(libPath).href);
const cpuModel = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

const lines = [];
lines.push(`Measured ${date} by \`node bench/libbpf/run.mjs\` on ${cpuModel}, ${online.length} CPUs, ` +
  `Linux ${os.release()}, Node ${process.version}, libbpf ${libbpfVersion}. ` +
  `Median of ${opts.runs} runs, min–max in brackets. Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);
lines.push('');

const rs = {};
for (const mode of Object.keys(ring)) {
  rs[mode] = {};
  for (const peer of RING_PEERS) {
    const runs = ring[mode][peer];
    rs[mode][peer] = {
      rate: stat(runs, (r) => r.rate, fmtRate),
      drops: stat(runs, (r) => r.dropShare, pct),
      busy: stat(runs, (r) => r.busy, pct),
      cpuNs: stat(runs, (r) => r.cpuNsPerEvent, fmtNs),
      ns: stat(runs, (r) => r.nsPerEvent, fmtNs),
      errors: runs.reduce((a, r) => a + r.errors, 0),
    };
  }
}
const PEER_LABEL = { c: 'C: libbpf `ring_buffer`', node: 'Node: `RingBuffer`, a Buffer per record', spans: 'Node: `RingBuffer`, span callback',
  batched: 'Node: `RingBuffer`, batch callback' };
const WAKEUP_LABEL = { adaptive: 'adaptive (kernel default)', batch: `forced, one per ${opts.batch} events` };

lines.push(`**Ring buffer, 64-byte events, streaming** (${opts.ringSeconds} s per run): the consumer on CPU ${consumerCpu} ` +
  `polls (C: \`ring_buffer__poll\`, level-triggered epoll; Node: libuv woken edge-triggered by the ring, the records read from the mapped ring in JS); a producer process on CPU ${producerCpu} ` +
  `test-runs a raw_tp program that submits ${opts.batch} events per run into a 4 MiB ring, as fast as it can. Both consumers start warm: ` +
  'eight fills of the ring and 500 single runs consumed untimed before the producer starts (as the drain table\'s untimed fills).');
lines.push('');
lines.push('| Producer wake-ups | Consumer | Events delivered/s | Producer drops (ring full) | Consumer CPU busy | Consumer CPU per event | Missing or out of order |');
lines.push('|---|---|---|---|---|---|---|');
for (const mode of WAKEUPS) {
  const w = rs[mode];
  for (const peer of RING_PEERS) {
    const x = w[peer];
    lines.push(`| ${WAKEUP_LABEL[mode]} | ${PEER_LABEL[peer]} | ${x.rate.text} | ${x.drops.text} | ${x.busy.text} | ${x.cpuNs.text} | ${x.errors} |`);
  }
  for (const peer of Object.keys(NODE_DELIVERY)) {
    lines.push(`| ${WAKEUP_LABEL[mode]} | **Node / C**, ${NODE_DELIVERY[peer]} | ` +
      `**${ratio(w[peer].rate.med, w.c.rate.med)}** | | | **${ratio(w.c.cpuNs.med, w[peer].cpuNs.med)}** (C cost / Node cost) | |`);
  }
}
lines.push('');

const d = rs.drain;
lines.push(`**Ring buffer, 64-byte events, draining a full ring** (${opts.fills} fills per run, after 8 untimed ones): the ` +
  'consumer fills the 4 MiB ring itself (test runs of the same program until a reserve fails, ~58k events), then one ' +
  'consume of the backlog is timed: the consumer\'s own cost per record, without producer or wake-ups.');
lines.push('');
lines.push('| Consumer | Events consumed/s | Time per event | Missing or out of order |');
lines.push('|---|---|---|---|');
const DRAIN_LABEL = { c: 'C: `ring_buffer__consume`', node: 'Node: `RingBuffer.consume()`, a Buffer per record',
  spans: 'Node: `RingBuffer.consume()`, span callback', batched: 'Node: `RingBuffer.consume()`, batch callback' };
for (const peer of RING_PEERS) lines.push(`| ${DRAIN_LABEL[peer]} | ${d[peer].rate.text} | ${d[peer].ns.text} | ${d[peer].errors} |`);
for (const peer of Object.keys(NODE_DELIVERY)) lines.push(`| **Node / C**, ${NODE_DELIVERY[peer]} | **${ratio(d[peer].rate.med, d.c.rate.med)}** | | |`);
lines.push('');

const mapRatios = mapReport(lines);

// How to read it, with what this run showed.
const notes = [];
const busyOf = (mode, peer) => rs[mode][peer].busy.text.split(' ')[0];
notes.push('Fairness: the consumers load the same object and consume its `events` ring (C through libbpf\'s `ring_buffer`, ' +
  'Node reading the same mapped pages in JS; default wake-ups); in streaming they start the same C producer and hand it the ring\'s fd. All ' +
  'read every record\'s `seq` and check that it follows the previous one; both run pinned at nice -20, peers ' +
  'alternating between runs.');
notes.push('Adaptive wake-ups cost the producer a wake-up each time the consumer has caught up, so a consumer that keeps ' +
  'up slows its own producer down (wake-ups are expensive in a VM); with one wake-up per run the producer works the ' +
  'same for both consumers.');
for (const mode of WAKEUPS) {
  const w = rs[mode];
  const parts = [];
  for (const peer of RING_PEERS) {
    const name = peer === 'c' ? 'C' : `Node (${NODE_DELIVERY[peer]})`;
    if (w[peer].drops.med < 0.01) {
      parts.push(`${name} kept up with the producer (${busyOf(mode, peer)} of its CPU busy, few drops): its ` +
        'events/s is what the producer delivered, not what it could take');
    } else if (w[peer].busy.med >= 0.9) {
      parts.push(`${name} used ${busyOf(mode, peer)} of its CPU and the ring overflowed: its events/s is its limit`);
    }
  }
  if (parts.length) notes.push(`Streaming, wake-ups ${WAKEUP_LABEL[mode]}: ${parts.join('; ')}.`);
}
notes.push('Wake-ups: libbpf\'s epoll is level-triggered, so its consumer is woken again at once whenever the producer is ahead, ' +
  'also at a record still being written; Node\'s `RingBuffer` is woken edge-triggered, when the kernel signals the ring (a commit ' +
  'where the consumer caught up, or a forced wake-up), and reads until it is empty or at a record being written. Less waking ' +
  'also leaves the producer its cache lines: with forced wake-ups Node\'s producer submits more per second than C\'s.');
notes.push('"Consumer CPU per event" in streaming includes sleeping, waking and, for C, spinning on records the producer ' +
  'has reserved but not yet submitted (the ring then polls readable); the drain table gives the bare per-record cost.');
if (WAKEUPS.some((m) => RING_PEERS.some((p) => rs[m][p].drops.med > 0.01 && rs[m][p].busy.med < 0.8))) {
  notes.push('Drops while a consumer is not busy mean it was off its CPU for a few ms at some point (the 4 MiB ring ' +
    'holds ~6 ms of events): other load on the machine or a slow wake-up of an idle virtual CPU.');
}
notes.push('A Buffer per record: each wake-up\'s records are copied out of the ring together and each gets a Buffer ' +
  'view (kept valid for as long as it is referenced); the span callback gets (bytes, offset, length) in one reused Buffer, ' +
  'valid during the call; the batch callback gets that Buffer once per batch with the records\' offsets and lengths ' +
  '(`delivery: \'batch\'`), so no function is called per record: `ring_drain_node_over_c` and `ring_stream_node_over_c` ' +
  'in libbpf.json are its ratios, the other deliveries\' beside them.');
notes.push('Map lookups: `lookupInto(number, out)` reads into one reused value Buffer, as C reads into one reused u64: it is ' +
  'the fair twin of C, and `lookup_node_over_c` in libbpf.json is its ratio (the lower of the two maps). `lookup(...)` returns a ' +
  'new value Buffer per call. Batch reads take the whole map (1024 entries) per call into contiguous keys and values; ' +
  '`batch_over_single` is Node\'s batch read per entry against Node\'s `lookupInto` (HASH map; ARRAY beside it). Both peers ' +
  'sum the values they read in a local variable; the peers that reuse their value memory read it as native integers (C: u64, ' +
  'Node: a Uint32Array over the Buffer). The kernel\'s ARRAY batch walks the keys one by one (get_next_key per entry), so an ' +
  'ARRAY gains less from batches than a HASH, in C as in Node; a `BPF_F_MMAPABLE` array skips the syscalls altogether.');
notes.push('A batch read is one syscall whose time is the kernel\'s (both peers\' batch reads run at the same speed), so ' +
  '"C batch / C single" is what a batch gains on this kernel over a single lookup at C\'s speed; Node\'s batch / single ' +
  'exceeds it by as much as its single lookups fall short of C\'s. In each run one C and one Node process ' +
  'stay up, warm, and take turns reading (each kind 50 ms at a time, the order reversed every round; the peer not reading waits ' +
  'in a blocking read), so that a change in the machine\'s speed (this is a shared virtual machine) reaches both sides of a ' +
  'ratio alike. `lookup(...)` takes its turns with C in runs of its own (its garbage is collected meanwhile), against C in ' +
  'those runs.');
if (loadBefore > 1) notes.push(`Other work was running before the start (load average ${loadBefore.toFixed(2)}): expect a wide spread.`);
for (const n of notes) lines.push(`- ${n}`);

const block = lines.join('\n');
process.stdout.write(`${block}\n`);
fs.writeFileSync(path.join(outDir, 'libbpf.md'), `# @bpf-sync-timer/libbpf benchmark\n\n${block}\n`);
log(`wrote ${path.relative(repo, path.join(outDir, 'libbpf.md'))}`);
// One file for the run: the ring's ratios written afresh, the maps' merged into it.
writeJson({ ...ringRatios() });
writeMapJson(mapRatios);
log(`wrote ${path.relative(repo, path.join(outDir, 'libbpf.json'))}`);
if (opts.readme) {
  updateReadme(block);
  log(`updated ${path.relative(repo, readmePath)}`);
}

// ---- map lookups: table and JSON keys ----------------------------------------------------

// The map tables; returns the ratios libbpf.json gets.
function mapReport(out) {
  // A rate: side c or node, kind the reads it made (see lookupPlans).
  const rate = (map, side, kind) => stat(lookups[map], (r) => r[side][kind], fmtRate);
  // A ratio: the median over the runs of each run's own ratio (its two sides took turns in
  // the run), with its spread.
  const paired = (map, [sa, ka], [sb, kb]) => {
    const xs = lookups[map].map((r) => r[sa][ka] / r[sb][kb]);
    return { med: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  };
  const fmtRatio = (x) => x.toFixed(x < 0.1 ? 3 : 2);
  const ratioText = (r, bold) => `${bold ? '**' : ''}${fmtRatio(r.med)}${bold ? '**' : ''} (${fmtRatio(r.min)}–${fmtRatio(r.max)})`;
  const typeOf = (map) => (map === 'lookup_array' ? 'ARRAY' : 'HASH');
  out.push(`**Map lookups**, u32 key → u64 value, 1024 entries, keys cycled in order (${opts.lookupSeconds} s per kind per run in ` +
    `${TURN_MS} ms turns, C's and Node's reads alternating on one CPU; median of ${opts.lookupRuns} runs, and of each run's own ` +
    'ratio; min–max in brackets)');
  out.push('');
  out.push('| Map | C `bpf_map_lookup_elem` | Node `lookupInto(number, out)` | Node / C | Node `lookup(number)` | Node / C | Node `lookup(Buffer)` | Node / C |');
  out.push('|---|---|---|---|---|---|---|---|');
  const ratios = {};
  const C = ['c', 'single'];
  const INTO = ['node', 'into'];
  const NODE_BATCH = ['node', 'batch'];
  const NUMBER = ['node', 'number'];
  const BUFFER = ['node', 'buffer'];
  for (const map of MAPS) {
    const alloc = `${map}/alloc`;
    const [c, into] = [C, INTO].map(([p, k]) => rate(map, p, k));
    const [n, b] = [NUMBER, BUFFER].map(([p, k]) => rate(alloc, p, k));
    const ri = paired(map, INTO, C);
    const [rn, rb] = [NUMBER, BUFFER].map((side) => paired(alloc, side, C));
    ratios[map] = { into: ri.med, number: rn.med, buffer: rb.med };
    out.push(`| ${typeOf(map)} | ${c.text}/s | ${into.text}/s | ${ratioText(ri, true)} | ${n.text}/s | ${ratioText(rn)} | ` +
      `${b.text}/s | ${ratioText(rb)} |`);
  }
  out.push('');
  out.push('**Batch reads**, the same maps and runs, the whole map (1024 entries) per call; entries read per second');
  out.push('');
  out.push('| Map | C `bpf_map_lookup_batch` | Node `lookupBatch()` | Node / C | C batch / C single | Node single `lookupInto` | ' +
    '**Node batch / Node single** |');
  out.push('|---|---|---|---|---|---|---|');
  for (const map of MAPS) {
    const [cb, nb, into] = [['c', 'batch'], NODE_BATCH, INTO].map(([p, k]) => rate(map, p, k));
    const overC = paired(map, NODE_BATCH, ['c', 'batch']);
    const cOwn = paired(map, ['c', 'batch'], C);
    const overSingle = paired(map, NODE_BATCH, INTO);
    ratios[map].batchOverC = overC.med;
    ratios[map].batchOverSingle = overSingle.med;
    ratios[map].cBatchOverSingle = cOwn.med;
    out.push(`| ${typeOf(map)} | ${cb.text}/s | ${nb.text}/s | ${ratioText(overC)} | ${ratioText(cOwn)} | ${into.text}/s | ` +
      `${ratioText(overSingle, true)} |`);
  }
  out.push('');
  const [cm, nm, arrayInto] = [rate('lookup_mmap', 'c', 'mmap'), rate('lookup_mmap', 'node', 'mmap'), rate('lookup_array', 'node', 'into')];
  ratios.mmap = { overC: nm.med / cm.med, overSingle: nm.med / arrayInto.med };
  out.push('**Mapped reads**, a `BPF_F_MMAPABLE` ARRAY of the same shape read through its mapping (no syscall); values read per second');
  out.push('');
  out.push('| C: loads from the `mmap` of the map | Node: a typed array over `BpfMap.mmap().buffer` | Node / C | Node mapped / Node `lookupInto` on ARRAY |');
  out.push('|---|---|---|---|');
  out.push(`| ${cm.text}/s | ${nm.text}/s | ${ratio(nm.med, cm.med)} | **${ratio(nm.med, arrayInto.med)}** |`);
  out.push('');
  return ratios;
}

// Merges the map keys into bench/out/libbpf.json, keeping the keys other parts of the bench wrote.
function writeMapJson(r) {
  const file = path.join(outDir, 'libbpf.json');
  let json = {};
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    // no file yet, or a broken one: start afresh
  }
  const round = (x) => Number(x.toFixed(3));
  Object.assign(json, {
    lookup_node_over_c: round(Math.min(r.lookup_array.into, r.lookup_hash.into)),
    batch_over_single: round(r.lookup_hash.batchOverSingle),
    maps: {
      date,
      lookup_into_node_over_c: { array: round(r.lookup_array.into), hash: round(r.lookup_hash.into) },
      lookup_number_node_over_c: { array: round(r.lookup_array.number), hash: round(r.lookup_hash.number) },
      lookup_buffer_node_over_c: { array: round(r.lookup_array.buffer), hash: round(r.lookup_hash.buffer) },
      batch_over_single: { array: round(r.lookup_array.batchOverSingle), hash: round(r.lookup_hash.batchOverSingle) },
      batch_node_over_c: { array: round(r.lookup_array.batchOverC), hash: round(r.lookup_hash.batchOverC) },
      c_batch_over_single: { array: round(r.lookup_array.cBatchOverSingle), hash: round(r.lookup_hash.cBatchOverSingle) },
      mmap_node_over_c: round(r.mmap.overC),
      mmap_over_single: round(r.mmap.overSingle),
    },
  });
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote map ratios into ${path.relative(repo, file)}`);
}

function updateReadme(body) {
  const section = `${START}\n${body}\n${END}`;
  if (!fs.existsSync(readmePath)) {
    fs.writeFileSync(readmePath, `# @bpf-sync-timer/libbpf\n\n## Performance\n\n${section}\n`);
    return;
  }
  const text = fs.readFileSync(readmePath, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) {
    fs.writeFileSync(readmePath, text.slice(0, a) + section + text.slice(b + END.length));
  } else {
    // The README exists without markers: leave its text alone, add the section at the end.
    fs.writeFileSync(readmePath, `${text.replace(/\n*$/, '\n')}\n## Performance\n\n${section}\n`);
  }
}

// ---- JSON beside the tables: bench/out/libbpf.json, each value a ratio from this run ----

// Node's fastest delivery (the batch callback) against C; the other deliveries' figures beside.
function ringRatios() {
  const r = (a, b) => Number((a / b).toFixed(3));
  return {
    // rs.batch is the streaming run with forced wake-ups; `batched` the batch callback.
    ring_drain_node_over_c: r(rs.drain.batched.rate.med, rs.drain.c.rate.med),
    ring_stream_node_over_c: r(rs.batch.batched.rate.med, rs.batch.c.rate.med),
    ring_stream_drop_share_node: Number(rs.batch.batched.drops.med.toFixed(4)),
    ring_stream_drop_share_c: Number(rs.batch.c.drops.med.toFixed(4)),
    ring_drain_spans_node_over_c: r(rs.drain.spans.rate.med, rs.drain.c.rate.med),
    ring_stream_spans_node_over_c: r(rs.batch.spans.rate.med, rs.batch.c.rate.med),
    ring_drain_records_node_over_c: r(rs.drain.node.rate.med, rs.drain.c.rate.med),
    ring_stream_records_node_over_c: r(rs.batch.node.rate.med, rs.batch.c.rate.med),
  };
}

function writeJson(ratios) {
  fs.writeFileSync(path.join(outDir, 'libbpf.json'), `${JSON.stringify({ measured: date, ...ratios }, null, 2)}\n`);
}
