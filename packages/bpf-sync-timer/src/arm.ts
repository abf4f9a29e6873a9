// Arming the per-CPU timers of a DEFINE_SYNC_TIMER init program: CPU selection, stale
// sysctl recovery, the mode fallback, and timer_migration handling.
import { allowedCpus, checkOptions, onlineCpus, optionNames, possibleCpus, runOnCpus, type BpfProgram } from '@bpf-sync-timer/libbpf';
import { selectCpus, type SkippedCpu } from './cpus';
import { SyncTimerError } from './errors';
import { armTimers, clockRefusal, CLOCKS, decodeInitRun, encodeInitArgs, MODES, modeSupportsClock, needsTimerMigrationOff, type CpuArmResult, type ModeOption, type ModeWrapper, type TimerClock, type TimerMode } from './modes';
import { checkTimerMigrationAccess, recoverStaleTimerMigration, safeLog, withTimerMigrationDisabled, type Log } from './sysctl';

/** Options shared by `SyncTimer.start` and `initSyncTimerProgram`. */
export interface ArmOptions {
  /** 'auto' (default): the best mode the kernel accepts; or force one. */
  mode?: ModeOption;
  /** CPUs to arm (default: the online CPUs in this process's affinity). */
  cpus?: number[];
  /** Receives the timer's decisions (default: warnings to stderr). */
  logger?: Log;
  /**
   * The grid's clock: 'monotonic' (default) or 'realtime', ticks at multiples of the interval
   * on CLOCK_REALTIME, so that the tick index (wall-clock ns / interval) is the same on every
   * host with a synchronised clock. Modes: modern (Linux 6.7), intermediate (6.4) and thread;
   * legacy mode refuses it (CLOCK_UNSUPPORTED), 'auto' skips legacy for it. A clock step
   * re-aligns the grid within one interval, counted in `stats()[i].clockSteps`.
   *
   * @example
   * using timer = await SyncTimer.start(1_000_000, { clock: 'realtime' });
   * // tick k on every host fires at k * 1 ms of UTC
   */
  clock?: TimerClock;
}

/** The names of `ArmOptions`, in the order messages list them. */
export const ARM_OPTION_NAMES = optionNames<ArmOptions>()('mode', 'cpus', 'logger', 'clock');

/**
 * Rejects an options object that is not a plain object or has a name not in `known`
 * (INVALID_OPTION, naming the nearest known one), before anything is loaded.
 */
export function checkOptionNames(what: string, options: unknown, known: readonly string[]): void {
  checkOptions(what, options, known, (message) => new SyncTimerError('INVALID_OPTION', message));
}

/** What arming produced. */
export interface Armed {
  mode: TimerMode;
  modeReason: string;
  cpus: number[];
  skippedCpus: SkippedCpu[];
  clock: TimerClock;
}

/** The default logger: warnings to stderr, the rest only with NODE_DEBUG=sync-timer. */
export const defaultLog: Log = (level, message) => {
  if (level === 'warn') process.stderr.write(`sync-timer: ${message}\n`);
  else if (/\bsync-timer\b/.test(process.env.NODE_DEBUG ?? '')) process.stderr.write(`sync-timer ${level}: ${message}\n`);
};

/** Validates the shared options; INVALID_OPTION names the bad one. */
export function checkArmOptions(options: ArmOptions): Required<Pick<ArmOptions, 'mode' | 'logger' | 'clock'>> & Pick<ArmOptions, 'cpus'> {
  if (options === null || typeof options !== 'object') throw new SyncTimerError('INVALID_OPTION', 'options must be an object');
  const mode = options.mode ?? 'auto';
  if (mode !== 'auto' && !MODES.includes(mode as TimerMode)) {
    throw new SyncTimerError('INVALID_OPTION', `options.mode must be 'auto', 'modern', 'intermediate', 'legacy' or 'thread', got ${JSON.stringify(mode)}`);
  }
  if (options.cpus !== undefined) {
    if (!Array.isArray(options.cpus) || options.cpus.length === 0 || !options.cpus.every((c) => Number.isInteger(c) && c >= 0)) {
      throw new SyncTimerError('INVALID_OPTION', `options.cpus must be a non-empty array of CPU numbers, got ${JSON.stringify(options.cpus)}`);
    }
  }
  if (options.logger !== undefined && typeof options.logger !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', 'options.logger must be a function (level, message) => void');
  }
  // A logger that throws must not break arming, nor hide the error being reported.
  const clock = options.clock === undefined ? 'monotonic' : options.clock;
  if (!CLOCKS.includes(clock)) {
    throw new SyncTimerError('INVALID_OPTION', `options.clock must be 'monotonic' or 'realtime', got ${JSON.stringify(options.clock)}`);
  }
  if (mode !== 'auto' && !modeSupportsClock(mode as TimerMode, clock)) throw clockRefusal(mode as TimerMode);
  return { mode, logger: safeLog(options.logger ?? defaultLog), cpus: options.cpus, clock };
}

