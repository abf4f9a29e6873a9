// Child-process side of workers.test.ts: each scenario runs in its own process, so that a
// regression (an abort or a segfault when a worker ends) fails one test instead of taking
// the test runner down. Run as `node worker-scenarios.js <scenario> <repeats>`; prints one
// JSON line with what it measured. In a worker thread (workerData set) it plays the worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BpfObject, dupFd, GridRunner, perfEventOpen, PerfType, runOnCpus, setLogger, VerifierError } from '../../src/index';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/obj');
const fixture = (name: string): string => path.join(FIXTURES, `${name}.bpf.o`);

/** How a worker ends: terminate() from the parent, process.exit() in it, or an uncaught throw. */
export type WorkerEnd = 'terminate' | 'exit' | 'throw';

interface LiveData {
  role: 'live';
  end: WorkerEnd;
}
interface RunsData {
  role: 'runs';
}
interface LogData {
  role: 'log';
  program: 'unchecked' | 'long_log';
  loads: number;
}
type Data = LiveData | RunsData | LogData;

function countFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function countThreads(): number {
  return fs.readdirSync('/proc/self/task').length;
}

// ---- worker side -------------------------------------------------------------------------

/** Runs on every CPU this process may use, many times over, and leaves the runs in flight. */
function startRuns(): void {
  const obj = BpfObject.open(fixture('basic')).load();
  const p = obj.program('whoami');
  for (let i = 0; i < 50; i++) runOnCpus(p, [0], undefined).catch(() => undefined);
  parentPort!.postMessage('ready');
}

/** Opens one of every kind of live native thing and leaves them open. */
function openEverything(): void {
  const obj = BpfObject.open(fixture('basic')).load();
  obj.attachAll();
  GridRunner.start(obj.program('whoami'), 0, 1_000_000n);
  perfEventOpen({ type: PerfType.SOFTWARE, config: 0, samplePeriod: 1_000_000 }, { cpu: 0 });
  dupFd(obj.map('shared').fd);
  BpfObject.open(fixture('second'));
  void runOnCpus(obj.program('whoami'), [0]).catch(() => undefined);
}

/** The main thread ends with everything open: process.exit(), an uncaught throw, or an empty loop. */
function atExit(end: 'exit' | 'throw' | 'return'): void {
  openEverything();
  if (end === 'exit') process.exit(4);
  if (end === 'throw') throw new Error('main throws with everything open');
}

/** Holds one of every kind of live native thing, then ends as told. */
async function holdLive(end: WorkerEnd): Promise<void> {
  const obj = BpfObject.open(fixture('basic')).load();
  obj.attachAll(); // a tracepoint link
  const runner = GridRunner.start(obj.program('whoami'), 0, 1_000_000n);
  const ev = perfEventOpen({ type: PerfType.SOFTWARE, config: 0, samplePeriod: 1_000_000 }, { cpu: 0 });
  const dup = dupFd(obj.map('shared').fd);
  const open = BpfObject.open(fixture('second')); // an object never loaded
  void runOnCpus(obj.program('whoami'), [0]).catch(() => undefined); // in flight
  void [runner, ev, dup, open];
  parentPort!.postMessage('ready');
  if (end === 'exit') process.exit(3);
  if (end === 'throw') throw new Error('worker throws with everything open');
  setInterval(() => undefined, 1000); // keeps the worker alive until terminate()
}

/** Loads a program the verifier rejects, `loads` times; reports what each error carried. */
function loadFailing(program: 'unchecked' | 'long_log', loads: number): void {
  const other = program === 'unchecked' ? 'long_log' : 'unchecked';
  let own = 0;
  let missing = 0;
  let foreignMessages = 0;
  setLogger((_level, message) => {
    // Opening lists both programs; only a load log of the other one is foreign here.
    if (message.includes(`prog '${other}': -- BEGIN PROG LOAD LOG --`)) foreignMessages++;
  });
  for (let i = 0; i < loads; i++) {
    const open = BpfObject.open(fixture('bad'));
    open.program(other).setAutoload(false);
    try {
      open.load().close();
    } catch (e) {
      if (e instanceof VerifierError && e.program === program && e.log.includes('invalid mem access')) own++;
      else missing++;
    }
  }
  parentPort!.postMessage({ own, missing, foreignMessages });
}

function workerMain(data: Data): void {
  if (data.role === 'runs') startRuns();
  else if (data.role === 'live') void holdLive(data.end);
  else loadFailing(data.program, data.loads);
}

// ---- parent side -------------------------------------------------------------------------
// (Each worker's exit promise is made when it is spawned: one made later may miss it.)

function spawn(data: Data): Worker {
  return new Worker(__filename, { workerData: data, stderr: true });
}

// Resolves with the worker's first message (an uncaught throw may be reported before it).
function ready(w: Worker): Promise<unknown> {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.once('exit', () => resolve(undefined));
  });
}

function exited(w: Worker): Promise<number> {
  return new Promise((resolve) => w.once('exit', resolve));
}

/** Terminates workers while their runOnCpus calls are in flight. */
async function runsTerminated(repeats: number): Promise<object> {
  let terminated = 0;
  for (let i = 0; i < repeats; i++) {
    const w = spawn({ role: 'runs' });
    const end = exited(w);
    await ready(w);
    await w.terminate();
    await end;
    terminated++;
  }
  return { terminated };
}

/** Ends workers holding live objects, links, grid runners and fds; counts what is left. */
async function liveEnded(end: WorkerEnd, repeats: number): Promise<object> {
  // A first worker loads the addon and libbpf's lazily made state for the process.
  const warm = spawn({ role: 'live', end: 'terminate' });
  const warmEnd = exited(warm);
  await ready(warm);
  await warm.terminate();
  await warmEnd;
  const fds = countFds();
  const threads = countThreads();
  const codes: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < repeats; i++) {
    const w = spawn({ role: 'live', end });
    w.on('error', (e) => errors.push(e.message));
    const done = exited(w);
    await ready(w);
    if (end === 'terminate') await w.terminate();
    codes.push(await done);
  }
  return { codes, errors, fdsBefore: fds, fdsAfter: countFds(), threadsBefore: threads, threadsAfter: countThreads() };
}

/** Two workers load failing programs at the same time. */
async function concurrentLogs(loads: number): Promise<object> {
  const a = spawn({ role: 'log', program: 'unchecked', loads });
  const b = spawn({ role: 'log', program: 'long_log', loads });
  const ends = [exited(a), exited(b)];
  const [ra, rb] = await Promise.all([ready(a), ready(b)]);
  await Promise.all(ends);
  return { unchecked: ra, long_log: rb };
}

async function main(): Promise<void> {
  const [scenario, repeatsText] = process.argv.slice(2);
  const repeats = Number(repeatsText ?? 3);
  let out: object;
  if (scenario?.startsWith('at-exit-')) return atExit(scenario.slice(8) as 'exit' | 'throw' | 'return');
  if (scenario === 'runs-terminated') out = await runsTerminated(repeats);
  else if (scenario === 'concurrent-logs') out = await concurrentLogs(repeats);
  else if (scenario?.startsWith('live-')) out = await liveEnded(scenario.slice(5) as WorkerEnd, repeats);
  else throw new Error(`unknown scenario ${scenario}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (!isMainThread && workerData) workerMain(workerData as Data);
else if (require.main === module) void main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
