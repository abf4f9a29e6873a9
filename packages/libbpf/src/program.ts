// Programs: the autoload setter before load; test runs and attachment after load.
import { ProgramType, programTypeName } from './constants';
import type { ObjectCore } from './core';
import { BpfArgumentError, BpfError, hintFor } from './errors';
import { BpfLink } from './link';
import { routeLog } from './log';
import type { NativeLinkHandle, NativeProgramInfo } from './native';
import { checkOptions, optionNames } from './options';
import { possibleCpus } from './cpu';
import { ensureTracefs } from './tracefs';
import { PerfEvent } from './sys';

/** BPF_F_TEST_RUN_ON_CPU (kernel 5.10). */
const TEST_RUN_ON_CPU = 1;

abstract class ProgramBase {
  /** @internal */ protected readonly core: ObjectCore;
  /** @internal */ protected readonly index: number;
  /** @internal */ protected info: NativeProgramInfo;

  /** @internal */
  constructor(core: ObjectCore, index: number, info: NativeProgramInfo) {
    this.core = core;
    this.index = index;
    this.info = info;
  }

  /** The C function name. */
  get name(): string { return this.info.name; }
  /** The ELF section, e.g. `tracepoint/timer/hrtimer_expire_exit`. */
  get section(): string { return this.info.section; }
  /** `enum bpf_prog_type` number; see `ProgramType`. */
  get type(): number { return this.info.type; }
  /** `BPF_PROG_TYPE_...` name of the type. */
  get typeName(): string { return programTypeName(this.info.type); }
  /** Whether `load()` loads this program. */
  get autoload(): boolean { return this.info.autoload; }
}

/** A program of an object that is not loaded yet. */
export class OpenProgram extends ProgramBase {
  /** Chooses whether `load()` loads this program (default true). */
  setAutoload(autoload: boolean): void {
    if (typeof autoload !== 'boolean') throw new BpfArgumentError('autoload', 'expected a boolean');
    this.core.require('open', `program '${this.name}'`).progSetAutoload(this.index, autoload);
    this.info = this.core.handle.programs()[this.index];
  }
}

/** Input of `BpfProgram.testRun` (BPF_PROG_TEST_RUN); any other name is refused with a BpfArgumentError. */
export interface TestRunOptions {
  /** Context passed to the program (syscall programs: your argument struct; raw_tp: the u64 args). */
  ctxIn?: Buffer;
  /** Packet data for networking programs. */
  dataIn?: Buffer;
  /** Number of runs (networking programs; durationNs is then the mean). */
  repeat?: number;
  /** Bytes of context to copy back (not for syscall programs: their ctxIn comes back as ctxOut). Default 0. */
  ctxOutSize?: number;
  /** Bytes of data to copy back. Default: `dataIn.length + 256` when `dataIn` is given, else 0. */
  dataOutSize?: number;
  /** Run on this CPU (raw_tp programs only; kernel 5.10). */
  cpu?: number;
}

const TEST_RUN_OPTION_NAMES = optionNames<TestRunOptions>()('ctxIn', 'dataIn', 'repeat', 'ctxOutSize', 'dataOutSize', 'cpu');

/** Output of `BpfProgram.testRun`. */
export interface TestRunResult {
  /** The program's return value. */
  retval: number;
  /** Run time as measured by the kernel, in ns (0 for program types that do not time runs). */
  durationNs: number;
  /** The context after the run (syscall programs write results here), or null. */
  ctxOut: Buffer | null;
  /** The data after the run, or null. */
  dataOut: Buffer | null;
}

function optU32(what: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new BpfArgumentError(what, `expected an integer in 0..2^32-1, got ${String(v)}`);
  }
  return v;
}

function optBuffer(what: string, v: unknown): Buffer | null {
  if (v === undefined || v === null) return null;
  if (!Buffer.isBuffer(v)) throw new BpfArgumentError(what, 'expected a Buffer');
  return v;
}

/** A loaded program. */
export class BpfProgram extends ProgramBase {
  /** The program's fd, borrowed: valid while the object is open. */
  get fd(): number {
    return this.#h().progFd(this.index);
  }

  /** Attaches as the section name says (`SEC("tracepoint/...")`, `kprobe/...`, ...). */
  attach(): BpfLink {
    if (this.section.startsWith('tracepoint/') || this.section.startsWith('tp/')) ensureTracefs();
    return this.#link(`attach ${this.section}`, (h) => h.progAttach(this.index), this.section);
  }

