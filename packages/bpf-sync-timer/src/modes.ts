// Timer modes, the init program's context, and arming with fallback
// modern -> intermediate -> legacy (the bpf_timer modes; thread mode, which needs no
// bpf_timer, is chosen in sync-timer.ts). Pure apart from the injected runner.
import { constants as osConstants } from 'node:os';
import { SyncTimerError } from './errors';

// The ABI (codecs from the object's BTF) needs @bpf-sync-timer/libbpf: loaded on first use,
// so that the CLI's commands that need neither (include-dir, cflags, help) start without it.
let abiModule: typeof import('./abi') | undefined;
function abi(): typeof import('./abi') {
  return (abiModule ??= require('./abi') as typeof import('./abi'));
}

/** How ticks are made: see `MODE_INFO`. */
export type TimerMode = 'modern' | 'intermediate' | 'legacy' | 'thread';

/** The modes that arm a bpf_timer per CPU. */
export type BpfTimerMode = Exclude<TimerMode, 'thread'>;

/** The `mode` option: a mode, or 'auto' to take the best the kernel accepts. */
export type ModeOption = TimerMode | 'auto';

/** Modes in order of preference ('thread' last: where the kernel has no usable bpf_timer). */
export const MODES: readonly TimerMode[] = ['modern', 'intermediate', 'legacy', 'thread'];

/** The bpf_timer modes, in the order 'auto' probes them. */
export const BPF_TIMER_MODES: readonly BpfTimerMode[] = ['modern', 'intermediate', 'legacy'];

/**
 * What each mode does and which kernels have it; `value` is its `enum sync_timer_mode`
 * value, from the object's BTF (`SYNC_TIMER_MODE_<MODE>`).
 */
export const MODE_INFO: Record<TimerMode, { value: number; flags: string; accepted: string; minKernel: string; description: string }> = {
  modern: { get value() { return abi().modeValue('modern'); }, flags: 'BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN', accepted: 'it accepts BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN', minKernel: '6.7', description: 'absolute grid times, timers pinned to their CPU' },
  intermediate: { get value() { return abi().modeValue('intermediate'); }, flags: 'BPF_F_TIMER_ABS', accepted: 'it accepts BPF_F_TIMER_ABS', minKernel: '6.4', description: 'absolute grid times; timer_migration=0 while arming' },
  legacy: { get value() { return abi().modeValue('legacy'); }, flags: 'no flags', accepted: 'relative timers need no flags', minKernel: '5.15', description: 'relative re-arming to the next grid point; timer_migration=0 while arming' },
  thread: { get value() { return abi().modeValue('thread'); }, flags: 'no bpf_timer', accepted: 'it needs no bpf_timer', minKernel: '5.15', description: 'a real-time thread pinned to each CPU publishes the ticks at absolute grid times' },
};

/**
 * The clock whose multiples of the interval are the grid: 'monotonic' (default: aligned
 * across the CPUs of one host) or 'realtime' (CLOCK_REALTIME: tick index = wall-clock time /
 * interval, the same on every host whose clock is synchronised, so a fleet's ticks join on
 * it). 'realtime' needs an absolute-expiry mode: modern (Linux 6.7), intermediate (6.4) or
 * thread (5.15); legacy mode refuses it (see `REALTIME_REFUSAL`).
 *
 * @example
 * const clock: TimerClock = process.env.FLEET ? 'realtime' : 'monotonic';
 * using timer = await SyncTimer.start(1_000_000, { clock });
 */
export type TimerClock = 'monotonic' | 'realtime';

/**
 * The clocks, default first (for validating input, e.g. a CLI flag).
 *
 * @example
 * if (!CLOCKS.includes(flag as TimerClock)) throw new Error(`--clock: ${flag}?`);
 */
export const CLOCKS: readonly TimerClock[] = ['monotonic', 'realtime'];

/**
 * Why legacy mode cannot run a realtime grid, in one sentence: the cause in the
 * CLOCK_UNSUPPORTED error of `SyncTimer.start(ns, { clock: 'realtime', mode: 'legacy' })`.
 *
 * @example
 * console.log(REALTIME_REFUSAL); // "legacy mode cannot align ticks to CLOCK_REALTIME: ..."
 */
export const REALTIME_REFUSAL = 'legacy mode cannot align ticks to CLOCK_REALTIME: it is the mode of kernels before 6.4, which lack absolute bpf_timer expiry, and before 6.1 a BPF program has no way to read the wall clock at all (bpf_ktime_get_tai_ns came with 6.1)';

