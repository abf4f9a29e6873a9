// CPU sets: possible, online and allowed CPUs, and runs of a program pinned to CPUs.
import * as fs from 'node:fs';
import { BpfArgumentError } from './errors';
import { native } from './native';

/** Parses a kernel CPU list such as `0-3,5,7-8` into sorted CPU numbers. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  const trimmed = text.trim();
  if (trimmed === '') return out;
  for (const part of trimmed.split(',')) {
    // `N` or `N-M`, by hand: a regular expression costs its compiling (twice: V8 compiles
    // it to machine code on its second use) in every process's first start.
    const item = part.trim();
    const dash = item.indexOf('-');
    const first = dash < 0 ? item : item.slice(0, dash);
    const last = dash < 0 ? item : item.slice(dash + 1);
    if (!isDigits(first) || !isDigits(last)) throw new BpfArgumentError('cpu list', `cannot parse '${text}'`);
    const lo = Number(first);
    const hi = Number(last);
    if (hi < lo) throw new BpfArgumentError('cpu list', `descending range '${part}' in '${text}'`);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** True for a non-empty run of ASCII digits (what `\d+` matches). */
function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Formats CPU numbers as a kernel CPU list (`0-3,5`). */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

const CPU_DIR = '/sys/devices/system/cpu';

// The possible mask is fixed at boot; read once, as libbpf_num_possible_cpus does: when the
// package loads (a sysfs read costs ~0.05 ms, which a first start need not pay), or at first
// use when that read failed (its error is then thrown there, as before).
let possible: readonly number[] | undefined = readPossible();

function readPossible(): readonly number[] | undefined {
  try {
    return parseCpuList(fs.readFileSync(`${CPU_DIR}/possible`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPUs the kernel may ever bring online (per-CPU map values exist for each). */
export function possibleCpus(): number[] {
  return [...possibleList()];
}

function possibleList(): readonly number[] {
  return (possible ??= parseCpuList(fs.readFileSync(`${CPU_DIR}/possible`, 'utf8')));
}

/** CPUs online right now. */
export function onlineCpus(): number[] {
  return parseCpuList(fs.readFileSync(`${CPU_DIR}/online`, 'utf8'));
}

/** CPUs this process may run on (the affinity of its JS thread, cpusets included). */
export function allowedCpus(): number[] {
  return native().threadAffinity();
}

/** Number of possible CPUs: the count of values a per-CPU map lookup returns. */
export function numPossibleCpus(): number {
  const cpus = possibleList();
  return cpus.length === 0 ? 0 : cpus[cpus.length - 1] + 1;
}
