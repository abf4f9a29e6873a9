// Kernel facts the timer depends on, checked before loading anything.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { SyncTimerError } from './errors';

/** `major.minor` of a kernel release string such as `6.1.0-18-amd64`. */
export function parseKernelRelease(release: string): { major: number; minor: number } {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : { major: 0, minor: 0 };
}

/** True on PREEMPT_RT kernels (whose verifier refuses bpf_timer). */
export function isPreemptRt(realtimeFile = '/sys/kernel/realtime', version = os.version()): boolean {
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
 * Throws UNSUPPORTED_KERNEL with the cause when the timer cannot work here (before 5.15).
 * PREEMPT_RT kernels work: their verifier refuses bpf_timer, so they get thread mode.
 */
export function checkKernel(release = os.release()): void {
  const { major, minor } = parseKernelRelease(release);
  if (major < 5 || (major === 5 && minor < 15)) {
    throw new SyncTimerError('UNSUPPORTED_KERNEL', `kernel ${release} is older than 5.15, the first with bpf_timer: boot Linux 5.15 or newer`);
  }
}