/** True when `mode` can keep a grid on `clock`. */
export function modeSupportsClock(mode: TimerMode, clock: TimerClock): boolean {
  return clock === 'monotonic' || mode !== 'legacy';
}

/** The bpf_timer modes 'auto' probes for `clock`, in order. */
export function bpfTimerModesFor(clock: TimerClock): readonly BpfTimerMode[] {
  return BPF_TIMER_MODES.filter((m) => modeSupportsClock(m, clock));
}

/** True for modes that rely on kernel.timer_migration = 0 while arming. */
export function needsTimerMigrationOff(mode: TimerMode): boolean {
  return mode === 'intermediate' || mode === 'legacy';
}

/** CLOCK_REALTIME now in ns, from Date.now(): init only needs it to the nearest second. */
export const realtimeNowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/**
 * Encodes the init program's context (`struct sync_timer_init_args`) for one CPU; a realtime
 * grid gets the wall clock read now, from which init derives the kernel's TAI - UTC offset.
 */
export function encodeInitArgs(cpu: number, mode: TimerMode, clock: TimerClock = 'monotonic', now = realtimeNowNs): Buffer {
  const { sync_timer_init_args: args, clockValue } = abi();
  // (encode makes the Buffer itself)
  return args.encode({
    cpu, mode: MODE_INFO[mode].value, error: 0, err_no: 0, first_expiry_ns: 0n, interval_ns: 0n,
    clock: clockValue(clock), tai_offset_s: 0, realtime_ns: clock === 'realtime' ? now() : 0n, first_index: 0n,
  }) as Buffer;
}

/** One CPU's raw run result (from runOnCpus). */
export interface RawCpuRun {
  cpu: number;
  errno: number;
  ranOn: number;
  ctxOut: Buffer | null;
}

/** One CPU's arming outcome. */
export interface CpuArmResult {
  cpu: number;
  error?: SyncTimerError;
  /** The first grid point armed (CLOCK_MONOTONIC ns). */
  firstExpiryNs?: bigint;
  /** Its tick index (grid point on the grid's clock / interval). */
  firstIndex?: bigint;
}

/** Interprets one CPU's run of the init program. */
export function decodeInitRun(run: RawCpuRun, mode: TimerMode): CpuArmResult {
  const cpu = run.cpu;
  if (run.errno === osConstants.errno.EAGAIN) {
    return { cpu, error: new SyncTimerError('CPU_PIN_FAILED', `could not run on CPU ${cpu}: the pinned thread ran on CPU ${run.ranOn}`, { cpu, errno: run.errno }) };
  }
  if (run.errno && run.ranOn < 0) {
    return { cpu, error: new SyncTimerError('AFFINITY_FAILED', `cannot pin a thread to CPU ${cpu} (errno ${run.errno}): offline or outside this process's cpuset`, { cpu, errno: run.errno }) };
  }
  const { sync_timer_init_args, initErrorCode } = abi();
  if (run.errno || !run.ctxOut || run.ctxOut.length < sync_timer_init_args.size) {
    return { cpu, error: new SyncTimerError('BPF_PROGRAM_FAILED', `running the init program on CPU ${cpu} failed (errno ${run.errno})`, { cpu, errno: run.errno }) };
  }
  const out = sync_timer_init_args.decode(run.ctxOut);
  const name = initErrorCode(out.error);
  if (name === undefined) return { cpu, firstExpiryNs: out.first_expiry_ns, firstIndex: out.first_index };
  const errNo = -out.err_no;
  const why = errNo ? ` (errno ${errNo})` : '';
  if (name === 'CLOCK_UNSUPPORTED') {
    const cause = mode === 'legacy' ? REALTIME_REFUSAL
      : 'the object was built without SYNC_TIMER_REALTIME_ENABLED (define it true before including sync_timer.bpf.h, e.g. a const volatile set before load)';
    return { cpu, error: new SyncTimerError(name, `arming the ${mode} timer on CPU ${cpu} on CLOCK_REALTIME failed: ${cause}`, { cpu }) };
  }
  return {
    cpu,
    error: new SyncTimerError(name, `arming the ${mode} timer on CPU ${cpu} failed: ${name}${why}`, { cpu, errno: errNo || undefined }),
  };
}

/** Runs the init program on `cpus` in `mode`. */
export type ArmRunner = (cpus: number[], mode: TimerMode) => Promise<CpuArmResult[]>;

/** Wraps the arming of one mode (used for the timer_migration handling). */
export type ModeWrapper = <T>(mode: TimerMode, fn: () => Promise<T>) => Promise<T>;

