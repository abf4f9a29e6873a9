// Thread mode: where the kernel has no usable bpf_timer (PREEMPT_RT, whose verifier refuses
// it), a GridRunner thread pinned to each CPU runs sync_timer_thread_tick at every grid
// point, which publishes the tick in the same bitmap entry the timer callback would, and
// then expires an hrtimer at once so that subscribers on hrtimer_expire_exit take it right
// after. Subscribers are the same programs as in the other modes. On a realtime grid
// (clock 'realtime') the runners read CLOCK_REALTIME themselves and re-align after a clock
// step (GridRunner's `clock`), so the object needs no TAI helper in this mode.
//
// Why this design: the thread's own wake-up hrtimer expires before the thread runs, so a
// tick published after waking would otherwise wait for the CPU's next expiry (on an idle CPU
// the next wake-up, a whole interval). Measured on the project's VM, same run, 2 CPUs, 2 s:
// publish-to-subscriber p50 22 us / p99 35 us with the kick against 961 us / 1080 us without
// at 1 ms (26 us against 9.9 ms at 10 ms). The kick costs one more hrtimer expiry per tick; publishing ahead with a not-before time would need a new
// field in the bitmap entry (its size is the subscribers' ABI) and leave a published,
// not-yet-due tick behind at close.
import { GridRunner, BpfError, type BpfProgram } from '@bpf-sync-timer/libbpf';
import { SyncTimerError } from './errors';
import type { CpuArmResult, TimerClock } from './modes';
import { emptyStats, type CpuTimerStats } from './stats';

/** Default SCHED_FIFO priority of the tick threads: above ksoftirqd/ktimers (1), below threaded IRQs (50). */
export const DEFAULT_THREAD_PRIORITY = 10;

/** Thread mode's own options. */
export interface ThreadModeOptions {
  /** SCHED_FIFO priority 1..99 (default 10); 0 runs the threads at normal priority. */
  priority: number;
  log: (level: 'info' | 'warn', message: string) => void;
  /** The grid's clock: on 'realtime' the threads run at CLOCK_REALTIME multiples (GridRunner's `clock`). */
  clock: TimerClock;
}

/** The tick threads of one SyncTimer. */
export class ThreadTicker {
  readonly #runners = new Map<number, GridRunner>();
  /** The priority the threads got (0 when SCHED_FIFO was refused and the fallback used). */
  priority: number;
  /** Why the threads run at normal priority, when they do. */
  priorityNote = '';

  constructor(private readonly program: BpfProgram, private readonly intervalNs: bigint, private readonly options: ThreadModeOptions) {
    this.priority = options.priority;
  }

  /** Starts a thread on each CPU; one CpuArmResult per CPU (errors reported, not thrown). */
  start(cpus: readonly number[]): CpuArmResult[] {
    return cpus.map((cpu) => {
      this.#runners.get(cpu)?.stop();
      this.#runners.delete(cpu);
      try {
        const runner = this.#startOne(cpu);
        this.#runners.set(cpu, runner);
        return { cpu, firstExpiryNs: runner.stats().nextNs };
      } catch (e) {
        return { cpu, error: toSyncTimerError(cpu, e) };
      }
    });
  }

  #startOne(cpu: number): GridRunner {
    try {
      return GridRunner.start(this.program, cpu, this.intervalNs, { priority: this.priority, clock: this.options.clock });
    } catch (e) {
      if (!(e instanceof BpfError) || e.errno !== 1 /* EPERM */ || this.priority === 0) throw e;
      // SCHED_FIFO needs CAP_SYS_NICE (or an RLIMIT_RTPRIO that allows it): documented fallback.
      this.priorityNote = `SCHED_FIFO priority ${this.priority} was refused (EPERM: it needs CAP_SYS_NICE), so the threads run at normal priority`;
      this.options.log('warn', `thread mode: ${this.priorityNote}; ticks may be late under load`);
      this.priority = 0;
      return GridRunner.start(this.program, cpu, this.intervalNs, { priority: 0, clock: this.options.clock });
    }
  }

  /** The counters of `cpus`, as the other modes report them. */
  stats(cpus: readonly number[]): CpuTimerStats[] {
    return cpus.map((cpu) => {
      const r = this.#runners.get(cpu);
      if (!r) return emptyStats(cpu);
      const s = r.stats();
      return {
        cpu,
        ticks: s.runs,
        missed: s.missed,
        rearmFailures: s.errors,
        wrongCpu: s.wrongCpu,
        lastRearmError: -s.lastErrno,
        nextExpectedNs: s.nextNs,
        lastFiredNs: s.lastNominalNs,
        stopped: s.stopped,
        clockSteps: s.clockSteps,
        lastClockStepNs: s.lastStepNs,
      };
    });
  }

  /** Stops every thread and waits for them (about one wait in all, not one per CPU). */
  stop(): void {
    for (const r of this.#runners.values()) r.requestStop();
    for (const r of this.#runners.values()) r.stop();
    this.#runners.clear();
  }
}

function toSyncTimerError(cpu: number, e: unknown): SyncTimerError {
  const errno = (e as BpfError).errno;
  const message = (e as Error).message;
  if (errno === 11 /* EAGAIN */) return new SyncTimerError('CPU_PIN_FAILED', `thread mode: the tick thread for CPU ${cpu} did not run there: ${message}`, { cpu, errno, cause: e });
  if (/pin/.test(message)) return new SyncTimerError('AFFINITY_FAILED', `thread mode: cannot pin a thread to CPU ${cpu}: ${message}`, { cpu, errno, cause: e });
  return new SyncTimerError('THREAD_START_FAILED', `thread mode: cannot start the tick thread of CPU ${cpu}: ${message}`, { cpu, errno, cause: e });
}
