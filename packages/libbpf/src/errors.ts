// Error classes of the binding. Native code throws BpfError through the factory that
// index.ts registers, so every failure a user sees is one of these types.
import { constants as osConstants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, n]) => [n as number, name]),
);
// Linux has two names for these numbers; use the ones the kernel and libbpf print.
errnoNames.set(osConstants.errno.EAGAIN, 'EAGAIN');
errnoNames.set(osConstants.errno.EOPNOTSUPP, 'EOPNOTSUPP');

// libbpf's own error codes (libbpf.h, enum libbpf_errno), returned where no errno fits.
const LIBBPF_ERRNOS = ['LIBELF', 'FORMAT', 'KVERSION', 'ENDIAN', 'INTERNAL', 'RELOC', 'LOAD',
  'VERIFY', 'PROG2BIG', 'KVER', 'PROGTYPE', 'WRNGPID', 'INVSEQ', 'NLPARSE'];
const LIBBPF_ERRNO_START = 4000;
// What each of them means, for the message (strerror says only "Unknown error 4001").
const LIBBPF_ERRNO_TEXT = ['libelf could not read the ELF file', 'the ELF object is not a valid BPF object',
  'the object\'s kernel version section is missing or invalid', 'the object\'s byte order does not match this machine',
  'internal libbpf error', 'a relocation in the object is invalid', 'the kernel refused to load a program',
  'the verifier rejected a program', 'a program is too big for the kernel', 'the kernel version does not match',
  'the kernel does not support a program type', 'a netlink reply came from the wrong pid',
  'a netlink reply is out of sequence', 'a netlink reply could not be parsed'];

/** What a libbpf error code (4000..4013) means, or undefined for other numbers. */
export function libbpfErrnoText(errno: number): string | undefined {
  return LIBBPF_ERRNO_TEXT[errno - LIBBPF_ERRNO_START];
}

/**
 * The message of an error the addon raised (`op: strerror`), with strerror's "Unknown
 * error N" for libbpf's own codes replaced by what the code means.
 * @internal
 */
export function nativeErrorMessage(errno: number, message: string): string {
  const text = libbpfErrnoText(errno);
  return text ? message.replace(`Unknown error ${errno}`, text) : message;
}

/** Symbolic name of a positive errno (`EPERM`, `LIBBPF_ERRNO__FORMAT`, ...), or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  const libbpf = LIBBPF_ERRNOS[errno - LIBBPF_ERRNO_START];
  if (libbpf) return `LIBBPF_ERRNO__${libbpf}`;
  if (errno === 524) return 'ENOTSUPP'; // kernel-internal, yet BPF paths return it
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * A hint for the common causes of an errno in a given operation, or undefined.
 * Kept pure so that the mapping is unit-tested without a kernel.
 */
export function hintFor(op: string, errno: number): string | undefined {
  const code = errnoName(errno);
  if (code === 'EPERM' || (code === 'EACCES' && !op.includes('load'))) {
    return 'BPF needs root, or CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8); run with sudo or grant the capabilities.';
  }
  if (code === 'ENOENT' && op.includes('tracepoint')) {
    return 'tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing) or there is no such event: see /sys/kernel/tracing/events/.';
  }
  if (code === 'ENOENT' && op.includes('kprobe')) {
    return 'no such kernel function, or it is not traceable: see /sys/kernel/tracing/available_filter_functions.';
  }
  if (code === 'E2BIG' && op.includes('update')) {
    return 'the map is full (hash maps: raise max_entries before load) or the key is past max_entries (array maps).';
  }
  if (code === 'E2BIG' && op.includes('attach')) {
    return 'a tracepoint or perf event takes at most 64 BPF programs, and that many are attached already (see `bpftool perf`); tp_btf/ and raw_tp/ attachments have no such limit.';
  }
  if (code === 'E2BIG') {
    return 'a size is larger than the kernel accepts (map value, key, program or context); check the sizes against the kernel limits.';
  }
  if (code === 'LIBBPF_ERRNO__FORMAT' || code === 'LIBBPF_ERRNO__LIBELF') {
    return 'this is not a BPF ELF object: build it with clang -target bpf (and -g for BTF).';
  }
  if (code === 'EINVAL' && op.includes('map')) {
    return 'the key or value size does not match the map, or the flags are not valid for this map type.';
  }
  if (code === 'ENOSPC') return 'the map is full (raise max_entries before load).';
  if (code === 'EBADF') return 'the object, map or program was already closed.';
  if (code === 'EEXIST' && op.includes('update')) return 'the key exists and NOEXIST was given.';
  return undefined;
}

/** A failed libbpf call or syscall: `op` names it, `errno`/`code` say why. */
export class BpfError extends Error {
  /** The operation that failed, e.g. `bpf_map_update_elem`. */
  readonly op: string;
  /** The positive errno. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `EPERM`. */
  readonly code: string;
  /** What usually causes this, and what to do, when known. */
  readonly hint: string | undefined;

