// `sync-timer bench`: the repository's side-by-side benchmark (bench/sync-timer/run.mjs)
// against perf_event sampling, a user-space timer and bpftrace. It needs the C peers and
// their BPF objects, which live in a clone of the repository, not in the npm package; so
// this command runs that script when it is there and says where to get it when not.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** dist/src/cli -> the repository root, in a clone (five levels up). */
export const BENCH_SCRIPT = path.resolve(__dirname, '..', '..', '..', '..', '..', 'bench', 'sync-timer', 'run.mjs');

/** Usage lines of the command, for the CLI's help. */
export const BENCH_USAGE = `  bench          compare the sync timer with perf_event, a user-space timer and bpftrace
                   (from a clone of the repository; root). Same report as npm run bench:sync-timer
                   --quick           a few seconds instead of ~10 minutes
                   --runs N --duration S --intervals 10ms,1ms,100us --subscribers 1,8,64
                   --loads idle,busy --methods sync,sync-c,perf,user,bpftrace --out DIR --no-readme
`;

/**
 * Runs the benchmark with `args` (passed through unchanged) and resolves to its exit
 * status. SIGINT/SIGTERM are forwarded, so the benchmark releases everything first.
 */
export async function bench(args: string[], script: string = BENCH_SCRIPT): Promise<number> {
  if (!fs.existsSync(script)) {
    process.stderr.write(`sync-timer: bench runs from a clone of the repository (it builds C peers and BPF objects that the npm package does not ship); ${script} is not here. Clone the repository, run 'bash scripts/build.sh', then 'sudo npm run bench:sync-timer'.\n`);
    return 2;
  }
  const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
