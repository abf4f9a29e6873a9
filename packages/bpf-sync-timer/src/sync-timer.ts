// SyncTimer: the shared per-CPU timer and its subscriber ids.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { BpfError, BpfObject, codeCacheCheckpoint, dupFd, type FdHandle, numPossibleCpus, onlineCpus, optionNames, VerifierError, type BpfMap, type BpfProgram, type OpenBpfObject } from '@bpf-sync-timer/libbpf';
import { ARM_OPTION_NAMES, armProgram, checkArmOptions, checkModePrivileges, checkOptionNames, chooseCpus, defaultLog, modeWrapper, runInit, type ArmOptions, type Armed } from './arm';
import type { SkippedCpu } from './cpus';
import { CpuWatcher, type HotplugEvent } from './hotplug';
import { SyncTimerError } from './errors';
import { checkInterval } from './interval';
import { checkKernel, isPreemptRt, privilegeProblem } from './kernel';
import { latenessDecoder, readLateness, type CpuLatenessHistogram } from './lateness';
import { MODE_INFO, type CpuArmResult, type TimerClock, type TimerMode } from './modes';
import { TaiOffsetKeeper } from './realtime';
import { readStats, type CpuTimerStats } from './stats';
import { IdAllocator, subscribeObject, type SubscribeOptions, type Subscriber, type SubscriberHost } from './subscribers';
import { DEFAULT_THREAD_PRIORITY, ThreadTicker } from './thread-mode';

/** The compiled timer object shipped with the package. */
export const TIMER_OBJECT_PATH = path.resolve(__dirname, '..', 'bpf', 'sync_timer.bpf.o');

/** Directory of the C headers (`sync_timer_bitmap.bpf.h`, `sync_timer.bpf.h`), for `clang -I`. */
export const includeDir: string = path.resolve(__dirname, '..', '..', 'include');

/** Options of `SyncTimer.start`; any other name is refused with INVALID_OPTION. */
export interface SyncTimerOptions extends ArmOptions {
  /**
   * How often (ms) to check for CPUs going offline or coming back, and re-arm them
   * (default 1000; the re-arm delay is at most this), and, on a realtime grid in a bpf_timer
   * mode, for a change of the kernel's TAI - UTC offset. `false` turns both off.
   */
  watchCpusMs?: number | false;
  /**
   * Keep the per-CPU lateness histogram in the kernel (default true), read with
   * `latenessHistogram()` and by the metrics entry. `false` leaves its code out of the
   * timer callback (the verifier drops it), for the last few ns per tick.
   */
  latenessHistogram?: boolean;
  /**
   * Thread mode: the SCHED_FIFO priority of the tick threads, 1..99 (default 10: above
   * ksoftirqd and ktimers, below threaded interrupts), or 0 for normal priority. Without
   * CAP_SYS_NICE the threads fall back to normal priority, said in `modeReason`.
   */
  threadPriority?: number;
}

const SYNC_TIMER_OPTION_NAMES = optionNames<SyncTimerOptions>()(...ARM_OPTION_NAMES, 'watchCpusMs', 'latenessHistogram', 'threadPriority');
const SUBSCRIBE_OPTION_NAMES = optionNames<SubscribeOptions>()('idVariable', 'mapName', 'attach');

const BITMAP_MAP = 'sync_timer_bitmap';
const STATES_MAP = 'sync_timer_states_shared';
const LATENESS_MAP = 'sync_timer_lateness';
const INIT_PROGRAM = 'sync_timer_init_shared';
const THREAD_PROGRAM = 'sync_timer_thread_tick';
const TAI_PROGRAM = 'sync_timer_set_tai_offset';

