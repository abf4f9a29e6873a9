// `sync-timer doctor`: can this machine run the timer, and in which mode?
import * as fs from 'node:fs';
import * as os from 'node:os';
import { allowedCpus, formatCpuList, libbpfVersion, onlineCpus, possibleCpus, tracefsMounted } from '@bpf-sync-timer/libbpf';
import { SyncTimer } from '../index';
import { isPreemptRt, parseKernelRelease } from '../kernel';
import { readTimerMigration } from '../sysctl';

/** One line of the doctor's report. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** The static checks (no BPF loaded). */
export function staticChecks(): Check[] {
  const release = os.release();
  const { major, minor } = parseKernelRelease(release);
  const caps = effectiveCaps();
  const has = (c: bigint) => (caps & (1n << c)) !== 0n;
  const privileged = has(CAP_BPF) && has(CAP_PERFMON) && has(CAP_SYS_ADMIN);
  const migration = readTimerMigration();
  return [
    major > 5 || (major === 5 && minor >= 15)
      ? { name: 'kernel', ok: true, detail: `${release} (bpf_timer needs 5.15; modern mode 6.7)` }
      : { name: 'kernel', ok: false, detail: `${release} predates bpf_timer`, fix: 'boot Linux 5.15 or newer' },
    fs.existsSync('/sys/kernel/btf/vmlinux')
      ? { name: 'BTF', ok: true, detail: '/sys/kernel/btf/vmlinux present' }
      : { name: 'BTF', ok: false, detail: 'no /sys/kernel/btf/vmlinux', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' },
    privileged
      ? { name: 'privileges', ok: true, detail: `uid ${process.getuid?.()}, CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN effective` }
      : { name: 'privileges', ok: false, detail: `uid ${process.getuid?.()} lacks CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN`, fix: 'run as root (sudo)' },
    tracefsMounted()
      ? { name: 'tracefs', ok: true, detail: 'mounted (tracepoint attach works)' }
      : { name: 'tracefs', ok: true, detail: 'not mounted; the library mounts it on first tracepoint attach (as root)', fix: 'or: mount -t tracefs nodev /sys/kernel/tracing' },
    isPreemptRt()
      ? { name: 'PREEMPT_RT', ok: true, detail: 'a PREEMPT_RT kernel: the verifier refuses bpf_timer, so the timer runs in thread mode (a real-time thread per CPU)' }
      : { name: 'PREEMPT_RT', ok: true, detail: 'not a realtime kernel' },
    { name: 'timer_migration', ok: true, detail: migration === undefined ? 'no such sysctl' : `kernel.timer_migration = ${migration} (set to 0 only while arming in intermediate/legacy mode, then restored)` },
    { name: 'libbpf', ok: true, detail: libbpfVersion },
    { name: 'CPUs', ok: true, detail: `possible ${formatCpuList(possibleCpus())}, online ${formatCpuList(onlineCpus())}, allowed ${formatCpuList(allowedCpus())}` },
  ];
}

/** Starts a timer for a moment to learn the mode the kernel gives (needs the checks above). */
export async function modeCheck(): Promise<Check> {
  try {
    const t = await SyncTimer.start(1_000_000, { logger: () => {} });
    const detail = `${t.mode} on CPUs ${formatCpuList([...t.cpus])}: ${t.modeReason}`;
    t.close();
    return { name: 'timer mode', ok: true, detail };
  } catch (e) {
    return { name: 'timer mode', ok: false, detail: `cannot start a timer: ${(e as Error).message}`, fix: 'fix the problems above first' };
  }
}

/** All checks; the mode probe runs only when nothing blocks it. */
export async function doctor(): Promise<Check[]> {
  const checks = staticChecks();
  const blocked = checks.some((c) => !c.ok && ['kernel', 'privileges', 'PREEMPT_RT'].includes(c.name));
  checks.push(blocked ? { name: 'timer mode', ok: false, detail: 'not probed', fix: 'fix the problems above first' } : await modeCheck());
  return checks;
}

/** Renders checks as aligned lines. */
export function renderChecks(checks: Check[]): string {
  return checks.map((c) => `${c.ok ? 'OK     ' : 'PROBLEM'}  ${c.name.padEnd(16)} ${c.detail}${c.fix && !c.ok ? `\n         ${''.padEnd(16)} fix: ${c.fix}` : ''}`).join('\n') + '\n';
}
