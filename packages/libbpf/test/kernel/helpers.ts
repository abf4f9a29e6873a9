// Shared helpers of the kernel tests: the root check, fixture paths, fd counting, and
// waiting for the event loop to deliver buffered records.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allowedCpus, onlineCpus, setLogger, type Logger } from '../../src/index';

/**
 * Kernel tests need root (real BPF). Without it they must fail, never skip: call this at
 * the top of every kernel test file.
 */
export function requireRoot(): void {
  assert.equal(process.getuid?.(), 0,
    'the libbpf kernel tests load real BPF programs and must run as root (e.g. sudo node scripts/run-tests.mjs kernel); ' +
    'they fail rather than skip so that missing privileges never pass as green');
}

/** Path of a compiled fixture object (test/fixtures/obj/<name>.bpf.o, built by scripts/build.sh). */
export function fixture(name: string): string {
  const p = path.resolve(__dirname, '../../../test/fixtures/obj', `${name}.bpf.o`);
  assert.ok(fs.existsSync(p), `fixture ${p} is missing: run bash scripts/build.sh`);
  return p;
}

/** Number of open file descriptors of this process. */
export function countFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Whether `fd` is open in this process. */
export function fdIsOpen(fd: number): boolean {
  return fs.existsSync(`/proc/self/fd/${fd}`);
}

/**
 * Lets the event loop run until `done()` holds. `timeoutMs` only guards against a hang
 * (a failure, with `describe()` saying how far it got); it is not a speed assertion.
 */
export async function waitFor(done: () => boolean, describe: () => string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  for (let spins = 0; !done(); spins++) {
    if (Date.now() - start > timeoutMs) assert.fail(`gave up waiting after ${timeoutMs} ms: ${describe()}`);
    // A few loop turns at full speed, then 1 ms sleeps so as not to hog a CPU.
    await new Promise<void>((r) => (spins < 200 ? setImmediate(r) : setTimeout(r, 1)));
  }
}

/** Runs `f` with libbpf's messages captured (and kept off stderr); returns them with f's result. */
export function captureLog<T>(f: () => T): { result: T; messages: string[] } {
  const messages: string[] = [];
  const capture: Logger = (_level, message) => void messages.push(message);
  const previous = setLogger(capture);
  try {
    return { result: f(), messages };
  } finally {
    setLogger(previous);
  }
}

/** The `struct args { __u64 in; __u64 value; }` context of basic.bpf.c's syscall programs. */
export function args(input: bigint, value = 0n): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(input, 0);
  b.writeBigUInt64LE(value, 8);
  return b;
}

/** Reads `struct args` back: [in, value]. */
export function readArgs(b: Buffer | null): [bigint, bigint] {
  assert.ok(b, 'expected a context back');
  return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
}

/** A u64 buffer. */
export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** CPUs a thread of this process can be pinned to: online and in its affinity (cpuset). */
export function pinnableCpus(): number[] {
  const allowed = new Set(allowedCpus());
  const cpus = onlineCpus().filter((c) => allowed.has(c));
  assert.ok(cpus.length > 0, 'no online CPU in this process\'s affinity');
  return cpus;
}
