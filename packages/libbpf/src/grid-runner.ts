// GridRunner: a program run on one CPU at every multiple of an interval, from a native
// thread pinned there (native/grid.cc). The mechanism; callers choose priority and use.
import { checkOptions, optionNames } from './options';
import { BpfArgumentError } from './errors';
import { possibleCpus } from './cpu';
import { native, type NativeGridRunnerHandle } from './native';
import { BpfProgram } from './program';

/**
 * Size of the context a GridRunner passes to its program on every run (little-endian):
 * `u64 nominal_ns` (the grid point), `u64 interval_ns`, `u64 index` (nominal_ns /
 * interval_ns), `u64 missed` (grid points skipped so far), `u64 runs` (runs before this
 * one), `u32 cpu`, `u32 flags` (0). In C:
 *
 * ```c
 * struct grid_run { __u64 nominal_ns, interval_ns, index, missed, runs; __u32 cpu, flags; };
 * SEC("syscall") int on_grid_point(struct grid_run *run) { ... return 0; }
 * ```
 */
export const GRID_RUN_CTX_SIZE = 48;

/** Options of `GridRunner.start`; any other name is refused with a BpfArgumentError. */
export interface GridRunnerOptions {
  /**
   * 1..99: the thread runs SCHED_FIFO at this priority (needs CAP_SYS_NICE or an
   * RLIMIT_RTPRIO that allows it; EPERM otherwise). 0 (default): the default policy.
   */
  priority?: number;
  /**
   * After each run, sleep 1 ns (default true): an hrtimer that expires at once on the CPU,
   * so that programs on `hrtimer_expire_exit` run right after the grid run instead of at
   * the CPU's next timer expiry.
   */
  kick?: boolean;
  /** A run that starts more than this many ns after its grid point counts as late (default: half the interval). */
  lateNs?: number | bigint;
}

const OPTION_NAMES = optionNames<GridRunnerOptions>()('priority', 'kick', 'lateNs');

/** What a GridRunner counted so far. */
export interface GridRunnerStats {
  cpu: number;
  /** Runs of the program. */
  runs: bigint;
  /** Grid points skipped because the thread woke after the next one had passed. */
  missed: bigint;
  /** Runs that started more than `lateNs` after their grid point. */
  late: bigint;
  /** Runs whose BPF_PROG_TEST_RUN failed or whose program returned non-zero. */
  errors: bigint;
  /** Positive errno of the last failed run, 0 if none. */
  lastErrno: number;
  /** The last non-zero return value of the program, 0 if none. */
  lastRetval: number;
  /** Sum and maximum of how late runs started after their grid points (ns). */
  sumLateNs: bigint;
  maxLateNs: bigint;
  /** The grid point of the last run, and of the next (CLOCK_MONOTONIC ns). */
  lastNominalNs: bigint;
  nextNs: bigint;
  /** Wake-ups on another CPU (the CPU went offline and the kernel moved the thread). */
  wrongCpu: bigint;
  /** True when the thread stopped by itself after waking on another CPU. */
  stopped: boolean;
  /** True while the thread runs. */
  running: boolean;
}

/**
 * Runs a loaded program (a `SEC("syscall")` program; any type BPF_PROG_TEST_RUN takes with
 * a context) on one CPU at every multiple of an interval on CLOCK_MONOTONIC, from a native
 * thread pinned to that CPU: it sleeps with clock_nanosleep(TIMER_ABSTIME) to each grid
 * point, runs the program with the context described at `GRID_RUN_CTX_SIZE`, and counts
 * late and missed runs (a grid point the thread woke too late for is skipped, never run
 * twice). A thread that wakes on another CPU stops. The program is never changed; closing
 * its object stops the runner. Kernel >= 5.14 for syscall programs.
 *
 * @example
 * using runner = GridRunner.start(obj.program('on_grid_point'), 0, 1_000_000n, { priority: 10 });
 */
export class GridRunner {
  #handle: NativeGridRunnerHandle | undefined;
  #release: (() => void) | undefined;
  readonly cpu: number;
  readonly intervalNs: bigint;

  private constructor(handle: NativeGridRunnerHandle, cpu: number, intervalNs: bigint) {
    this.#handle = handle;
    this.cpu = cpu;
    this.intervalNs = intervalNs;
  }

  /**
   * Starts the thread; returns once it is pinned (checked) and scheduled as asked. Throws
   * BpfArgumentError for bad arguments, BpfError with the errno of what failed otherwise
   * (EINVAL/ESRCH: pinning; EAGAIN: not on its CPU after pinning; EPERM: SCHED_FIFO refused).
   */
  static start(program: BpfProgram, cpu: number, intervalNs: number | bigint, options: GridRunnerOptions = {}): GridRunner {
    if (!(program instanceof BpfProgram)) throw new BpfArgumentError('program', 'expected a loaded BpfProgram');
    if (!Number.isInteger(cpu) || !possibleCpus().includes(cpu)) throw new BpfArgumentError('cpu', `${String(cpu)} is not a possible CPU`);
    const interval = toU64('intervalNs', intervalNs);
    if (interval < 1000n) throw new BpfArgumentError('intervalNs', `must be at least 1000 ns, got ${interval}`);
    checkOptions('GridRunner.start', options, OPTION_NAMES);
    const priority = options.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > 99) throw new BpfArgumentError('priority', `must be an integer 0..99, got ${String(priority)}`);
    const kick = options.kick ?? true;
    if (typeof kick !== 'boolean') throw new BpfArgumentError('kick', `must be true or false, got ${String(kick)}`);
    const lateNs = options.lateNs === undefined ? interval / 2n : toU64('lateNs', options.lateNs);
    const handle = new (native().NativeGridRunner)(program.fd, cpu, interval, priority, kick, lateNs);
    const runner = new GridRunner(handle, cpu, interval);
    runner.#release = program.adopt(runner);
    return runner;
  }

  /** The counters so far (also after `stop()`: the last ones). */
  stats(): GridRunnerStats {
    const h = this.#handle;
    if (!h) return { ...this.#last! };
    const s = h.stats();
    return { cpu: s.cpu, runs: s.runs, missed: s.missed, late: s.late, errors: s.errors, lastErrno: s.lastErrno, lastRetval: s.lastRetval,
      sumLateNs: s.sumLateNs, maxLateNs: s.maxLateNs, lastNominalNs: s.lastNominalNs, nextNs: s.nextNs, wrongCpu: s.wrongCpu, stopped: s.stopped, running: s.running };
  }

  #last: GridRunnerStats | undefined;

  /** Asks the thread to end at its next wake-up without waiting (then `stop()` waits less). */
  requestStop(): void {
    this.#handle?.requestStop();
  }

  /**
   * Stops the thread and waits for it (within min(interval, 50 ms)); no run starts after it
   * returns. Idempotent.
   */
  stop(): void {
    const h = this.#handle;
    if (!h) return;
    h.stop();
    this.#last = this.stats();
    this.#last.running = false;
    this.#handle = undefined;
    this.#release?.();
    this.#release = undefined;
  }

  /** `stop()`. */
  close(): void {
    this.stop();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

function toU64(what: string, v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  throw new BpfArgumentError(what, `expected a non-negative integer of nanoseconds, got ${String(v)}`);
}