  /** Attaches to tracepoint `category:name` (mounts tracefs when it is missing). */
  attachTracepoint(category: string, name: string): BpfLink {
    checkName('category', category);
    checkName('name', name);
    ensureTracefs();
    return this.#link(`attach tracepoint ${category}/${name}`,
      (h) => h.progAttachTracepoint(this.index, category, name), `tracepoint/${category}/${name}`);
  }

  /** Attaches to raw tracepoint `name` (e.g. `sched_switch`). */
  attachRawTracepoint(name: string): BpfLink {
    checkName('name', name);
    return this.#link(`attach raw tracepoint ${name}`, (h) => h.progAttachRawTracepoint(this.index, name), `raw_tp/${name}`);
  }

  /**
   * Attaches to a perf event from `perfEventOpen` (kernel 4.9). The link keeps its own
   * reference to the event: close the PerfEvent and the link in any order.
   */
  attachPerfEvent(event: PerfEvent): BpfLink {
    if (!(event instanceof PerfEvent)) throw new BpfArgumentError('event', `expected a PerfEvent from perfEventOpen, got ${describeValue(event)}`);
    const ev = event.nativeHandle();
    return this.#link(`attach perf event`, (h) => h.progAttachPerfEvent(this.index, ev), `perf_event/cpu${event.cpu}`);
  }

  /** Runs the program once in the kernel with BPF_PROG_TEST_RUN (kernel >= 4.12; syscall programs 5.14). */
  testRun(options: TestRunOptions = {}): TestRunResult {
    checkOptions('BpfProgram.testRun', options, TEST_RUN_OPTION_NAMES);
    const ctxIn = optBuffer('ctxIn', options.ctxIn);
    const dataIn = optBuffer('dataIn', options.dataIn);
    const repeat = optU32('repeat', options.repeat, 0);
    if (this.type === ProgramType.SYSCALL) return this.#syscallRun(ctxIn, dataIn, repeat, options);
    const ctxOutSize = optU32('ctxOutSize', options.ctxOutSize, 0);
    const dataOutSize = optU32('dataOutSize', options.dataOutSize, dataIn ? dataIn.length + 256 : 0);
    let flags = 0;
    let cpu = 0;
    if (options.cpu !== undefined) {
      cpu = optU32('cpu', options.cpu, 0);
      if (!possibleCpus().includes(cpu)) throw new BpfArgumentError('cpu', `CPU ${cpu} is not a possible CPU`);
      flags = TEST_RUN_ON_CPU;
    }
    return this.#h().progTestRun(this.index, ctxIn, dataIn, repeat, ctxOutSize, dataOutSize, flags, cpu);
  }

  // Syscall programs write results back into their input context (the kernel refuses a
  // separate ctx_out), so they run on a copy, which is returned as ctxOut.
  #syscallRun(ctxIn: Buffer | null, dataIn: Buffer | null, repeat: number, options: TestRunOptions): TestRunResult {
    if (dataIn || repeat || options.ctxOutSize || options.dataOutSize || options.cpu !== undefined) {
      throw new BpfArgumentError('options', 'syscall programs take only ctxIn (their context is copied back as ctxOut)');
    }
    const ctx = ctxIn ? Buffer.from(ctxIn) : null;
    const r = this.#h().progTestRun(this.index, ctx, null, 0, 0, 0, 0, 0);
    return { retval: r.retval, durationNs: r.durationNs, ctxOut: ctx, dataOut: null };
  }

  /** @internal registers something (a GridRunner) to close with the program's object. */
  adopt(child: { close(): void }): () => void {
    this.#h();
    this.core.children.add(child);
    return () => this.core.children.delete(child);
  }

  /** @internal the open native handle; for runOnCpus. */
  nativeCall<T>(f: (h: ReturnType<ObjectCore['require']>, index: number) => T): T {
    return f(this.#h(), this.index);
  }

  #link(op: string, attach: (h: ReturnType<ObjectCore['require']>) => NativeLinkHandle, target: string): BpfLink {
    const h = this.#h();
    let handle: NativeLinkHandle;
    try {
      handle = attach(h);
    } catch (e) {
      throw withTargetHint(e, op, target);
    } finally {
      routeLog();
    }
    const link = new BpfLink(handle, target, (l) => this.core.children.delete(l));
    this.core.children.add(link);
    return link;
  }

  #h() {
    return this.core.require('loaded', `program '${this.name}'`);
  }
}

// A generic attach (`bpf_program__attach`) fails with the errno alone; the target says
// what kind of attach it was, and so which hint applies (ENOENT on a tracepoint, ...).
function withTargetHint(e: unknown, op: string, target: string): unknown {
  if (!(e instanceof BpfError) || e.hint !== undefined) return e;
  const hint = hintFor(`${e.op} ${target}`, e.errno);
  if (!hint) return e;
  return new BpfError(e.op, e.errno, `${op} failed`, { cause: e, hint });
}

