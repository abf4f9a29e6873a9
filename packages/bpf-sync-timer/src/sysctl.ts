// kernel.timer_migration: set to 0 while arming in intermediate/legacy mode (timers that
// are not CPU-pinned could otherwise be queued on another CPU), restored afterwards, on
// SIGINT/SIGTERM during start, and by the next start if this process died meanwhile.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SyncTimerError } from './errors';

/** The sysctl file. */
export const TIMER_MIGRATION_PATH = '/proc/sys/kernel/timer_migration';

/** Where the original value is kept while changed (override with BPF_SYNC_TIMER_STATE_DIR). */
export function stateDir(): string {
  return process.env.BPF_SYNC_TIMER_STATE_DIR ?? '/run/bpf-sync-timer';
}

/** Logger shape used by the sync timer. */
export type Log = (level: 'debug' | 'info' | 'warn', message: string) => void;

/** Paths, injectable for tests. */
export interface SysctlPaths {
  sysctl: string;
  stateDir: string;
}

function defaultPaths(): SysctlPaths {
  return { sysctl: TIMER_MIGRATION_PATH, stateDir: stateDir() };
}

/** Reads kernel.timer_migration, or undefined when this kernel has no such sysctl. */
export function readTimerMigration(paths: SysctlPaths = defaultPaths()): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(paths.sysctl, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SyncTimerError('SYSCTL_READ_FAILED', `cannot read ${paths.sysctl}: ${(e as Error).message}`, { cause: e });
  }
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 0) {
    throw new SyncTimerError('SYSCTL_PARSE_FAILED', `cannot parse ${paths.sysctl}: ${JSON.stringify(text.trim())}`);
  }
  return value;
}

/** Writes kernel.timer_migration. */
export function writeTimerMigration(value: number, paths: SysctlPaths = defaultPaths()): void {
  try {
    fs.writeFileSync(paths.sysctl, `${value}\n`);
  } catch (e) {
    throw new SyncTimerError('SYSCTL_WRITE_FAILED', `cannot write ${value} to ${paths.sysctl}: ${(e as Error).message} (needs root)`, { cause: e });
  }
}

function stateFile(paths: SysctlPaths, pid: number): string {
  return path.join(paths.stateDir, `timer_migration.${pid}.json`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Restores values left changed by processes that died during start. Returns the number
 * of state files recovered.
 */
export function recoverStaleTimerMigration(log: Log, paths: SysctlPaths = defaultPaths()): number {
  let names: string[];
  // Usually there is no state directory at all: no thrown ENOENT on every start.
  if (!fs.existsSync(paths.stateDir)) return 0;
  try {
    names = fs.readdirSync(paths.stateDir);
  } catch {
    return 0;
  }
  let recovered = 0;
  for (const name of names) {
    const m = /^timer_migration\.(\d+)\.json$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const file = path.join(paths.stateDir, name);
    try {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { value: number };
      writeTimerMigration(saved.value, paths);
      log('warn', `restored kernel.timer_migration to ${saved.value}: process ${pid} changed it and died before restoring it`);
      recovered++;
    } catch (e) {
      log('warn', `cannot recover ${file}: ${(e as Error).message}`);
    }
    fs.rmSync(file, { force: true });
  }
  return recovered;
}

/**
 * Runs `fn` with kernel.timer_migration = 0 when it is not 0 already, and restores the
 * original value afterwards: in a finally, on SIGINT/SIGTERM (then the signal is
 * re-raised), and, if the process dies anyway, at the next start (state file).
 */
export async function withTimerMigrationDisabled<T>(fn: () => Promise<T>, log: Log, paths: SysctlPaths = defaultPaths()): Promise<T> {
  const original = readTimerMigration(paths);
  if (original === undefined) {
    log('debug', `${paths.sysctl} does not exist on this kernel: nothing to disable`);
    return fn();
  }
  if (original === 0) {
    log('debug', 'kernel.timer_migration is already 0');
    return fn();
  }
  const file = stateFile(paths, process.pid);
  fs.mkdirSync(paths.stateDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ value: original, pid: process.pid, since: new Date().toISOString() }));
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    try {
      writeTimerMigration(original, paths);
      fs.rmSync(file, { force: true });
      log('debug', `restored kernel.timer_migration to ${original}`);
    } catch (e) {
      log('warn', `could not restore kernel.timer_migration to ${original}: ${(e as Error).message}; the next start will retry (${file})`);
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    restore();
    removeHandlers();
    process.kill(process.pid, signal);
  };
  const removeHandlers = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    writeTimerMigration(0, paths);
    log('info', `kernel.timer_migration set to 0 (was ${original}) while arming`);
    return await fn();
  } finally {
    restore();
    removeHandlers();
  }
}
