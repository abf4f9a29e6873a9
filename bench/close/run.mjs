#!/usr/bin/env node
// close() against closeAsync(), same objects, same machine, same run: N loaded objects, each
// with a tracepoint link (what N subscribers hold), closed
//   - one after another with close(), on the JS thread (each detach waits for RCU),
//   - all at once with closeAsync(), the detaches on the libuv pool.
// Measured: the wall time until all are closed, and the longest the event loop was blocked
// meanwhile (perf_hooks.monitorEventLoopDelay, 1 ms resolution). Rounds alternate the order.
// Prints a markdown table and writes bench/out/close.json with ratios from this run.
// Needs root and the library built (`bash scripts/build.sh`); run it alone on the machine.
//
// usage: node bench/close/run.mjs [--objects N] [--rounds R]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(scriptDir, '../..');
const outDir = path.join(repo, 'bench/out');
const require = createRequire(import.meta.url);
const lib = require(path.join(repo, 'packages/libbpf/dist/src/index.js'));
const OBJECT = path.join(repo, 'packages/libbpf/test/fixtures/obj/basic.bpf.o');

function parseArgs(argv) {
  const o = { objects: 10, rounds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--objects' && v > 0) o.objects = Math.round(v), i++;
    else if (argv[i] === '--rounds' && v > 0) o.rounds = Math.round(v), i++;
    else {
      console.error('usage: node bench/close/run.mjs [--objects N] [--rounds R]');
      process.exit(2);
    }
  }
  return o;
}

function loadAll(n) {
  return Array.from({ length: n }, () => {
    const o = lib.BpfObject.open(OBJECT).load();
    o.attachAll();
    return o;
  });
}

/** Closes `objects` with `close` while watching the loop; returns {ms, maxBlockMs}. */
async function measure(objects, close) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await sleep(20);
  const t0 = process.hrtime.bigint();
  await close(objects);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await sleep(20);
  h.disable();
  return { ms, maxBlockMs: h.max / 1e6 };
}

const PEERS = {
  close: async (objects) => { for (const o of objects) o.close(); },
  closeAsync: (objects) => Promise.all(objects.map((o) => o.closeAsync())),
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench/close needs root (it loads and attaches BPF programs)');
  const opts = parseArgs(process.argv.slice(2));
  const runs = { close: [], closeAsync: [] };
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 ? ['closeAsync', 'close'] : ['close', 'closeAsync'];
    for (const peer of order) runs[peer].push(await measure(loadAll(opts.objects), PEERS[peer]));
  }
  const summary = Object.fromEntries(Object.entries(runs).map(([peer, rs]) =>
    [peer, { ms: median(rs.map((x) => x.ms)), maxBlockMs: median(rs.map((x) => x.maxBlockMs)) }]));
  const result = {
    objects: opts.objects,
    rounds: opts.rounds,
    medians: summary,
    runs,
    // Ratios from this run: how long the loop is blocked, and the time to close them all.
    close_async_block_over_close_block: summary.closeAsync.maxBlockMs / summary.close.maxBlockMs,
    close_async_time_over_close_time: summary.closeAsync.ms / summary.close.ms,
  };
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'close.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`Closing ${opts.objects} objects with a tracepoint link each (median of ${opts.rounds} rounds)\n`);
  console.log('| peer | time to close all (ms) | longest event-loop block (ms) |');
  console.log('|---|---:|---:|');
  for (const [peer, s] of Object.entries(summary)) console.log(`| \`${peer}()\` | ${s.ms.toFixed(1)} | ${s.maxBlockMs.toFixed(1)} |`);
  console.log(`\nloop block closeAsync/close: ${result.close_async_block_over_close_block.toFixed(4)}; ` +
    `time closeAsync/close: ${result.close_async_time_over_close_time.toFixed(3)} (bench/out/close.json)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
