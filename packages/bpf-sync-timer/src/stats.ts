// Per-CPU counters read from the timer's state map (struct sync_timer_state).
import type { BpfMap } from '@bpf-sync-timer/libbpf';
import { sync_timer_state } from './abi';

/** One CPU's timer counters. */
export interface CpuTimerStats {
  cpu: number;
  /** Timer callbacks run. */
  ticks: bigint;
  /** Grid points skipped because a callback ran too late to make them. */
  missed: bigint;
  /** bpf_timer_start failures when re-arming (each also retried relative). */
  rearmFailures: bigint;
  /** Callbacks that ran on another CPU than the one armed (timer migrated). */
  wrongCpu: bigint;
  /** Negative errno of the last re-arm failure, 0 if none. */
  lastRearmError: number;
  /** The grid point the timer is armed for next (CLOCK_MONOTONIC ns). */
  nextExpectedNs: bigint;
  /** When the last callback ran (CLOCK_MONOTONIC ns). */
  lastFiredNs: bigint;
  /** True when the timer found itself on another CPU and stopped (until re-armed). */
  stopped: boolean;
  /**
   * Clock steps seen (clock 'realtime': the wall clock set or jumped by more than 50 µs);
   * each re-aligned the grid to the new time within one interval, without a burst. Always 0
   * on a monotonic grid.
   */
  clockSteps: bigint;
  /** Size of the last clock step in ns (new - old realtime - monotonic; negative: set back), 0 if none. */
  lastClockStepNs: bigint;
}

/** The counters of a CPU that has none yet. */
export function emptyStats(cpu: number): CpuTimerStats {
  return { cpu, ticks: 0n, missed: 0n, rearmFailures: 0n, wrongCpu: 0n, lastRearmError: 0, nextExpectedNs: 0n, lastFiredNs: 0n, stopped: false, clockSteps: 0n, lastClockStepNs: 0n };
}

/** Decodes `struct sync_timer_state` (its codec from sync_timer.bpf.o's BTF; the bpf_timer reads as zeros). */
export function decodeState(cpu: number, v: Uint8Array): CpuTimerStats {
  const s = sync_timer_state.decode(v);
  return {
    cpu,
    nextExpectedNs: s.next_expected_ns,
    ticks: s.ticks,
    missed: s.missed,
    rearmFailures: s.rearm_failures,
    wrongCpu: s.wrong_cpu,
    lastFiredNs: s.last_fired_ns,
    lastRearmError: s.last_rearm_error,
    stopped: s.stopped !== 0,
    clockSteps: s.clock_steps,
    lastClockStepNs: s.last_step_ns,
  };
}

/** Reads the counters of `cpus` from a `sync_timer_states_<name>` map. */
export function readStats(states: BpfMap, cpus: readonly number[]): CpuTimerStats[] {
  return cpus.map((cpu) => {
    const v = states.lookup(cpu);
    return v ? decodeState(cpu, v) : emptyStats(cpu);
  });
}
