// Command-line values with units: durations (`500us`, `1ms`, `2s`) and CPU lists.
// No import of the binding: main.ts loads this for every command, and include-dir and
// help must work where the native addon cannot load.

/** A bad command-line value: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the CLI reports in one line, with exit status 1 (not a usage error). */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n };

/** Parses `250us`, `1ms`, `2s`, `1.5ms`, `1m` or plain nanoseconds into ns. */
export function parseDuration(what: string, text: string): bigint {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m)?\s*$/.exec(text ?? '');
  if (!m) throw new UsageError(`${what}: cannot read '${text}'; write a number with a unit, e.g. 500us, 1ms, 2s`);
  const unit = UNIT_NS[m[2] ?? 'ns'];
  const [whole, frac = ''] = m[1].split('.');
  const scale = 10n ** BigInt(frac.length);
  const ns = (BigInt(whole) * scale + BigInt(frac || '0')) * unit;
  if (ns % scale !== 0n) throw new UsageError(`${what}: '${text}' is not a whole number of nanoseconds`);
  return ns / scale;
}

/** Formats ns for people: `1 ms`, `250 µs`, `2 s`. */
export function formatDuration(ns: bigint): string {
  if (ns % 1_000_000_000n === 0n) return `${ns / 1_000_000_000n} s`;
  if (ns % 1_000_000n === 0n) return `${ns / 1_000_000n} ms`;
  if (ns % 1_000n === 0n) return `${ns / 1_000n} µs`;
  return `${ns} ns`;
}

/** Parses `0-3,5` into CPU numbers (loads the binding, which has the parser). */
export function parseCpus(text: string): number[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseCpuList } = require('@bpf-sync-timer/libbpf') as typeof import('@bpf-sync-timer/libbpf');
  try {
    const cpus = parseCpuList(text);
    if (cpus.length === 0) throw new Error('empty');
    return cpus;
  } catch {
    throw new UsageError(`--cpus: cannot read '${text}'; write a CPU list such as 0-3,5`);
  }
}

/** Parses a positive integer option. */
export function parseCount(what: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text ?? '') || n < 1 || n > max) throw new UsageError(`${what}: expected a whole number from 1 to ${max}, got '${text}'`);
  return n;
}

/** A listening address from the command line. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT` (`127.0.0.1:9464`, `localhost:9464`, `[::1]:9464`; port 0 takes a
 * free one) for `--prometheus`.
 */
export function parseHostPort(what: string, text: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([a-zA-Z0-9.-]+)):(\d{1,5})$/.exec(text ?? '');
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    const hint = /^[0-9a-fA-F:]+:\d+$/.test(text ?? '') && (text.match(/:/g) ?? []).length > 1 ? ' (put an IPv6 address in brackets: [::1]:9464)' : '';
    throw new UsageError(`${what}: expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464, got '${text}'${hint}`);
  }
  return { host: m[1] ?? m[2], port };
}
