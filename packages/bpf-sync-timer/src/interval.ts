// The interval: an integer number of nanoseconds within [MIN_INTERVAL_NS, MAX_INTERVAL_NS].
import { SyncTimerError } from './errors';

/** Shortest interval: 1 µs (hrtimer and callback costs make shorter ones meaningless). */
export const MIN_INTERVAL_NS = 1_000n;
/** Longest interval: 1 hour. */
export const MAX_INTERVAL_NS = 3_600_000_000_000n;

/** Checks an interval and returns it as a bigint; throws INTERVAL_* codes. */
export function checkInterval(value: unknown): bigint {
  let ns: bigint;
  if (typeof value === 'bigint') {
    ns = value;
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value)) {
      throw new SyncTimerError('INTERVAL_INVALID', `intervalNs must be an integer number of nanoseconds, got ${value}`);
    }
    if (!Number.isSafeInteger(value) && value > 0) {
      throw new SyncTimerError('INTERVAL_TOO_LARGE', `intervalNs ${value} is past the largest exact number; the maximum is ${MAX_INTERVAL_NS} ns (1 h)`);
    }
    ns = BigInt(value);
  } else {
    const shown = value === null ? 'null' : typeof value === 'string' ? `the string ${JSON.stringify(value)}` : typeof value;
    throw new SyncTimerError('INTERVAL_INVALID', `intervalNs must be a number or bigint of nanoseconds, got ${shown}`);
  }
  if (ns < MIN_INTERVAL_NS) {
    throw new SyncTimerError('INTERVAL_TOO_SMALL', `intervalNs ${ns} is below the minimum of ${MIN_INTERVAL_NS} ns (1 µs)`);
  }
  if (ns > MAX_INTERVAL_NS) {
    throw new SyncTimerError('INTERVAL_TOO_LARGE', `intervalNs ${ns} is above the maximum of ${MAX_INTERVAL_NS} ns (1 h)`);
  }
  return ns;
}
