// File descriptors and perf events: the syscalls around libbpf a user needs.
import { BpfArgumentError, ClosedError } from './errors';
import { native, type NativeFdHandle } from './native';
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
 * An fd this binding opened and owns, handed out as a handle so that only its owner can
 * close it, once: `close()` is idempotent, and a handle dropped without it is closed when
 * it is garbage-collected or when its thread's Node environment ends. Minimum kernel: none.
 *
 * @example
 * using fd = dupFd(obj.map('shared').fd);
 * other.map('shared').reuseFd(fd.fd);
 */
export class FdHandle {
  /** @internal */ protected handle: NativeFdHandle | undefined;
  /** What the fd is, for messages (`perf event`, `duplicate of fd 7`). */
  readonly what: string;

  /** @internal */
  constructor(handle: NativeFdHandle, what: string) {
    this.handle = handle;
    this.what = what;
  }

  /**
   * The fd number, borrowed: valid until `close()`. Pass it to calls that duplicate it
   * (`reuseFd`) or only use it; never close it yourself.
   */
  get fd(): number {
    return this.#live().fd();
  }

  /** True until `close()`. */
  get open(): boolean {
    return this.handle !== undefined;
  }

  /** Closes the fd. Idempotent. */
  close(): void {
    const h = this.handle;
    this.handle = undefined;
    h?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal the native handle, for attach calls that take the event itself. */
  nativeHandle(): NativeFdHandle {
    return this.#live();
  }

  #live(): NativeFdHandle {
    if (!this.handle) throw new ClosedError(this.what);
    return this.handle;
  }
}

/**
 * A perf event opened with `perfEventOpen`, for `BpfProgram.attachPerfEvent`. The link an
 * attach makes holds its own reference to the event, so the PerfEvent and its links close
 * independently, in any order. Minimum kernel: 4.9 for BPF programs on perf events.
 *
 * @example
 * using ev = perfEventOpen({ type: PerfType.SOFTWARE, config: 0, samplePeriod: 1_000_000 }, { cpu: 0 });
 * using link = obj.program('on_sample').attachPerfEvent(ev);
 */
export class PerfEvent extends FdHandle {
  /** The CPU it counts on (-1: every CPU of `pid`). */
  readonly cpu: number;
  /** The process it counts (-1: every process on `cpu`). */
  readonly pid: number;

  /** @internal */
  constructor(handle: NativeFdHandle, pid: number, cpu: number) {
    super(handle, `perf event (pid ${pid}, cpu ${cpu})`);
    this.pid = pid;
    this.cpu = cpu;
  }
}

/**
 * perf_event_open(2) for `attachPerfEvent` (pid -1 and a CPU: system-wide on that CPU).
 * Returns a PerfEvent you own: close it (or `using` it) when done.
 */
export function perfEventOpen(attr: PerfEventAttr, options: PerfEventOpenOptions = {}): PerfEvent {
  if (!attr || typeof attr !== 'object') throw new BpfArgumentError('attr', 'expected a perf_event_attr object');
  checkOptions('perfEventOpen attr', attr, PERF_EVENT_ATTR_NAMES, (message) => new BpfArgumentError('attr', message));
  checkOptions('perfEventOpen', options, PERF_EVENT_OPEN_OPTION_NAMES);
  const pid = options.pid ?? -1;
  const cpu = options.cpu ?? -1;
  if (!Number.isInteger(pid) || !Number.isInteger(cpu)) throw new BpfArgumentError('pid/cpu', 'expected integers');
  return new PerfEvent(native().perfEventOpen({ ...attr, disabled: attr.disabled ? 1 : 0 }, pid, cpu), pid, cpu);
}

/**
 * Duplicates an fd (close-on-exec) into a handle you own: the duplicate stays valid after
 * the original closes, until the handle's `close()`.
 */
export function dupFd(fd: number): FdHandle {
  if (!Number.isInteger(fd) || fd < 0) throw new BpfArgumentError('fd', `expected an fd, got ${String(fd)}`);
  return new FdHandle(native().dupFd(fd), `duplicate of fd ${fd}`);
}

/**
 * A file write that runs when this thread's Node environment ends (Worker terminated or
 * exited, main thread exiting) unless `cancel()`ed first: for putting back a setting that
 * was changed for a while, where no JS can run any more. Minimum kernel: none.
 *
 * @example
 * const undo = writeAtExit('/proc/sys/kernel/timer_migration', '1\n');
 * try { await work(); } finally { restore(); undo.cancel(); }
 */
export function writeAtExit(path: string, bytes: string): { cancel(): void } {
  if (typeof path !== 'string' || path === '') throw new BpfArgumentError('path', 'expected a file path');
  if (typeof bytes !== 'string') throw new BpfArgumentError('bytes', 'expected a string');
  const id = native().writeAtTeardown(path, bytes);
  let done = false;
  return {
    cancel: () => {
      if (done) return;
      done = true;
      native().cancelWriteAtTeardown(id);
    },
  };
}