/** Chooses the CPUs; NO_CPUS when none is left. */
export function chooseCpus(requested: number[] | undefined): { cpus: number[]; skipped: SkippedCpu[] } {
  const possible = possibleCpus();
  const allowed = allowedCpus();
  // The affinity (sched_getaffinity) lists active CPUs only, so an allowed CPU is online:
  // the online list, a sysfs read, is needed only to tell why a wanted CPU is not allowed.
  const isAllowed = new Set(allowed);
  const needOnline = (requested ?? possible).some((cpu) => !isAllowed.has(cpu) && possible.includes(cpu));
  const chosen = selectCpus({ possible, online: needOnline ? onlineCpus() : allowed, allowed }, requested);
  if (chosen.cpus.length === 0) {
    const why = chosen.skipped.map((s) => `${s.cpu}: ${s.reason}`).join(', ');
    throw new SyncTimerError('NO_CPUS', `no CPU can be armed (${why || 'none requested'})`);
  }
  return chosen;
}

/**
 * Runs the init program once per CPU, each from a thread pinned to that CPU: one call, with
 * each CPU's own context, so that one native worker starts every pinned thread at once.
 */
export async function runInit(program: BpfProgram, cpus: number[], mode: TimerMode, clock: TimerClock = 'monotonic'): Promise<CpuArmResult[]> {
  const contexts = cpus.map((cpu) => encodeInitArgs(cpu, mode, clock));
  const results = await runOnCpus(program, cpus, contexts);
  return results.map((r) => decodeInitRun(r, mode));
}

/** Disables timer_migration around arming in the modes that need it. */
export function modeWrapper(log: Log): ModeWrapper {
  return async <T>(mode: TimerMode, fn: () => Promise<T>): Promise<T> => {
    if (!needsTimerMigrationOff(mode)) return fn();
    checkTimerMigrationAccess(mode);
    return withTimerMigrationDisabled(fn, log);
  };
}

/** A forced mode that changes kernel.timer_migration is checked before anything loads. */
export function checkModePrivileges(mode: ModeOption): void {
  if (mode !== 'auto' && needsTimerMigrationOff(mode)) checkTimerMigrationAccess(mode);
}

/** Arms `program` (a DEFINE_SYNC_TIMER init program) on the chosen CPUs. */
export async function armProgram(program: BpfProgram, options: ArmOptions): Promise<Armed> {
  const opts = checkArmOptions(options);
  const log = opts.logger;
  if (opts.mode === 'thread') {
    throw new SyncTimerError('INVALID_OPTION', "mode 'thread' runs the shipped timer from SyncTimer.start; a DEFINE_SYNC_TIMER program needs a bpf_timer mode");
  }
  checkModePrivileges(opts.mode);
  const { cpus, skipped } = chooseCpus(opts.cpus);
  for (const s of skipped) log('info', `CPU ${s.cpu} skipped: ${s.reason}`);
  recoverStaleTimerMigration(log);

  const clock = opts.clock;
  const outcome = await armTimers((list, mode) => runInit(program, list, mode, clock), cpus, opts.mode, modeWrapper(log), (m) => log('info', m), clock);
  // (opts.mode is narrowed to the bpf_timer modes above)
  log('info', `armed CPUs ${cpus.join(',')} on CLOCK_${clock.toUpperCase()} in ${outcome.reason}`);
  return { mode: outcome.mode, modeReason: outcome.reason, cpus, skippedCpus: skipped, clock };
}