  /**
   * `options.hint` replaces the hint `hintFor(op, errno)` would give (null: no hint), for
   * errors whose cause the caller knows better than the errno does.
   */
  constructor(op: string, errno: number, message?: string, options?: { cause?: unknown; hint?: string | null }) {
    const hint = options?.hint === undefined ? hintFor(op, errno) : options.hint ?? undefined;
    const base = nativeErrorMessage(errno, message ?? `${op} failed: ${libbpfErrnoText(errno) ?? errnoName(errno)}`);
    super(hint ? `${base} (${errnoName(errno)}). Hint: ${hint}` : `${base} (${errnoName(errno)})`,
      options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BpfError';
    this.op = op;
    this.errno = errno;
    this.code = errnoName(errno);
    this.hint = hint;
  }
}

/**
 * Any use of an object, map, program, link or buffer after it was closed, and any use of
 * an OpenBpfObject (or its maps, programs and globals) after its `load()`.
 */
export class ClosedError extends BpfError {
  /** `what` names the thing used; `reason` and `hint` replace the closed-case wording. */
  constructor(what: string, reason = 'is closed and can no longer be used', hint?: string) {
    super(`use of ${what}`, osConstants.errno.EBADF, `${what} ${reason}`, hint === undefined ? undefined : { hint });
    this.name = 'ClosedError';
  }
}

/** A bad argument, caught before any call into the kernel. */
export class BpfArgumentError extends TypeError {
  readonly code = 'ERR_BPF_INVALID_ARG';
  /** The argument that was wrong. */
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'BpfArgumentError';
    this.argument = argument;
  }
}

/** The verifier rejected a program; `log` is the complete verifier log. */
export class VerifierError extends BpfError {
  /** The program that was rejected. */
  readonly program: string;
  /** The whole verifier log. */
  readonly log: string;
  /** The line of the log that says why. */
  readonly summary: string;

  constructor(program: string, errno: number, log: string) {
    const summary = summarizeVerifierLog(log);
    super('bpf_prog_load', errno, `the verifier rejected program '${program}': ${summary}`);
    this.name = 'VerifierError';
    this.program = program;
    this.log = log;
    this.summary = summary;
  }
}

/** A kernel feature the object needs is missing; `minKernel` is where it appeared. */
export class UnsupportedFeatureError extends BpfError {
  readonly feature: string;
  readonly minKernel: string;
  constructor(feature: string, minKernel: string, options?: { cause?: unknown }) {
    super('feature probe', osConstants.errno.EOPNOTSUPP,
      `${feature} is not supported by this kernel (${/^\d/.test(minKernel) ? `needs Linux ${minKernel} or newer` : `needs ${minKernel}`})`,
      { ...options, hint: null });
    this.name = 'UnsupportedFeatureError';
    this.feature = feature;
    this.minKernel = minKernel;
  }
}

const NOISE = /^(processed \d+ insns|verification time|stack depth|mark_precise|func#|\s*$)/;

/** The most telling line of a verifier log: the last one that is not statistics. */
export function summarizeVerifierLog(log: string): string {
  const lines = log.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!NOISE.test(lines[i]) && !/^\d+: \(/.test(lines[i]) && !/^;/.test(lines[i])) return lines[i];
  }
  return 'no reason in the log';
}

/** Extracts per-program verifier logs from libbpf's messages of a failed load. */
export function extractVerifierLogs(messages: string[]): Array<{ program: string; log: string }> {
  const out: Array<{ program: string; log: string }> = [];
  const re = /prog '([^']+)': -- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/g;
  for (const m of messages.join('').matchAll(re)) out.push({ program: m[1], log: m[2] });
  return out;
}

// ---- BTF reading (src/btf) -------------------------------------------------------------

/**
 * An ELF object or BTF blob that cannot be read: not a little-endian ELF64 file, no `.BTF`
 * section, or BTF that is truncated or inconsistent. `offset` is the byte offset in the
 * input where the problem is, when one place is to blame. Raised by pure TypeScript (no
 * kernel, no libbpf), so it is the same on any machine.
 */
export class BtfParseError extends BpfError {
  /** Byte offset into the input (the ELF file, or the raw BTF blob) of the bad data. */
  readonly offset: number | undefined;
  constructor(message: string, options?: { offset?: number; hint?: string; cause?: unknown }) {
    super('btf parse', osConstants.errno.EINVAL, options?.offset === undefined ? message : `${message} (at byte ${options.offset})`,
      { hint: options?.hint ?? null, ...(options?.cause === undefined ? {} : { cause: options.cause }) });
    this.name = 'BtfParseError';
    this.offset = options?.offset;
  }
}

/**
 * A batch map operation (`updateBatch`, `lookupBatch`, ...) that failed part way: `processed`
 * entries were done before the one that failed. Linux 5.6.
 *
 * @example
 * try { map.updateBatch(keys, values); }
 * catch (e) { if (e instanceof BatchError) console.log(`${e.processed} written before ${e.code}`); } // E2BIG: full
 */
export class BatchError extends BpfError {
  /** Entries processed before the failure. */
  readonly processed: number;
  constructor(op: string, errno: number, processed: number, message?: string, hint?: string) {
    super(op, errno, message, hint === undefined ? undefined : { hint });
    this.name = 'BatchError';
    this.processed = processed;
  }
}
