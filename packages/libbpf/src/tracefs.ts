// tracefs must be mounted for tracepoint attachment; mount it when it is missing.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Where tracefs is normally mounted. */
export const TRACEFS = '/sys/kernel/tracing';

/** True when tracefs (or debugfs's tracing directory) is usable. */
export function tracefsMounted(): boolean {
  return fs.existsSync(`${TRACEFS}/events`) || fs.existsSync('/sys/kernel/debug/tracing/events');
}

/**
 * Mounts tracefs at /sys/kernel/tracing when no tracing directory is usable.
 * Returns true when it is usable afterwards; never throws (the attach call that needs
 * it reports ENOENT with a hint instead).
 */
export function ensureTracefs(): boolean {
  if (tracefsMounted()) return true;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
  } catch {
    return false;
  }
  return tracefsMounted();
}