/**
 * A tick on every armed CPU at every multiple of `intervalNs` (CLOCK_MONOTONIC, or
 * CLOCK_REALTIME with `clock: 'realtime'`), published in the per-CPU `sync_timer_bitmap` map
 * for up to 64 subscriber programs. Hold it for as long as ticks are needed; `close()` stops
 * them. Needs Linux 5.15 (modes: see `mode`; a realtime grid: 6.4 in the bpf_timer modes,
 * 5.15 in thread mode).
 *
 * @example
 * using timer = await SyncTimer.start(1_000_000); // 1 ms
 * using collector = timer.subscribe(BpfObject.open('my_collector.bpf.o'), { idVariable: 'my_sync_timer_id' });
 * // the same by hand:
 * const id = timer.assignId();
 * const open = BpfObject.open('my_collector.bpf.o');
 * open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
 * open.rodata.set('my_sync_timer_id', id);
 * const object = open.load();
 * object.attachAll();
 */
export class SyncTimer extends EventEmitter<{ [K in HotplugEvent['type']]: [Extract<HotplugEvent, { type: K }>] }> {
  #object: BpfObject | undefined;
  readonly #watcher: CpuWatcher;
  #watchTimer: NodeJS.Timeout | undefined;
  readonly #ids = new IdAllocator();
  readonly #subscribers = new Set<Subscriber>();
  readonly #host: SubscriberHost = { ids: this.#ids, live: this.#subscribers, bitmap: () => this.#bitmap() };
  readonly #intervalNs: bigint;
  readonly #mode: TimerMode;
  readonly #modeReason: string;
  readonly #skipped: readonly SkippedCpu[];
  readonly #lateness: boolean;
  #decodeLateness: ReturnType<typeof latenessDecoder> | undefined;
  readonly #threads: ThreadTicker | undefined;
  readonly #clock: TimerClock;

