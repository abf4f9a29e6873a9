// Kernel facts the timer depends on, checked before loading anything.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { SyncTimerError } from './errors';

/** `major.minor` of a kernel release string such as `6.1.0-18-amd64`. */
export function parseKernelRelease(release: string): { major: number; minor: number } {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : { major: 0, minor: 0 };
}

/** True on PREEMPT_RT kernels (whose verifier refuses bpf_timer); without arguments, this one. */
export function isPreemptRt(realtimeFile?: string, version?: string): boolean {
  if (realtimeFile === undefined && version === undefined) return running.preemptRt;
  return readPreemptRt(realtimeFile ?? REALTIME_FILE, version ?? os.version());
}

const REALTIME_FILE = '/sys/kernel/realtime';

function readPreemptRt(realtimeFile: string, version: string): boolean {
  // 7.x RT kernels have no /sys/kernel/realtime: their `uname -v` still says PREEMPT_RT.
  // (existsSync first: most kernels have no such file, and a thrown ENOENT costs start-up.)
  try {
    if (fs.existsSync(realtimeFile) && fs.readFileSync(realtimeFile, 'utf8').trim() === '1') return true;
  } catch {
    // unreadable: decided by the version string below
  }
  return /\bPREEMPT_RT\b/.test(version);
}

/**
 * Throws UNSUPPORTED_KERNEL with the cause when the timer cannot work here (before 5.15);
 * without an argument, for the running kernel. PREEMPT_RT kernels work: their verifier
 * refuses bpf_timer, so they get thread mode.
 */
export function checkKernel(release?: string): void {
  if (release === undefined && running.supported) return;
  const r = release ?? running.release;
  if (!hasBpfTimer(r)) {
    throw new SyncTimerError('UNSUPPORTED_KERNEL', `kernel ${r} is older than 5.15, the first with bpf_timer: boot Linux 5.15 or newer`);
  }
}

function hasBpfTimer(release: string): boolean {
  const { major, minor } = parseKernelRelease(release);
  return major > 5 || (major === 5 && minor >= 15);
}

// The running kernel's release and build do not change under a process: read once, when
// the package loads, instead of on every start (the first start paid ~0.1 ms for them).
const runningRelease = os.release();
const running = { release: runningRelease, supported: hasBpfTimer(runningRelease), preemptRt: readPreemptRt(REALTIME_FILE, os.version()) };

// ---- privileges ------------------------------------------------------------------------

/** Capability numbers (linux/capability.h) the timer needs. */
export const Capability = { SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

/** Who this process is, as far as the timer cares: effective uid and capabilities. */
export interface Privileges {
  uid: number;
  /** The CapEff bit set of /proc/self/status. */
  effective: bigint;
}

/** The privileges of this process, from /proc/self/status (`status` injectable for tests). */
export function currentPrivileges(status?: string): Privileges {
  const text = status ?? fs.readFileSync('/proc/self/status', 'utf8');
  const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  const uid = /^Uid:\s*\d+\s+(\d+)/m.exec(text); // real, effective, saved, fs
  return { uid: uid ? Number(uid[1]) : (process.geteuid?.() ?? -1), effective: caps ? BigInt(`0x${caps[1]}`) : 0n };
}

function has(p: Privileges, cap: number): boolean {
  return (p.effective & (1n << BigInt(cap))) !== 0n;
}

/**
 * The capability missing to load and arm the timer, or undefined when there is enough:
 * CAP_BPF (5.8+; its programs are syscall and timer programs, which need no CAP_PERFMON),
 * for which CAP_SYS_ADMIN stands in (alone before 5.8).
 */
export function missingTimerCapability(p: Privileges, release = os.release()): string | undefined {
  if (has(p, Capability.SYS_ADMIN)) return undefined;
  const { major, minor } = parseKernelRelease(release);
  if (major < 5 || (major === 5 && minor < 8)) return 'CAP_SYS_ADMIN';
  return has(p, Capability.BPF) ? undefined : 'CAP_BPF';
}

/**
 * When a failed load is a matter of privileges (EPERM, or EACCES without a verifier log,
 * with the capability missing), the one sentence that says so, naming it; else undefined.
 */
export function privilegeProblem(errno: number | undefined, hasVerifierLog: boolean, p: Privileges = currentPrivileges(),
  release = os.release()): string | undefined {
  if (errno !== os.constants.errno.EPERM && !(errno === os.constants.errno.EACCES && !hasVerifierLog)) return undefined;
  const missing = missingTimerCapability(p, release);
  if (missing === undefined) return undefined;
  const needs = missing === 'CAP_SYS_ADMIN' ? 'CAP_SYS_ADMIN (this kernel predates CAP_BPF)' : 'CAP_BPF (or CAP_SYS_ADMIN)';
  return `loading the timer needs ${needs}, which this process (uid ${p.uid}) lacks: run it as root (sudo) or grant it ` +
    '(e.g. setcap cap_bpf,cap_perfmon+ep on the node binary; subscribers on tracepoints need CAP_PERFMON as well)';
}
