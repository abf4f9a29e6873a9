// File descriptors and perf events: the syscalls around libbpf a user needs.
import { BpfArgumentError } from './errors';
import { native } from './native';
import { checkOptions, optionNames } from './options';

/** `perf_event_attr.type` values. */
export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;

/** The perf_event_attr fields this binding sets; any other name is refused with a BpfArgumentError. */
export interface PerfEventAttr {
  /** `PerfType` value. */
  type: number;
  /** Event within the type, e.g. PERF_COUNT_SW_CPU_CLOCK = 0 for SOFTWARE. */
  config: number | bigint;
  /** Sample every N events (or ns for clocks). */
  samplePeriod?: number | bigint;
  /** Sample N times a second instead (overrides samplePeriod). */
  sampleFreq?: number;
  /** Wake the reader every N samples. */
  wakeupEvents?: number;
  /** Create disabled. */
  disabled?: boolean;
}

const PERF_EVENT_ATTR_NAMES = optionNames<PerfEventAttr>()('type', 'config', 'samplePeriod', 'sampleFreq', 'wakeupEvents', 'disabled');

/** Options of `perfEventOpen`; any other name is refused with a BpfArgumentError. */
export interface PerfEventOpenOptions {
  /** The process to count (default -1: every process on `cpu`). */
  pid?: number;
  /** The CPU to count on (default -1: every CPU `pid` runs on). */
  cpu?: number;
}

const PERF_EVENT_OPEN_OPTION_NAMES = optionNames<PerfEventOpenOptions>()('pid', 'cpu');

/**
 * perf_event_open(2) for `attachPerfEvent` (pid -1 and a CPU: system-wide on that CPU).
 * Returns an fd you own until you pass it to `attachPerfEvent`, whose link then owns and closes it;
 * close an unattached one with `closeFd`.
 */
export function perfEventOpen(attr: PerfEventAttr, options: PerfEventOpenOptions = {}): number {
  if (!attr || typeof attr !== 'object') throw new BpfArgumentError('attr', 'expected a perf_event_attr object');
  checkOptions('perfEventOpen attr', attr, PERF_EVENT_ATTR_NAMES, (message) => new BpfArgumentError('attr', message));
  checkOptions('perfEventOpen', options, PERF_EVENT_OPEN_OPTION_NAMES);
  const pid = options.pid ?? -1;
  const cpu = options.cpu ?? -1;
  if (!Number.isInteger(pid) || !Number.isInteger(cpu)) throw new BpfArgumentError('pid/cpu', 'expected integers');
  return native().perfEventOpen({ ...attr, disabled: attr.disabled ? 1 : 0 }, pid, cpu);
}

/** Duplicates an fd (close-on-exec); the new one is yours to close. */
export function dupFd(fd: number): number {
  if (!Number.isInteger(fd) || fd < 0) throw new BpfArgumentError('fd', `expected an fd, got ${String(fd)}`);
  return native().dupFd(fd);
}

/** Closes an fd you own. */
export function closeFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new BpfArgumentError('fd', `expected an fd, got ${String(fd)}`);
  native().closeFd(fd);
}
