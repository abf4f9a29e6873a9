// The TypeScript side of the start-up scenario, in a fresh process like the C harness's:
// loads the two libraries (timed, reported apart), then on each "start" line from stdin
// calls SyncTimer.start and prints the phases of that call as a JSON line, in ns after the
// call (t0, CLOCK_MONOTONIC). The first start is the process's
// first call (nothing of the start path has run yet), the next ones are warm; "stop" closes
// the timer and answers "stopped".
//
// usage: node startup-child.mjs INTERVAL_NS CPUS
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const nowNs = () => process.hrtime.bigint();
const t = nowNs();
const require = createRequire(import.meta.url);
const libbpf = require(path.join(repo, 'packages/libbpf/dist/src/index.js'));
const { SyncTimer } = require(path.join(repo, 'packages/bpf-sync-timer/dist/src/index.js'));
const requireNs = Number(nowNs() - t);
const program = require(path.join(repo, 'packages/libbpf/dist/src/program.js'));

/**
 * Notes when the start path enters and leaves its phases, by wrapping the binding's
 * BpfObject.open, OpenBpfObject#load and runOnCpus (the package reaches runOnCpus through
 * the index's re-export, which reads program.js's export at each call). Bench only: the
 * libraries carry no timing code. Returns the marks (ns) and a function that unwraps.
 */
function hookPhases() {
  const marks = {};
  const mark = (name) => (marks[name] ??= nowNs());
  const { BpfObject, OpenBpfObject } = libbpf;
  const open = BpfObject.open;
  const load = OpenBpfObject.prototype.load;
  const runOnCpus = program.runOnCpus;
  let pending = 0;
  BpfObject.open = function (...a) {
    mark('openStart');
    try { return open.apply(this, a); } finally { mark('opened'); }
  };
  OpenBpfObject.prototype.load = function (...a) {
    mark('loadStart');
    try { return load.apply(this, a); } finally { mark('loaded'); }
  };
  program.runOnCpus = function (...a) {
    mark('armStart');
    pending++;
    return runOnCpus.apply(this, a).finally(() => {
      if (--pending === 0) marks.armEnd = nowNs();
    });
  };
  const unhook = () => {
    BpfObject.open = open;
    OpenBpfObject.prototype.load = load;
    program.runOnCpus = runOnCpus;
  };
  return { marks, unhook };
}

const [intervalNs, cpuList] = process.argv.slice(2);
const cpus = cpuList.split(',').map(Number);
let timer;
let starts = 0;
const say = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);

async function start() {
  const { marks, unhook } = hookPhases();
  let t0;
  try {
    t0 = nowNs();
    timer = await SyncTimer.start(Number(intervalNs), { cpus, logger: () => {} });
    marks.returned = nowNs();
  } finally {
    unhook();
  }
  const phases = Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Number(v - t0)]));
  say({ event: 'armed', t0: Number(t0), start: ++starts, mode: timer.mode, requireNs, phases });
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const done = line === 'start' ? start() : Promise.resolve(timer?.close()).then(() => say({ event: 'stopped' }));
  done.catch((e) => say({ event: 'error', what: line, message: e.message }));
});
lines.on('close', () => {
  timer?.close();
  process.exit(0);
});
