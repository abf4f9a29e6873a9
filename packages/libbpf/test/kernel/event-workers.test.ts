// A Worker that ends with a RingBuffer and a PerfBuffer open (terminate(), process.exit()
// in the worker, an uncaught throw there) must leave its parent running. Before the
// buffers' libuv handles were closed under an async cleanup hook, the worker's last loop
// turn ran their close callbacks after the addon was unloaded: SIGSEGV, 6 of 6.
// Each case runs in a child process, so that a crash is a finding, not the end of the suite.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fixture, requireRoot } from './helpers';

requireRoot();

const LIB = path.resolve(__dirname, '../../src/index.js');
const REPEATS = 4;
const EVENTS = 50;

type Ending = 'terminate' | 'exit' | 'throw';

/**
 * The child: starts a worker that opens both buffers, has BPF emit EVENTS records into
 * each, reports how many arrived, and then ends by `ending`, REPEATS times in a row.
 * Prints one JSON line: the counts and how each worker ended.
 */
function childScript(ending: Ending): string {
  const worker = `
    const { BpfObject, RingBuffer, PerfBuffer } = require(${JSON.stringify(LIB)});
    const { parentPort } = require('node:worker_threads');
    const obj = BpfObject.open(${JSON.stringify(fixture('events'))}).load();
    let ring = 0, perf = 0;
    const rb = new RingBuffer(obj.map('events'), () => void ring++);
    const pb = new PerfBuffer(obj.map('perf_events'), () => void perf++);
    obj.bss.set('count', ${EVENTS});
    obj.program('emit_ring').testRun();
    obj.program('emit_perf').testRun();
    const poll = setInterval(() => {
      if (ring < ${EVENTS} || perf < ${EVENTS}) return;
      clearInterval(poll);
      parentPort.postMessage({ ring, perf });
      setInterval(() => {}, 1000); // keeps running until it is ended
      if (${JSON.stringify(ending)} === 'exit') process.exit(7);
      if (${JSON.stringify(ending)} === 'throw') setImmediate(() => { throw new Error('worker threw'); });
    }, 1);
  `;
  return `
    const { Worker } = require('node:worker_threads');
    async function once() {
      const w = new Worker(${JSON.stringify(worker)}, { eval: true });
      let counts, error;
      w.on('message', (m) => { counts = m; if (${JSON.stringify(ending)} === 'terminate') void w.terminate(); });
      w.on('error', (e) => { error = e.message; });
      const code = await new Promise((resolve) => w.on('exit', resolve));
      return { counts, code, error };
    }
    (async () => {
      const runs = [];
      for (let i = 0; i < ${REPEATS}; i++) runs.push(await once());
      console.log(JSON.stringify(runs));
    })();
  `;
}

const EXPECTED_END: Record<Ending, { code: number; error?: string }> = {
  terminate: { code: 1 },
  exit: { code: 7 },
  throw: { code: 1, error: 'worker threw' },
};

describe('a worker ending with ring and perf buffers open', () => {
  for (const ending of ['terminate', 'exit', 'throw'] as const) {
    it(`${ending}: the parent survives, ${REPEATS} times in a row, and the buffers delivered before`, () => {
      const r = spawnSync(process.execPath, ['-e', childScript(ending)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.signal, null, `the parent process died of ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      const runs = JSON.parse(r.stdout) as Array<{ counts?: { ring: number; perf: number }; code: number; error?: string }>;
      assert.equal(runs.length, REPEATS);
      for (const run of runs) {
        assert.deepEqual(run.counts, { ring: EVENTS, perf: EVENTS }, 'each buffer delivered every record before the end');
        assert.equal(run.code, EXPECTED_END[ending].code);
        assert.equal(run.error, EXPECTED_END[ending].error);
      }
    });
  }
});
