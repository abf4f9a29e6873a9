// Shared helpers of the sync timer's kernel tests: root check, seed-style consumers,
// counter windows and fd counting.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfObject } from '@bpf-sync-timer/libbpf';
import type { SyncTimer } from '../../src/index';

/** Kernel tests need real BPF: they fail (never skip) without root. */
export function requireRoot(): void {
  assert.equal(process.getuid?.(), 0, 'kernel tests load BPF programs and need root (or CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN): run `sudo npm test`');
}

/** A compiled fixture of this package. */
export function fixture(name: string): string {
  return path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'obj', `${name}.bpf.o`);
}

/** Open fds of this process. */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Per-CPU counters of a seed-style consumer (seed_consumer_*.bpf.c). */
export interface ConsumerCounters {
  hits: bigint[];
  migrations: bigint[];
  indexGaps: bigint[];
  badNominal: bigint[];
}

/** A loaded, attached seed-style consumer. */
export interface Consumer {
  object: BpfObject;
  id: number;
  read(): ConsumerCounters;
  /** Just the per-CPU hits (one syscall). */
  hits(): bigint[];
  close(): void;
}

/** Seed 000: map declared in the consumer, `const volatile` id before load, reuseFd(borrowedMapFd()). */
export function rodataConsumer(timer: SyncTimer, id = timer.assignId()): Consumer {
  const open = BpfObject.open(fixture('seed_consumer_rodata'));
  open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
  open.rodata.set('my_sync_timer_id', BigInt(id));
  const object = open.load();
  object.attachAll();
  return consumer(object, id);
}

/** Seed 001: duplicateMapFd() reused before load, the id written to .bss after load. */
export function bssConsumer(timer: SyncTimer, id = timer.assignId()): Consumer {
  const dup = timer.duplicateMapFd();
  const open = BpfObject.open(fixture('seed_consumer_bss'));
  try {
    open.map('sync_timer_bitmap').reuseFd(dup.fd);
  } finally {
    dup.close();
  }
  const object = open.load();
  object.bss.set('my_sync_timer_id', BigInt(id));
  object.attachAll();
  return consumer(object, id);
}

function consumer(object: BpfObject, id: number): Consumer {
  const maps = new Map(['hits', 'migrations', 'index_gaps', 'bad_nominal'].map((n) => [n, object.map(n)]));
  const perCpu = (name: string) => maps.get(name)!.lookupPerCpu(0)!.map((b) => b.readBigUInt64LE(0));
  return {
    object,
    id,
    hits: () => perCpu('hits'),
    read: () => ({ hits: perCpu('hits'), migrations: perCpu('migrations'), indexGaps: perCpu('index_gaps'), badNominal: perCpu('bad_nominal') }),
    close: () => object.close(),
  };
}

/** Counters over a measured window: the deltas and the window's length in ns. */
export async function window<T>(read: () => T, ms: number): Promise<{ before: T; after: T; elapsedNs: bigint }> {
  const before = read();
  const t0 = process.hrtime.bigint();
  await sleep(ms);
  const after = read();
  return { before, after, elapsedNs: process.hrtime.bigint() - t0 };
}

/** Asserts |actual - expected| <= tolerance * expected, with a message that shows the numbers. */
export function assertWithin(actual: bigint | number, expected: number, tolerance: number, what: string): void {
  const a = Number(actual);
  const dev = Math.abs(a - expected) / expected;
  assert.ok(dev <= tolerance, `${what}: ${a} vs expected ${expected.toFixed(1)} (deviation ${(dev * 100).toFixed(2)}% > ${(tolerance * 100).toFixed(1)}%)`);
}