  private constructor(object: BpfObject, intervalNs: bigint, armed: Armed, options: SyncTimerOptions, threads?: ThreadTicker) {
    super();
    this.#object = object;
    this.#intervalNs = intervalNs;
    this.#mode = armed.mode;
    this.#modeReason = armed.modeReason;
    this.#clock = armed.clock;
    this.#skipped = Object.freeze(armed.skippedCpus.map((s) => Object.freeze({ ...s })));
    this.#lateness = options.latenessHistogram ?? true;
    this.#threads = threads;
    const log = options.logger ?? defaultLog;
    this.#watcher = new CpuWatcher(armed.cpus, armed.skippedCpus.filter((s) => s.reason === 'offline').map((s) => s.cpu), {
      online: onlineCpus,
      stats: (cpus) => this.#stats(cpus),
      rearm: (cpus) => this.#rearm(cpus, log),
      emit: (e) => {
        log(e.type === 'cpu-rearm-failed' ? 'warn' : 'info', `${e.type} ${e.cpu}${e.type === 'cpu-rearm-failed' ? `: ${e.error.message}` : ''}`);
        this.emit(e.type, e as never);
      },
      now: () => Date.now(),
    });
    const every = options.watchCpusMs ?? 1000;
    // a realtime bpf_timer grid's TAI - UTC offset is checked as often as the CPUs
    const tai = armed.clock === 'realtime' && !threads
      ? new TaiOffsetKeeper(() => this.#live().map(STATES_MAP), () => this.#live().program(TAI_PROGRAM), (m) => log('warn', m))
      : undefined;
    if (every !== false) {
      this.#watchTimer = setInterval(() => {
        void this.#watcher.check().catch((e) => log('warn', `CPU check failed: ${(e as Error).message}`));
        try {
          tai?.check(this.cpus);
        } catch (e) {
          log('warn', `TAI offset check failed: ${(e as Error).message}`);
        }
      }, every);
      this.#watchTimer.unref();
    }
    // started: the code cache may now keep the compiled start-up path for the next process
    codeCacheCheckpoint();
  }

  /**
   * Checks for CPUs that went offline or came back now, instead of waiting for the next
   * periodic check; resolves when returning CPUs are re-armed.
   */
  checkCpus(): Promise<void> {
    this.#live();
    return this.#watcher.check();
  }

  /**
   * Loads the timer and arms it on every selected CPU. Rejects with a SyncTimerError:
   * INTERVAL_* and INVALID_OPTION (bad values, unknown names) before anything is loaded,
   * CLOCK_UNSUPPORTED (clock 'realtime' in legacy mode, or in a forced bpf_timer mode on a
   * kernel without bpf_ktime_get_tai_ns), UNSUPPORTED_KERNEL, OPEN_FAILED/LOAD_FAILED, a
   * per-CPU code, MODE_UNSUPPORTED or
   * ALL_MODES_FAILED. Leaves nothing behind on failure.
   */
  static async start(intervalNs: number | bigint, options: SyncTimerOptions = {}): Promise<SyncTimer> {
    const interval = checkInterval(intervalNs);
    checkOptionNames('SyncTimer.start', options, SYNC_TIMER_OPTION_NAMES);
    checkArmOptions(options);
    const every = options.watchCpusMs;
    if (every !== undefined && every !== false && (!Number.isInteger(every) || every < 10)) {
      throw new SyncTimerError('INVALID_OPTION', `options.watchCpusMs must be false or an integer of at least 10 ms, got ${String(every)}`);
    }
    if (options.latenessHistogram !== undefined && typeof options.latenessHistogram !== 'boolean') {
      throw new SyncTimerError('INVALID_OPTION', `options.latenessHistogram must be true or false, got ${JSON.stringify(options.latenessHistogram)}`);
    }
    const priority = options.threadPriority ?? DEFAULT_THREAD_PRIORITY;
    if (!Number.isInteger(priority) || priority < 0 || priority > 99) {
      throw new SyncTimerError('INVALID_OPTION', `options.threadPriority must be an integer 0..99 (0: normal priority), got ${String(options.threadPriority)}`);
    }
    checkKernel();
    const requested = options.mode ?? 'auto';
    const lateness = options.latenessHistogram ?? true;
    const clock = options.clock ?? 'monotonic';
    if (isPreemptRt()) {
      if (requested !== 'auto' && requested !== 'thread') {
        throw new SyncTimerError('MODE_UNSUPPORTED', `mode '${requested}' needs bpf_timer, which the verifier of this PREEMPT_RT kernel refuses: use mode 'thread' or 'auto'`);
      }
      return SyncTimer.#startThreads(interval, options, lateness, requested === 'thread'
        ? 'requested by options.mode'
        : 'the kernel is PREEMPT_RT, whose verifier refuses bpf_timer');
    }
    if (requested === 'thread') return SyncTimer.#startThreads(interval, options, lateness, 'requested by options.mode');
    checkModePrivileges(requested);
    let object: BpfObject;
    try {
      object = loadTimerObject(interval, lateness, false, clock);
    } catch (e) {
      return SyncTimer.#startThreads(interval, options, lateness, threadFallback(e, requested, clock));
    }
    try {
      const armed = await armProgram(object.program(INIT_PROGRAM), options);
      return new SyncTimer(object, interval, armed, options);
    } catch (e) {
      object.close();
      if (requested === 'auto' && e instanceof SyncTimerError && e.code === 'ALL_MODES_FAILED') {
        return SyncTimer.#startThreads(interval, options, lateness, clock === 'realtime'
          ? 'the kernel accepts neither modern nor intermediate mode, the bpf_timer modes that can keep a CLOCK_REALTIME grid (Linux 6.4)'
          : 'the kernel accepts none of the bpf_timer modes');
      }
      throw e;
    }
  }

  /** Thread mode's start: the object without the bpf_timer program, a thread per CPU. */
  static async #startThreads(interval: bigint, options: SyncTimerOptions, lateness: boolean, why: string): Promise<SyncTimer> {
    const log = options.logger ?? defaultLog;
    const { cpus, skipped } = chooseCpus(options.cpus);
    for (const s of skipped) log('info', `CPU ${s.cpu} skipped: ${s.reason}`);
    const clock = options.clock ?? 'monotonic';
    const object = loadTimerObject(interval, lateness, true, clock);
    const threads = new ThreadTicker(object.program(THREAD_PROGRAM), interval, { priority: options.threadPriority ?? DEFAULT_THREAD_PRIORITY, log, clock });
    try {
      const results = threads.start(cpus);
      const failed = results.filter((r) => r.error);
      if (failed.length === 1) throw failed[0].error;
      if (failed.length > 1) {
        throw new SyncTimerError('MULTIPLE_FAILURES', `starting the tick threads failed on ${failed.length} of ${cpus.length} CPUs (${failed.map((r) => r.cpu).join(', ')}): ${failed[0].error!.message}`,
          { cpus: failed.map((r) => r.cpu), failures: failed.map((r) => r.error!) });
      }
      const prio = threads.priority > 0 ? `SCHED_FIFO priority ${threads.priority}` : (threads.priorityNote || 'normal priority (threadPriority: 0)');
      const reason = `thread: ${why}; ${MODE_INFO.thread.description} (${prio})`;
      log('info', `armed CPUs ${cpus.join(',')} on CLOCK_${clock.toUpperCase()} in ${reason}`);
      return new SyncTimer(object, interval, { mode: 'thread', modeReason: reason, cpus, skippedCpus: skipped, clock }, options, threads);
    } catch (e) {
      threads.stop();
      object.close();
      throw e;
    }
  }

  /** The interval in ns. */
  get intervalNs(): bigint {
    return this.#intervalNs;
  }

  /** The mode in use. */
  get mode(): TimerMode {
    return this.#mode;
  }

  /** Why this mode was chosen, in one sentence. */
  get modeReason(): string {
    return this.#modeReason;
  }

  /**
   * The grid's clock (option `clock`): 'monotonic', or 'realtime', where a tick's index is
   * its CLOCK_REALTIME grid point / interval (the same index on every host with a
   * synchronised clock) and `tickIndex * intervalNs` its wall-clock time in ns since the
   * epoch. Realtime grids need modern (6.7), intermediate (6.4) or thread mode.
   *
   * @example
   * using timer = await SyncTimer.start(1_000_000, { clock: 'realtime' });
   * timer.clock; // 'realtime'
   */
  get clock(): TimerClock {
    return this.#clock;
  }

  /** The CPUs armed now (a CPU that goes offline leaves; it is re-armed when it comes back). */
  get cpus(): readonly number[] {
    return this.#watcher.armed;
  }

  /** CPUs not armed now and why (offline, outside the affinity, not possible). */
  get skippedCpus(): readonly SkippedCpu[] {
    const waiting = this.#watcher.waiting;
    const still = this.#skipped.filter((s) => s.reason !== 'offline' || waiting.includes(s.cpu));
    const gone = waiting.filter((cpu) => !still.some((s) => s.cpu === cpu)).map((cpu) => ({ cpu, reason: 'offline' as const }));
    return [...still, ...gone].sort((a, b) => a.cpu - b.cpu);
  }

  /** False once closed. */
  get open(): boolean {
    return this.#object !== undefined;
  }

  /** Takes a subscriber id (0..63, lowest free first); IDS_EXHAUSTED after 64. */
  assignId(): number {
    this.#live();
    return this.#ids.assign();
  }

  /**
   * Gives a subscriber id back for reuse; INVALID_ID / ID_NOT_ASSIGNED. The id of a
   * `Subscriber` is refused (INVALID_ID): its `close()` gives it back.
   */
  releaseId(id: number): void {
    this.#live();
    const holder = [...this.#subscribers].find((s) => s.id === id);
    if (holder) throw new SyncTimerError('INVALID_ID', `subscriber id ${id} belongs to the Subscriber of BPF object '${holder.object.name}': close() it instead`);
    this.#ids.release(id);
  }

  /**
   * Joins a subscriber object to this timer in one call: makes its bitmap map (`mapName`,
   * default `sync_timer_bitmap`, declared with `SYNC_TIMER_BITMAP_MAP`) share the timer's,
   * takes an id and writes it to the global `idVariable` (default `my_sync_timer_id`):
   * before load when it is in `.rodata` (`const volatile`), after load when it is in `.data`
   * or `.bss`; loads, and attaches every program with an attach point in its section
   * (`attach`, default true). `subscriber.close()` closes the object and gives the id back;
   * `close()` of the timer closes its subscribers still open.
   *
   * `open` is taken over: on success it is consumed (as by `load()`), on any failure it is
   * closed, with what was loaded from it, and the id is given back. Throws SyncTimerError:
   * INVALID_OPTION (unknown option names, bad values, no such variable in .rodata/.data/.bss,
   * no such map or one of another shape, nothing to attach), CLOSED, IDS_EXHAUSTED,
   * LOAD_FAILED (`cause`: the binding's VerifierError, with its log, or BpfError); a failed
   * attach throws the binding's BpfError. Minimum kernel: 5.15, as the timer.
   *
   * @example
   * using timer = await SyncTimer.start(1_000_000);
   * using sub = timer.subscribe(BpfObject.open('my_subscriber.bpf.o'), { idVariable: 'my_sync_timer_id' });
   * await sleep(1000);
   * const ticks = sub.object.map('ticks').lookupPerCpu(0);
   */
  subscribe(open: OpenBpfObject, options: SubscribeOptions = {}): Subscriber {
    return subscribeObject(this.#host, open, options, (o) => checkOptionNames('SyncTimer.subscribe', o, SUBSCRIBE_OPTION_NAMES));
  }

  /** Subscribers joined with `subscribe()` and not closed yet. */
  get subscribers(): readonly Subscriber[] {
    return [...this.#subscribers];
  }

  /** Ids currently assigned. */
  get assignedIds(): number[] {
    return this.#ids.assigned;
  }

  /**
   * The bitmap map's fd, borrowed: valid until `close()`. Pass it to `reuseFd`, which
   * duplicates it, before loading a subscriber object.
   */
  borrowedMapFd(): number {
    return this.#bitmap().fd;
  }

  /**
   * A new fd of the bitmap map in a handle the caller owns: `close()` it (or `using` it);
   * its `fd` is borrowed, valid until then, also after the timer closes.
   */
  duplicateMapFd(): FdHandle {
    const fd = this.borrowedMapFd();
    try {
      return dupFd(fd);
    } catch (e) {
      throw new SyncTimerError('MAP_FD_DUP_FAILED', `cannot duplicate the bitmap map fd: ${(e as Error).message}`, { cause: e, errno: (e as BpfError).errno });
    }
  }

  /** Per-CPU counters of the armed CPUs: ticks, missed grid points, re-arm failures, migrations, clock steps. */
  stats(): CpuTimerStats[] {
    this.#live();
    return this.#stats(this.cpus);
  }

  #stats(cpus: readonly number[]): CpuTimerStats[] {
    return this.#threads ? this.#threads.stats(cpus) : readStats(this.#live().map(STATES_MAP), cpus);
  }

  #rearm(cpus: number[], log: (level: 'info' | 'warn' | 'debug', message: string) => void): Promise<CpuArmResult[]> {
    if (this.#threads) return Promise.resolve(this.#threads.start(cpus));
    const program = this.#live().program(INIT_PROGRAM);
    return modeWrapper(log)(this.#mode, () => runInit(program, cpus, this.#mode, this.#clock));
  }

  /** True when the timer keeps the lateness histogram (option `latenessHistogram`, default true). */
  get hasLatenessHistogram(): boolean {
    return this.#lateness;
  }

  /**
   * Per armed CPU, how late its ticks fired against their grid points since it was armed
   * (re-arming a CPU does not reset it), from the histogram the timer callback keeps in
   * the kernel: power-of-two buckets from 1 µs to 4.3 s. One map read. Throws
   * INVALID_OPTION when started with `latenessHistogram: false`, CLOSED after `close()`.
   *
   * @example
   * const [cpu0] = timer.latenessHistogram();
   * const meanUs = Number(cpu0.sumNs) / Number(cpu0.count) / 1000;
   */
  latenessHistogram(): CpuLatenessHistogram[] {
    const object = this.#live();
    if (!this.#lateness) throw new SyncTimerError('INVALID_OPTION', 'this SyncTimer was started with latenessHistogram: false');
    this.#decodeLateness ??= latenessDecoder(TIMER_OBJECT_PATH);
    return readLateness(object.map(LATENESS_MAP), this.cpus, this.#decodeLateness);
  }

  /**
   * Stops every tick, releases the timer, then closes the subscribers still open (read
   * their maps before). Idempotent; no tick arrives after it returns.
   */
  close(): void {
    const subscribers = [...this.#subscribers];
    try {
      this.#stopTicks();
    } finally {
      closeSubscribers(subscribers);
    }
  }

  /**
   * As `close()`, with the subscribers' links detached on the libuv pool, all at once,
   * instead of one RCU wait after another on the JS thread. The ticks stop before it
   * returns its promise; the subscribers are closed (ids given back) when it resolves.
   *
   * @example
   * await using timer = await SyncTimer.start(1_000_000);
   */
  async closeAsync(): Promise<void> {
    const subscribers = [...this.#subscribers];
    try {
      this.#stopTicks();
    } finally {
      await Promise.all(subscribers.map((s) => (s.open ? s.object.closeAsync().catch(() => undefined) : undefined)));
      closeSubscribers(subscribers);
    }
  }

  // The ticks stop first: detaching each subscriber waits for an RCU grace period, and
  // the last ticks must reach all of them alike.
  #stopTicks(): void {
    const o = this.#object;
    this.#object = undefined;
    clearInterval(this.#watchTimer);
    if (o && this.#threads) {
      this.#threads.stop(); // joined: no tick is published after this
      clearBitmap(o.map(BITMAP_MAP));
    }
    o?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAsync();
  }

  #bitmap(): BpfMap {
    return this.#live().map(BITMAP_MAP);
  }

  #live(): BpfObject {
    if (!this.#object) throw new SyncTimerError('CLOSED', 'this SyncTimer is closed; start a new one');
    return this.#object;
  }
}

function closeSubscribers(subscribers: Subscriber[]): void {
  for (const s of subscribers) {
    try {
      s.close();
    } catch {
      // best effort: one failing subscriber must not keep the others open
    }
  }
}

/** Clears every CPU's bitmap entry: a tick published but not taken is not taken after close. */
function clearBitmap(bitmap: BpfMap): void {
  try {
    bitmap.updatePerCpu(0, Array.from({ length: numPossibleCpus() }, () => Buffer.alloc(bitmap.valueSize)));
  } catch {
    // best effort: the object is closed next
  }
}

/**
 * Why thread mode serves a start whose bpf_timer object failed to load with `e`; throws when
 * it may not: the mode was forced, or the failure is not one thread mode avoids.
 */
function threadFallback(e: unknown, requested: string, clock: TimerClock): string {
  const noTai = clock === 'realtime' ? taiRefusal(e) : undefined;
  if (noTai !== undefined) {
    if (requested === 'auto') return `the kernel has no bpf_ktime_get_tai_ns (Linux 6.1), which a realtime bpf_timer grid needs (${noTai})`;
    throw new SyncTimerError('CLOCK_UNSUPPORTED', `clock 'realtime' in ${requested} mode needs bpf_ktime_get_tai_ns (Linux 6.1), which this kernel's verifier refuses (${noTai}): use mode 'thread' or 'auto'`, { cause: e });
  }
  const refused = timerRefusal(e);
  if (requested !== 'auto' || refused === undefined) throw e;
  return `the verifier refused bpf_timer (${refused})`;
}

/** The verifier's words when it refused the bpf_timer program, else undefined. */
function timerRefusal(e: unknown): string | undefined {
  const cause = e instanceof SyncTimerError ? (e as Error & { cause?: unknown }).cause : e;
  if (!(cause instanceof VerifierError)) return undefined;
  const line = cause.log.split('\n').find((l) => /bpf_timer/.test(l) && /cannot|not supported|unknown func|invalid/i.test(l));
  return line?.trim();
}

/**
 * The verifier's words when it refused bpf_ktime_get_tai_ns, else undefined: kernels before
 * 6.1 do not know helper 208 by name ("invalid func unknown#208").
 */
function taiRefusal(e: unknown): string | undefined {
  const cause = e instanceof SyncTimerError ? (e as Error & { cause?: unknown }).cause : e;
  if (!(cause instanceof VerifierError)) return undefined;
  return cause.log.split('\n').find((l) => /ktime_get_tai|func \w+#208\b/.test(l))?.trim();
}

/** Opens and loads the shipped timer object for `interval` (thread mode: without the bpf_timer program). */
function loadTimerObject(interval: bigint, lateness: boolean, threadMode: boolean, clock: TimerClock): BpfObject {
  let open;
  try {
    // The package's own object, built and checked with it (its structure check passes in
    // the unit lane): the check's first-open cost is left out of every start.
    open = BpfObject.open(TIMER_OBJECT_PATH, { checkStructure: false });
  } catch (e) {
    throw new SyncTimerError('OPEN_FAILED', `cannot open ${TIMER_OBJECT_PATH}: ${(e as Error).message}`, { cause: e, errno: (e as BpfError).errno });
  }
  try {
    const rodata = open.rodata;
    rodata.set('sync_timer_interval_ns', interval);
    rodata.set('sync_timer_lateness_enabled', lateness ? 1 : 0);
    // thread mode reads the wall clock in user space: its object needs no TAI helper
    rodata.set('sync_timer_realtime_enabled', clock === 'realtime' && !threadMode ? 1 : 0);
    open.map(STATES_MAP).setMaxEntries(threadMode ? 1 : numPossibleCpus());
    if (threadMode) {
      open.program(INIT_PROGRAM).setAutoload(false);
      open.program(TAI_PROGRAM).setAutoload(false);
    }
    return open.load();
  } catch (e) {
    open.close();
    const privileges = privilegeProblem((e as BpfError).errno, e instanceof VerifierError);
    throw new SyncTimerError('LOAD_FAILED', privileges ?? `loading the timer failed: ${(e as Error).message}`, { cause: e, errno: (e as BpfError).errno });
  }
}

/** Options of `initSyncTimerProgram`; any other name is refused with INVALID_OPTION. */
export interface InitProgramOptions extends ArmOptions {
  /** The object's `sync_timer_states_<name>` map, to read `stats()`. */
  statesMap?: BpfMap;
}

const INIT_PROGRAM_OPTION_NAMES = optionNames<InitProgramOptions>()(...ARM_OPTION_NAMES, 'statesMap');

/** A timer a `DEFINE_SYNC_TIMER` put in the user's own object, once armed. */
export interface ProgramTimer {
  mode: TimerMode;
  modeReason: string;
  /** The grid's clock (option `clock`). */
  clock: TimerClock;
  cpus: readonly number[];
  skippedCpus: readonly SkippedCpu[];
  /** Per-CPU counters (needs `statesMap`). */
  stats(): CpuTimerStats[];
}

/**
 * Arms the timer that `DEFINE_SYNC_TIMER(name, ...)` generated in your own loaded object:
 * pass its `sync_timer_init_<name>` program. Same CPU selection, mode probe and fallback as
 * `SyncTimer.start`. The timers live as long as your object; close it to stop them.
 */
export async function initSyncTimerProgram(program: BpfProgram, options: InitProgramOptions = {}): Promise<ProgramTimer> {
  if (!program || typeof (program as BpfProgram).testRun !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', 'program must be a loaded BpfProgram (the sync_timer_init_<name> program)');
  }
  checkOptionNames('initSyncTimerProgram', options, INIT_PROGRAM_OPTION_NAMES);
  checkKernel();
  const armed = await armProgram(program, options);
  codeCacheCheckpoint();
  const states = options.statesMap;
  return {
    ...armed,
    stats: () => {
      if (!states) throw new SyncTimerError('INVALID_OPTION', "pass options.statesMap (obj.map('sync_timer_states_<name>')) to read stats");
      return readStats(states, armed.cpus);
    },
  };
}
