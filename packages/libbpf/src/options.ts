// Options objects reject names they do not know (design item 10): a typo such as `mdoe`
// must fail loudly, naming the option meant, instead of quietly taking the default.
// Each options interface lists its names once, with optionNames, which the compiler checks
// against the interface both ways, so the list and the interface cannot drift apart.
import { BpfArgumentError } from './errors';

type Missing<T, N extends readonly unknown[]> = Exclude<keyof T, N[number]>;

/**
 * Lists the option names of the options interface `T`, checked by the compiler: a name `T`
 * does not have, or a name of `T` left out, is a type error (naming the missing one). The
 * list is what `checkOptions` takes as `known`. Pure TypeScript; needs no kernel.
 *
 * @example
 * interface WatchOptions { intervalMs?: number; signal?: AbortSignal }
 * const WATCH_OPTIONS = optionNames<WatchOptions>()('intervalMs', 'signal');
 * function watch(options: WatchOptions = {}) {
 *   checkOptions('watch', options, WATCH_OPTIONS);
 * }
 */
export function optionNames<T extends object>() {
  return <const N extends readonly (keyof T & string)[]>(
    ...names: N & ([Missing<T, N>] extends [never] ? unknown : { missing: Missing<T, N> })
  ): N => names;
}

/**
 * Checks an options object before anything else happens: `options` must be undefined or a
 * plain object (`{...}` or `Object.create(null)`), and each of its own enumerable names
 * must be in `known`. Otherwise throws what `fail` makes of the message, by default a
 * `BpfArgumentError` for the argument `options`; the message names the nearest known name
 * when one is close (`did you mean 'mode'?`) and lists them all. Needs no kernel.
 *
 * @param what the function whose options these are, for the message (`SyncTimer.start`)
 *
 * @example
 * checkOptions('watch', { intervalMS: 10 }, ['intervalMs', 'signal']);
 * // BpfArgumentError: options: unknown option 'intervalMS' of watch
 * //   (did you mean 'intervalMs'? known: intervalMs, signal)
 * checkOptions('watch', opts, WATCH_OPTIONS, (message) => new MyError('BAD_OPTION', message));
 */
export function checkOptions(what: string, options: unknown, known: readonly string[],
  fail: (message: string) => Error = (message) => new BpfArgumentError('options', message)): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) throw fail(`${what} takes a plain object of options, got ${describe(options)}`);
  const unknown = Object.keys(options).find((name) => !known.includes(name));
  if (unknown !== undefined) throw fail(unknownOptionMessage(what, unknown, known));
}

function isPlainObject(v: unknown): v is object {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  // Object.prototype of any realm (vm contexts, workers' structured clones), or none.
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? `an instance of ${name}` : 'an object inheriting from another';
  }
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${String(v)}`;
}

function unknownOptionMessage(what: string, name: string, known: readonly string[]): string {
  if (known.length === 0) return `unknown option '${name}' of ${what} (it takes none)`;
  const near = nearest(name, known);
  const list = `known: ${known.join(', ')}`;
  return `unknown option '${name}' of ${what} (${near === undefined ? list : `did you mean '${near}'? ${list}`})`;
}

/** @internal the known name closest to `name`, when it is close enough to be the one meant. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  // Case and underscores are the usual slips (logLevel/loglevel, sample_period/samplePeriod).
  const typed = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(typed, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const close = bestDistance <= Math.max(2, Math.floor(name.length / 3)) && bestDistance < name.length;
  return close ? best : undefined;
}

/** @internal Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours counts 1. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
