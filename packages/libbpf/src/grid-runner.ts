// GridRunner: a program run on one CPU at every multiple of an interval, from a native
// thread pinned there (native/grid.cc). The mechanism; callers choose priority, clock and use.
import { checkOptions, optionNames } from './options';
import { BpfArgumentError } from './errors';
import { possibleCpus } from './cpu';
import { native, type NativeGridRunnerHandle } from './native';
import { BpfProgram } from './program';

/**
 * Size of the context a GridRunner passes to its program on every run (little-endian):
 * `u64 nominal_ns` (the grid point, CLOCK_MONOTONIC ns), `u64 interval_ns`, `u64 index` (the
 * grid point on the grid's clock / interval_ns: nominal_ns / interval_ns on CLOCK_MONOTONIC),
 * `u64 missed` (grid points skipped so far), `u64 runs` (runs before this one), `u32 cpu`,
 * `u32 flags` (bit 0, `GRID_RUN_REALTIME`: the grid is on CLOCK_REALTIME). In C:
 *
 * ```c
 * struct grid_run { __u64 nominal_ns, interval_ns, index, missed, runs; __u32 cpu, flags; };
 * SEC("syscall") int on_grid_point(struct grid_run *run) { ... return 0; }
 * ```
 */
export const GRID_RUN_CTX_SIZE = 48;

/**
 * Bit of the context's `flags`: the grid, and so `index`, is on CLOCK_REALTIME (option
 * `clock: 'realtime'`). Kernel: as GridRunner (5.14+).
 *
 * @example
 * // in the program: if (run->flags & 1) the index is wall-clock ns / interval
 */
export const GRID_RUN_REALTIME = 1;

/**
 * Default `stepNs` of a realtime GridRunner: a change of realtime - monotonic above 50 µs is
 * a clock step (the same threshold as the sync timer's bpf_timer modes).
 *
 * @example
 * GridRunner.start(prog, 0, 1_000_000n, { clock: 'realtime', stepNs: DEFAULT_CLOCK_STEP_NS * 2n });
 */
export const DEFAULT_CLOCK_STEP_NS = 50_000n;

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
  /**
   * The grid's clock (default 'monotonic'). 'realtime': runs at multiples of the interval on
   * CLOCK_REALTIME, `index` = wall-clock ns / interval. The thread still sleeps on
   * CLOCK_MONOTONIC, to each grid point's monotonic instant, so that a clock set back cannot
   * hold it until the old time; a clock step re-aligns it to the next grid point of the new
   * time within one interval (or 50 ms, if shorter), counted in `clockSteps`.
   */
  clock?: 'monotonic' | 'realtime';
  /** With clock 'realtime': a change of realtime - monotonic above this many ns is a clock step (default 50 µs); smaller ones are followed silently. */
  stepNs?: number | bigint;
}

const OPTION_NAMES = optionNames<GridRunnerOptions>()('priority', 'kick', 'lateNs', 'clock', 'stepNs');

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
  /** The grid point of the last run, and of the next (CLOCK_MONOTONIC ns, also on a realtime grid). */
  lastNominalNs: bigint;
  nextNs: bigint;
  /** The index of the last run (its grid point on the grid's clock / interval). */
  lastIndex: bigint;
  /** Clock steps seen (clock 'realtime'), each re-aligned the grid; and the last one's size (ns, signed). */
  clockSteps: bigint;
  lastStepNs: bigint;
  /** Wake-ups on another CPU (the CPU went offline and the kernel moved the thread). */
  wrongCpu: bigint;
  /** True when the thread stopped by itself after waking on another CPU. */
  stopped: boolean;
  /** True while the thread runs. */
  running: boolean;
}

/**
 * Runs a loaded program (a `SEC("syscall")` program; any type BPF_PROG_TEST_RUN takes with
 * a context) on one CPU at every multiple of an interval on CLOCK_MONOTONIC (or
 * CLOCK_REALTIME, option `clock`), from a native
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
    const clock = options.clock ?? 'monotonic';
    if (clock !== 'monotonic' && clock !== 'realtime') throw new BpfArgumentError('clock', `must be 'monotonic' or 'realtime', got ${String(clock)}`);
    const stepNs = options.stepNs === undefined ? DEFAULT_CLOCK_STEP_NS : toU64('stepNs', options.stepNs);
    const handle = new (native().NativeGridRunner)(program.fd, cpu, interval, priority, kick, lateNs, clock === 'realtime', stepNs);
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
      sumLateNs: s.sumLateNs, maxLateNs: s.maxLateNs, lastNominalNs: s.lastNominalNs, nextNs: s.nextNs, lastIndex: s.lastIndex,
      clockSteps: s.clockSteps, lastStepNs: s.lastStepNs, wrongCpu: s.wrongCpu, stopped: s.stopped, running: s.running };
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