/** The outcome of arming. */
export interface ArmOutcome {
  mode: TimerMode;
  /** Why this mode, in one sentence. */
  reason: string;
  results: CpuArmResult[];
}

/** True when a failure means "this kernel lacks the mode's flags" (bpf_timer_start -EINVAL). */
export function isModeUnsupported(e: SyncTimerError | undefined): boolean {
  return e?.code === 'TIMER_START_FAILED' && e.errno === osConstants.errno.EINVAL;
}

/**
 * Arms every CPU at once in the best candidate mode, falling back to the next while the
 * kernel rejects its flags (told by the first CPU's run; a fallback re-runs init, which
 * replaces what the rejected mode left). One round of pinned runs where the kernel takes
 * the first mode: a probe on one CPU before the others would double start-up for nothing.
 * Throws the CPU's own error for a single failure, MULTIPLE_FAILURES for several,
 * MODE_UNSUPPORTED / ALL_MODES_FAILED when no mode is accepted.
 */
export async function armTimers(run: ArmRunner, cpus: number[], requested: BpfTimerMode | 'auto', wrap: ModeWrapper,
  log: (message: string) => void, clock: TimerClock = 'monotonic'): Promise<ArmOutcome> {
  if (requested !== 'auto' && !modeSupportsClock(requested, clock)) throw clockRefusal(requested);
  const candidates: readonly BpfTimerMode[] = requested === 'auto' ? bpfTimerModesFor(clock) : [requested];
  const rejected: Partial<Record<BpfTimerMode, SyncTimerError>> = {};
  for (const mode of candidates) {
    const results = await wrap(mode, async () => {
      const all = await run(cpus, mode);
      if (isModeUnsupported(all[0].error)) return undefined;
      // The first CPU's own failure is the object's or the kernel's (every CPU would say
      // the same, e.g. CLOCK_UNSUPPORTED): thrown as it is, as a probe on it alone would.
      if (all[0].error) throw all[0].error;
      throwFailures(all);
      return all;
    });
    if (results) return { mode, reason: reasonFor(mode, requested, rejected), results };
    const info = MODE_INFO[mode];
    rejected[mode] = new SyncTimerError('MODE_UNSUPPORTED',
      `the kernel rejects ${mode} mode (bpf_timer_start with ${info.flags}: EINVAL); it needs Linux ${info.minKernel} or newer`,
      { errno: osConstants.errno.EINVAL });
    log(`${mode} mode rejected by the kernel (EINVAL from bpf_timer_start with ${info.flags})`);
  }
  if (requested !== 'auto') throw rejected[requested]!;
  if (clock === 'realtime') {
    throw new SyncTimerError('ALL_MODES_FAILED', 'the kernel accepts neither modern nor intermediate mode, the bpf_timer modes that can keep a CLOCK_REALTIME grid (absolute expiry needs Linux 6.4 or newer); thread mode can', { modes: rejected });
  }
  throw new SyncTimerError('ALL_MODES_FAILED', 'the kernel accepts none of the timer modes (modern, intermediate, legacy): bpf_timer needs Linux 5.15 or newer', { modes: rejected });
}

/** CLOCK_UNSUPPORTED for a mode that cannot keep a realtime grid, before anything is armed. */
export function clockRefusal(mode: TimerMode): SyncTimerError {
  return new SyncTimerError('CLOCK_UNSUPPORTED', `clock 'realtime' is refused in ${mode} mode: ${REALTIME_REFUSAL}; use mode 'modern' (Linux 6.7), 'intermediate' (6.4), 'thread' or 'auto'`);
}

function throwFailures(results: CpuArmResult[]): void {
  const failed = results.filter((r) => r.error);
  if (failed.length === 1) throw failed[0].error;
  if (failed.length > 1) {
    const cpus = failed.map((r) => r.cpu);
    throw new SyncTimerError('MULTIPLE_FAILURES',
      `arming failed on ${failed.length} of ${results.length} CPUs (${cpus.join(', ')}): ${failed.map((r) => r.error!.code).join(', ')}`,
      { cpus, failures: failed.map((r) => r.error!) });
  }
}

function reasonFor(mode: BpfTimerMode, requested: BpfTimerMode | 'auto', rejected: Partial<Record<BpfTimerMode, SyncTimerError>>): string {
  const info = MODE_INFO[mode];
  if (requested !== 'auto') return `${mode}: requested by options.mode (${info.description})`;
  const refused = Object.keys(rejected);
  const before = refused.length ? `the kernel rejected ${refused.join(' and ')} (EINVAL); ` : '';
  return `${mode}: ${before}${info.accepted} (Linux >= ${info.minKernel}): ${info.description}`;
}
