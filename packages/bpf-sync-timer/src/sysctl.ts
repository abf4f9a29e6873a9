// kernel.timer_migration: set to 0 while arming in intermediate/legacy mode (timers that
// are not CPU-pinned could otherwise be queued on another CPU), restored afterwards, on
// SIGINT/SIGTERM and process.exit() during start, at the teardown of a Worker terminated
// meanwhile, and by the next start if this process died anyway.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
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

/**
 * Checks, before anything is loaded or changed, that this process can do what
 * withTimerMigrationDisabled will do: write kernel.timer_migration (root only: /proc/sys
 * checks the uid, not capabilities) and its state file. Nothing to check when the sysctl
 * is missing or 0 already. Throws PERMISSION_DENIED in one sentence naming what is missing.
 */
export function checkTimerMigrationAccess(mode: string, paths: SysctlPaths = defaultPaths()): void {
  const value = readTimerMigration(paths);
  if (value === undefined || value === 0) return;
  const problem = (what: string, e: unknown): SyncTimerError => new SyncTimerError('PERMISSION_DENIED',
    `mode '${mode}' sets kernel.timer_migration to 0 while arming, and this process (uid ${process.geteuid?.()}) cannot ${what}: ` +
    `${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; run it as root, or use mode 'modern' (Linux 6.7+) or 'thread'`,
    { cause: e, errno: (e as { errno?: number }).errno === undefined ? undefined : -(e as { errno: number }).errno });
  try {
    fs.closeSync(fs.openSync(paths.sysctl, 'r+')); // opened for writing, nothing written
  } catch (e) {
    throw problem(`write ${paths.sysctl}`, e);
  }
  try {
    fs.mkdirSync(paths.stateDir, { recursive: true });
    fs.accessSync(paths.stateDir, fs.constants.W_OK);
  } catch (e) {
    throw problem(`write its state directory ${paths.stateDir} (set another with BPF_SYNC_TIMER_STATE_DIR)`, e);
  }
}

// Workers of one process arm on their own: each has a file of its own.
function stateFile(paths: SysctlPaths, pid: number): string {
  const thread = threadId;
  return path.join(paths.stateDir, `timer_migration.${pid}${thread ? `.t${thread}` : ''}.json`);
}

const STATE_FILE = /^timer_migration\.(\d+)(?:\.t\d+)?\.json$/;
const TEMP_FILE = /^timer_migration\.(\d+)(?:\.t\d+)?\.json\.tmp$/;

/** What a state file holds; `restored` when the value was put back at teardown already. */
interface SavedState {
  value: number;
  pid: number;
  since: string;
  restored?: boolean;
}

/**
 * Writes the state file whole or not at all (temp file + rename): a signal or a crash
 * during the write must not leave an empty file for the next start to choke on.
 */
function writeStateFile(file: string, state: SavedState): void {
  const temp = `${file}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(state));
  fs.renameSync(temp, file);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A logger that cannot throw: a failing logger must not stop a restore or hide an error. */
export function safeLog(log: Log): Log {
  return (level, message) => {
    try {
      log(level, message);
    } catch {
      // the message is lost; what it reported goes on
    }
  };
}

/**
 * Restores values left changed by processes that died during start. Returns the number
 * of state files recovered.
 */
export function recoverStaleTimerMigration(log: Log, paths: SysctlPaths = defaultPaths()): number {
  const say = safeLog(log);
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
    const temp = TEMP_FILE.exec(name);
    if (temp && Number(temp[1]) !== process.pid && !alive(Number(temp[1]))) {
      fs.rmSync(path.join(paths.stateDir, name), { force: true }); // a write that never finished
      continue;
    }
    const m = STATE_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const file = path.join(paths.stateDir, name);
    const saved = readState(file);
    if (saved !== undefined && 'restored' in saved && saved.restored) {
      fs.rmSync(file, { force: true }); // put back at the teardown of its worker
      continue;
    }
    if (pid === process.pid || alive(pid)) continue;
    if (saved === undefined || 'error' in saved) {
      say('warn', `cannot recover ${file}: ${saved?.error ?? 'unreadable'}; removed it (kernel.timer_migration is left as it is)`);
    } else {
      try {
        writeTimerMigration(saved.value, paths);
        say('warn', `restored kernel.timer_migration to ${saved.value}: process ${pid} changed it and died before restoring it`);
        recovered++;
      } catch (e) {
        say('warn', `cannot recover ${file}: ${(e as Error).message}`);
      }
    }
    fs.rmSync(file, { force: true });
  }
  return recovered;
}

function readState(file: string): SavedState | { error: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const saved = JSON.parse(text) as SavedState;
    if (!Number.isInteger(saved.value) || saved.value < 0) return { error: `no valid value in ${JSON.stringify(text.slice(0, 80))}` };
    return saved;
  } catch {
    return { error: text.trim() === '' ? 'the file is empty' : `not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
}

