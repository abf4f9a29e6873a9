// The timer's user-space ABI, from the BTF of its own objects: the codecs and enums below
// come from the skeletons scripts/gen-skel.mjs generates at build time (bpf-skel on
// sync_timer.bpf.o and tick_probe.bpf.o), so a change to a struct or enum in the C reaches
// the TypeScript at the next build, and a change the TypeScript does not follow fails tsc
// or test/unit/abi.test.ts. Nothing here writes an offset by hand.
import { SyncTimerErrorCode } from './errors';
import {
  sync_timer_bitmap_entry,
  sync_timer_clock,
  sync_timer_init_args,
  sync_timer_init_error,
  sync_timer_mode,
  sync_timer_state,
  sync_timer_tai_update,
} from './abi/sync_timer.skel';
import { tick_record } from './abi/tick_probe.skel';

export { sync_timer_bitmap_entry, sync_timer_clock, sync_timer_init_args, sync_timer_init_error, sync_timer_mode, sync_timer_state, sync_timer_tai_update, tick_record };

/** Prefix of the C enumerators that name a SyncTimerError code. */
const ERROR_PREFIX = 'SYNC_TIMER_';

/**
 * The SyncTimerError code of an `enum sync_timer_init_error` value: the enumerator's name
 * without `SYNC_TIMER_` (`SYNC_TIMER_WRONG_CPU` is `WRONG_CPU`); undefined for
 * SYNC_TIMER_SUCCESS; UNKNOWN_BPF_ERROR for a value the enum does not name.
 */
export function initErrorCode(value: number): SyncTimerErrorCode | undefined {
  if (value === sync_timer_init_error.SYNC_TIMER_SUCCESS) return undefined;
  const name = sync_timer_init_error[value] as string | undefined;
  const code = name?.startsWith(ERROR_PREFIX) ? name.slice(ERROR_PREFIX.length) : undefined;
  return code !== undefined && Object.hasOwn(SyncTimerErrorCode, code) ? (code as SyncTimerErrorCode) : 'UNKNOWN_BPF_ERROR';
}

/** The C enumerators of `enum sync_timer_init_error` other than SUCCESS (for the ABI test). */
export function initErrorNames(): string[] {
  // the enum object also carries the codec's members (size, decode...) and reverse mappings
  return Object.keys(sync_timer_init_error).filter((k) => k.startsWith(ERROR_PREFIX) && k !== 'SYNC_TIMER_SUCCESS');
}

/**
 * The `enum sync_timer_mode` value of a timer mode: `SYNC_TIMER_MODE_<MODE>`. Throws when the
 * object's enum has no such enumerator (the C and the TypeScript modes disagree).
 */
export function modeValue(mode: string): number {
  const name = `SYNC_TIMER_MODE_${mode.toUpperCase()}`;
  const value = (sync_timer_mode as unknown as Record<string, unknown>)[name];
  if (typeof value !== 'number') throw new Error(`sync_timer.bpf.o's enum sync_timer_mode has no ${name}: the object and this package disagree (rebuild)`);
  return value;
}

/**
 * The `enum sync_timer_clock` value of a grid clock: `SYNC_TIMER_CLOCK_<CLOCK>`. Throws when
 * the object's enum has no such enumerator (the C and the TypeScript clocks disagree).
 */
export function clockValue(clock: string): number {
  const name = `SYNC_TIMER_CLOCK_${clock.toUpperCase()}`;
  const value = (sync_timer_clock as unknown as Record<string, unknown>)[name];
  if (typeof value !== 'number') throw new Error(`sync_timer.bpf.o's enum sync_timer_clock has no ${name}: the object and this package disagree (rebuild)`);
  return value;
}
