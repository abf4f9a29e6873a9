// The command line of `sync-timer collect`. No import of the binding (except through
// parseCpus, which loads it only for --cpus): bad flags are refused before anything loads.
import { parseArgs } from 'node:util';
import { checkInterval } from '../interval';
import { MODES, type TimerMode } from '../modes';
import { CliError, parseCpus, parseDuration, UsageError } from './units';

/** The output formats. */
export const FORMATS = ['parquet', 'ndjson'] as const;
/** An output format. */
export type Format = (typeof FORMATS)[number];

/** The options of `sync-timer collect`. */
export interface CollectOptions {
  intervalNs: bigint;
  durationNs: bigint;
  out: string;
  format: Format;
  cpus?: number[];
  mode: TimerMode | 'auto';
  /** Start a new file at this size (bytes). */
  rotateBytes: number;
  /** Start a new file at this age (ns). */
  rotateNs: bigint;
  /** Rows per Parquet row group, at most. */
  rowGroupRows: number;
  /** Batches waiting on the writer thread before new ones are dropped. */
  queue: number;
  /** Open hardware counters when the machine has a PMU. */
  hw: boolean;
  /** The timer's clock: realtime makes tick_index a key across hosts. */
  clock: 'monotonic' | 'realtime';
}

const FLAGS = {
  interval: { type: 'string', default: '1ms' },
  duration: { type: 'string', default: '10s' },
  out: { type: 'string' },
  format: { type: 'string', default: 'parquet' },
  cpus: { type: 'string' },
  mode: { type: 'string', default: 'auto' },
  'rotate-size': { type: 'string', default: '256MiB' },
  'rotate-time': { type: 'string', default: '60m' },
  'row-group': { type: 'string', default: '100000' },
  queue: { type: 'string', default: '64' },
  hw: { type: 'string', default: 'auto' },
  clock: { type: 'string', default: 'monotonic' },
} as const;

/** The --help text of the command (main.ts shows it in the CLI's usage). */
export const COLLECT_USAGE = `  collect        sample every CPU on every tick into Parquet or NDJSON files
                   --out DIR          directory for the files (created if missing; required)
                   --interval 1ms     tick interval (units: ns, us, ms, s)
                   --duration 10s     how long to run (Ctrl-C stops earlier)
                   --format parquet   parquet (needs the hyparquet-writer package) | ndjson
                   --cpus 0-3         CPUs to sample (default: online CPUs in this process's affinity)
                   --mode auto        auto | modern | intermediate | legacy | thread
                   --rotate-size 256MiB  start a new file at this size (B, KiB, MiB, GiB, kB, MB, GB)
                   --rotate-time 60m     start a new file at this age
                   --row-group 100000    rows per Parquet row group, at most
                   --queue 64            batches (4096 rows each) waiting on the writer before
                                         new ones are dropped and counted
                   --hw auto          auto: hardware counters where a PMU is | off
                   --clock monotonic  monotonic | realtime (ticks on CLOCK_REALTIME multiples, so
                                      tick_index is the same instant on every synchronised host;
                                      needs the timer's clock option)
`;

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** Where hyparquet-writer is, or a CliError saying how to install it (checked before anything loads). */
export function resolveParquetWriter(): string {
  try {
    return require.resolve('hyparquet-writer');
  } catch {
    throw new CliError('collect: --format parquet needs the hyparquet-writer package, an optional peer dependency of bpf-sync-timer: ' +
      'run `npm install hyparquet-writer` next to bpf-sync-timer, or write NDJSON with --format ndjson');
  }
}

/** Parses `256MiB`, `64MB`, `1G` or plain bytes. */
export function parseBytes(what: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text ?? '');
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  const n = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (!(n >= 1)) throw new UsageError(`${what}: cannot read '${text}'; write a size such as 64MiB, 1GB or 1048576`);
  return n;
}

/** The flag among `names` nearest to `given` (edit distance), if any is near. */
export function nearestFlag(given: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const n of names) {
    const d = editDistance(given, n);
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  return bestDistance <= Math.max(2, Math.floor(given.length / 2)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const unknown = /'(-[^']*)'/.exec((e as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const near = nearestFlag(unknown.replace(/^-+/, '').split('=')[0], Object.keys(FLAGS));
      throw new UsageError(`collect: unknown option '${unknown}'${near ? `; did you mean --${near}?` : ''}`);
    }
    throw new UsageError(`collect: ${(e as Error).message}`);
  }
}

function positive(what: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) throw new UsageError(`${what}: expected a whole number from 1 to ${max}, got '${text}'`);
  return n;
}

function parseInterval(text: string): bigint {
  try {
    return checkInterval(parseDuration('--interval', text));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--interval ${text}: ${(e as Error).message}`);
  }
}

/** Parses and checks the command line; throws UsageError naming the bad flag. */
export function parseCollectArgs(argv: string[]): CollectOptions {
  const v = parseFlags(argv);
  if (v.out === undefined || v.out === '') throw new UsageError('collect: --out DIR is required (the directory the files go to)');
  const format = v.format as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format: expected parquet or ndjson, got '${v.format}'`);
  const mode = v.mode as TimerMode | 'auto';
  if (mode !== 'auto' && !MODES.includes(mode)) throw new UsageError(`--mode: expected auto, modern, intermediate, legacy or thread, got '${v.mode}'`);
  if (v.hw !== 'auto' && v.hw !== 'off') throw new UsageError(`--hw: expected auto or off, got '${v.hw}'`);
  if (v.clock !== 'monotonic' && v.clock !== 'realtime') throw new UsageError(`--clock: expected monotonic or realtime, got '${v.clock}'`);
  const intervalNs = parseInterval(v.interval);
  const durationNs = parseDuration('--duration', v.duration);
  if (durationNs === 0n) throw new UsageError('--duration: must be more than 0 (Ctrl-C stops earlier)');
  const rotateNs = parseDuration('--rotate-time', v['rotate-time']);
  if (rotateNs < 1_000_000_000n) throw new UsageError('--rotate-time: at least 1s');
  return {
    intervalNs,
    durationNs,
    out: v.out,
    format,
    cpus: v.cpus === undefined ? undefined : parseCpus(v.cpus),
    mode,
    rotateBytes: parseBytes('--rotate-size', v['rotate-size']),
    rotateNs,
    rowGroupRows: positive('--row-group', v['row-group'], 10_000_000),
    queue: positive('--queue', v.queue, 4096),
    hw: v.hw === 'auto',
    clock: v.clock,
  };
}