function describeValue(v: unknown): string {
  if (typeof v === 'number') return `the number ${v} (fd numbers are not accepted: pass the PerfEvent itself)`;
  if (v === null || typeof v !== 'object') return String(v);
  return `an instance of ${(v as object).constructor?.name ?? 'Object'}`;
}

function checkName(what: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || /[/\0]/.test(v)) {
    throw new BpfArgumentError(what, `expected a non-empty name without '/', got ${JSON.stringify(v)}`);
  }
}

/** Result of one CPU's run in `runOnCpus`. */
export interface CpuRunResult {
  /** The CPU asked for. */
  cpu: number;
  /** The program's return value (0 when the run failed). */
  retval: number;
  /** 0 on success; else a positive errno: EINVAL/ESRCH for a CPU the thread cannot be pinned to, EAGAIN when it ran elsewhere. */
  errno: number;
  /** The context after the run (syscall programs), or null when it failed. */
  ctxOut: Buffer | null;
  /** The CPU the worker thread was on when it ran (-1 when pinning failed). */
  ranOn: number;
}

/** Options of `runOnCpus`; any other name is refused with a BpfArgumentError. */
export interface RunOnCpusOptions {
  /** Bytes of context to copy back (not for syscall programs: their ctxIn comes back as ctxOut). Default 0. */
  ctxOutSize?: number;
}

const RUN_ON_CPUS_OPTION_NAMES = optionNames<RunOnCpusOptions>()('ctxOutSize');

/**
 * Runs `program` once on each CPU in `cpus`, each time from a native thread pinned to that
 * CPU (checked with sched_getcpu before the run). The JS thread's affinity never changes.
 * `ctxIn` is the context of every run, or an array of one per CPU, in the order of `cpus`.
 * Per-CPU failures are reported in the results, not thrown. Kernel >= 5.14 for syscall programs.
 *
 * @example
 * const runs = await runOnCpus(prog, [0, 1], [ctxFor(0), ctxFor(1)]);
 */
export async function runOnCpus(program: BpfProgram, cpus: readonly number[], ctxIn?: Buffer | readonly Buffer[], options: RunOnCpusOptions = {}): Promise<CpuRunResult[]> {
  if (!(program instanceof BpfProgram)) throw new BpfArgumentError('program', 'expected a loaded BpfProgram');
  if (!Array.isArray(cpus) || cpus.length === 0) throw new BpfArgumentError('cpus', 'expected a non-empty array of CPU numbers');
  const possible = new Set(possibleCpus());
  for (const c of cpus) {
    if (!Number.isInteger(c) || !possible.has(c)) throw new BpfArgumentError('cpus', `${String(c)} is not a possible CPU (possible: ${[...possible].join(',')})`);
  }
  if (new Set(cpus).size !== cpus.length) throw new BpfArgumentError('cpus', 'lists a CPU twice');
  const ctx = Array.isArray(ctxIn) ? perCpuBuffers(ctxIn, cpus.length) : optBuffer('ctxIn', ctxIn);
  checkOptions('runOnCpus', options, RUN_ON_CPUS_OPTION_NAMES);
  const ctxOutSize = optU32('ctxOutSize', options.ctxOutSize, 0);
  if (program.type === ProgramType.SYSCALL && ctxOutSize) throw new BpfArgumentError('ctxOutSize', 'syscall programs return their context in place; leave ctxOutSize out');
  const runs = await program.nativeCall((h, i) => h.progRunOnCpus(i, [...cpus], ctx, ctxOutSize));
  routeLog();
  return runs.map((r) => ({ cpu: r.cpu, retval: r.retval, errno: r.errno, ctxOut: ctx ? r.ctxOut : null, ranOn: r.ranOn }));
}

function perCpuBuffers(list: readonly unknown[], cpus: number): Buffer[] {
  if (list.length !== cpus) throw new BpfArgumentError('ctxIn', `expected one Buffer per CPU (${cpus}), got ${list.length}`);
  if (!list.every((b) => Buffer.isBuffer(b))) throw new BpfArgumentError('ctxIn', 'expected a Buffer or an array of Buffers');
  return [...list] as Buffer[];
}

/** Raises a BpfError for the first failed run, for callers that want all-or-nothing. */
export function checkCpuRuns(results: CpuRunResult[]): CpuRunResult[] {
  const bad = results.find((r) => r.errno !== 0);
  if (bad) throw new BpfError(`run on CPU ${bad.cpu}`, bad.errno);
  return results;
}
