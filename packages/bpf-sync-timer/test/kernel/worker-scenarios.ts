// Child-process side of workers.test.ts: Workers that end in the middle of a legacy
// SyncTimer.start (timer_migration set to 0 and the per-CPU runs in flight). Run as
// `node worker-scenarios.js <terminate|exit|throw> <repeats>`; prints one JSON line. In a
// worker thread it plays the worker.
import * as fs from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SyncTimer } from '../../src/index';

const SYSCTL = '/proc/sys/kernel/timer_migration';

type End = 'terminate' | 'exit' | 'throw';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Starts in legacy mode and ends as told once timer_migration is 0. */
function workerMain(end: End): void {
  void SyncTimer.start(1_000_000, {
    mode: 'legacy',
    logger: (_level, message) => {
      if (!/timer_migration set to 0/.test(message)) return;
      parentPort!.postMessage(fs.readFileSync(SYSCTL, 'utf8').trim());
      if (end === 'exit') process.exit(7);
      if (end === 'throw') setImmediate(() => { throw new Error('worker throws during start'); });
      else sleepSync(1000); // terminate() arrives while the worker is in the middle of arming
    },
  }).then((t) => t.close());
}

async function main(): Promise<void> {
  const [end, repeatsText] = process.argv.slice(2) as [End, string];
  const repeats = Number(repeatsText ?? 6);
  const seen: string[] = [];
  const after: string[] = [];
  const codes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const w = new Worker(__filename, { workerData: { end } });
    w.on('error', () => undefined);
    const exit = new Promise<number>((r) => w.once('exit', r));
    const zero = await new Promise<unknown>((r) => {
      w.once('message', r);
      w.once('exit', () => r(undefined));
    });
    seen.push(String(zero));
    if (end === 'terminate') await w.terminate();
    codes.push(await exit);
    after.push(fs.readFileSync(SYSCTL, 'utf8').trim());
  }
  process.stdout.write(`${JSON.stringify({ seen, after, codes })}\n`);
}

if (!isMainThread && workerData) workerMain((workerData as { end: End }).end);
else if (require.main === module) void main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
