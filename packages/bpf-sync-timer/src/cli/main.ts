#!/usr/bin/env node
// The `sync-timer` command. Only `monitor`, `collect` and `doctor` need the native addon, so they are
// imported when they run: `include-dir` and help work where the addon cannot load (a
// missing prebuild, a failed source build), and test/unit/cli-no-addon.test.ts holds that.
import { parseArgs } from 'node:util';
import { SyncTimerError } from '../errors';
import { MAX_SUBSCRIBERS } from '../subscribers';
import { CLOCKS, MODES, type TimerClock, type TimerMode } from '../modes';
import { bench, BENCH_USAGE } from './bench';
import { COLLECT_USAGE, parseCollectArgs, resolveParquetWriter } from './collect-args';
import { bpfCflags, INCLUDE_DIR } from './include-dir';
import { CliError, parseCount, parseCpus, parseDuration, parseHostPort, UsageError } from './units';

const USAGE = `usage: sync-timer <command> [options]

commands:
  monitor        start a timer and subscribers and show a live per-CPU table
                   --interval 1ms    tick interval (units: ns, us, ms, s)
                   --duration 10s    how long to run (Ctrl-C stops earlier)
                   --cpus 0-3        CPUs to arm (default: online CPUs in this process's affinity)
                   --subscribers N   probe subscribers to load (1-${MAX_SUBSCRIBERS}, default 1)
                   --mode auto       auto | modern | intermediate | legacy | thread
                   --clock monotonic monotonic | realtime (ticks on CLOCK_REALTIME multiples:
                                     the same tick index on every synchronised host)
                   --json            NDJSON, one line per CPU per second
                   --prometheus HOST:PORT
                                     serve the timer's metrics on http://HOST:PORT/metrics
                                     while running (needs prom-client; port 0: any free one)
${COLLECT_USAGE}  doctor         check kernel, BTF, privileges, tracefs, PREEMPT_RT and the timer mode
  include-dir    print the C header directory (clang -I$(sync-timer include-dir))
  cflags         print the -I flags for this package's headers and libbpf's bpf/*.h
                   (clang -target bpf $(sync-timer cflags) ...; no libbpf-dev needed)
${BENCH_USAGE}`;

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'monitor':
        return await runMonitor(rest);
      case 'collect': {
        const options = parseCollectArgs(rest);
        if (options.format === 'parquet') resolveParquetWriter();
        const { collect } = await import('./collect');
        await collect(options);
        return 0;
      }
      case 'doctor': {
        const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, strict: true });
        const { doctor, renderChecks } = await import('./doctor');
        const checks = await doctor();
        process.stdout.write(values.json ? JSON.stringify(checks, null, 2) + '\n' : renderChecks(checks));
        return checks.every((c) => c.ok) ? 0 : 1;
      }
      case 'bench':
        return await bench(rest);
      case 'include-dir':
        parseArgs({ args: rest, options: {}, strict: true });
        process.stdout.write(`${INCLUDE_DIR}\n`);
        return 0;
      case 'cflags':
        parseArgs({ args: rest, options: {}, strict: true });
        process.stdout.write(`${bpfCflags().join(' ')}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(command.startsWith('-') ? `unknown option '${command}'` : `unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`sync-timer: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof SyncTimerError) {
      process.stderr.write(`sync-timer: ${e.message} [${e.code}]\n`);
      return 1;
    }
    // The binding's own load failures (no addon, missing libelf) already say what to do.
    if (e instanceof CliError || (e instanceof Error && e.message.startsWith('@bpf-sync-timer/libbpf:'))) {
      process.stderr.write(`sync-timer: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function runMonitor(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      interval: { type: 'string', default: '1ms' },
      duration: { type: 'string', default: '10s' },
      cpus: { type: 'string' },
      subscribers: { type: 'string', default: '1' },
      mode: { type: 'string', default: 'auto' },
      clock: { type: 'string', default: 'monotonic' },
      json: { type: 'boolean', default: false },
      prometheus: { type: 'string' },
    },
    strict: true,
  });
  const mode = values.mode as TimerMode | 'auto';
  if (mode !== 'auto' && !MODES.includes(mode)) throw new UsageError(`--mode: expected auto, modern, intermediate, legacy or thread, got '${values.mode}'`);
  const clock = values.clock as TimerClock;
  if (!CLOCKS.includes(clock)) throw new UsageError(`--clock: expected monotonic or realtime, got '${values.clock}'`);
  const durationNs = parseDuration('--duration', values.duration!);
  if (durationNs < 1_000_000_000n) throw new UsageError('--duration: at least 1s (the table refreshes every second)');
  const prometheus = values.prometheus === undefined ? undefined : parseHostPort('--prometheus', values.prometheus);
  const { monitor } = await import('./monitor');
  await monitor({
    intervalNs: parseDuration('--interval', values.interval!),
    durationNs,
    cpus: values.cpus === undefined ? undefined : parseCpus(values.cpus),
    subscribers: parseCount('--subscribers', values.subscribers!, MAX_SUBSCRIBERS),
    json: values.json!,
    mode,
    clock,
    prometheus,
  });
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e) => {
    process.stderr.write(`sync-timer: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