/** Writes registered to run when this thread's environment ends (libbpf's writeAtExit). */
export type AtExit = (file: string, bytes: string) => { cancel(): void };

function libbpfAtExit(): AtExit {
  // Loaded on first use: the CLI's doctor reads the sysctl without the native addon.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('@bpf-sync-timer/libbpf') as typeof import('@bpf-sync-timer/libbpf')).writeAtExit;
}

// ---- the guard of changed values --------------------------------------------------------
// One set per thread of the values changed now, and one listener per signal for all of
// them. The signal listeners stay until a turn of the event loop after the last restore:
// a signal caught while the last arming finished is dispatched in that turn and must find
// a listener (one removed earlier closes the signal handle, and the signal is dropped).

interface Changed {
  restore(): void;
}

const changed = new Set<Changed>();
let listening = false;
let idleCheck: NodeJS.Immediate | undefined;

function restoreAll(): void {
  for (const c of [...changed]) c.restore();
}

function onSignal(signal: NodeJS.Signals): void {
  restoreAll();
  // Alone, this listener stands in for the default action: dying of the signal.
  if (process.listenerCount(signal) === 1) {
    stopListening();
    process.kill(process.pid, signal);
  }
}

function startListening(): void {
  if (idleCheck) clearImmediate(idleCheck);
  idleCheck = undefined;
  if (listening) return;
  listening = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', restoreAll);
}

function stopListening(): void {
  if (!listening) return;
  listening = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', restoreAll);
}

function stopListeningWhenIdle(): void {
  if (changed.size > 0 || idleCheck) return;
  idleCheck = setImmediate(() => {
    idleCheck = undefined;
    if (changed.size === 0) stopListening();
  });
}

/** True while SIGINT/SIGTERM listeners of the guard are installed (for tests). @internal */
export function guardListening(): boolean {
  return listening;
}

/**
 * Runs `fn` with kernel.timer_migration = 0 when it is not 0 already, and restores the
 * original value afterwards: in a finally, on SIGINT/SIGTERM (then the signal is
 * re-raised unless the process has listeners of its own), on `process.exit()`, at the
 * teardown of a Worker that is terminated meanwhile (a native write), and, if the process
 * dies anyway, at the next start (state file). A logger that throws changes none of it.
 */
export async function withTimerMigrationDisabled<T>(fn: () => Promise<T>, log: Log, paths: SysctlPaths = defaultPaths(),
  atExit: AtExit = libbpfAtExit()): Promise<T> {
  const say = safeLog(log);
  const original = readTimerMigration(paths);
  if (original === undefined) {
    say('debug', `${paths.sysctl} does not exist on this kernel: nothing to disable`);
    return fn();
  }
  if (original === 0) {
    say('debug', 'kernel.timer_migration is already 0');
    return fn();
  }
  const file = stateFile(paths, process.pid);
  const state: SavedState = { value: original, pid: process.pid, since: new Date().toISOString() };
  fs.mkdirSync(paths.stateDir, { recursive: true });
  writeStateFile(file, state);
  const teardown = [atExit(paths.sysctl, `${original}\n`), atExit(file, JSON.stringify({ ...state, restored: true }))];
  let restored = false;
  const entry: Changed = {
    restore: () => {
      if (restored) return;
      restored = true;
      changed.delete(entry);
      try {
        writeTimerMigration(original, paths);
        fs.rmSync(file, { force: true });
        for (const t of teardown) t.cancel();
        say('debug', `restored kernel.timer_migration to ${original}`);
      } catch (e) {
        say('warn', `could not restore kernel.timer_migration to ${original}: ${(e as Error).message}; the next start will retry (${file})`);
      }
    },
  };
  changed.add(entry);
  startListening();
  try {
    writeTimerMigration(0, paths);
    say('info', `kernel.timer_migration set to 0 (was ${original}) while arming`);
    return await fn();
  } finally {
    entry.restore();
    stopListeningWhenIdle();
  }
}
