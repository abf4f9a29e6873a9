// `struct collector_record` (bpf/collector.bpf.c) decoded, and written as one NDJSON line.

/** Size of `struct collector_record` in bytes. */
export const RECORD_SIZE = 80;

const KIND_TICK = 0;
const KIND_MIGRATION = 1;

interface RecordBase {
  /** CPU the subscriber ran on. */
  cpu: number;
  /** nominal_ns / interval: the same number on every CPU for one grid point. */
  tick: bigint;
  /** The grid point (CLOCK_MONOTONIC ns). */
  nominalNs: bigint;
  /** When the timer callback ran (CLOCK_MONOTONIC ns). */
  firedNs: bigint;
  /** Grid points this CPU's timer skipped so far (cumulative). */
  missed: bigint;
  /** Process id (tgid) of the task the tick interrupted; 0 is the idle task. */
  pid: number;
  /** Thread id of that task. */
  tid: number;
  /** That thread's name. */
  comm: string;
}

/** A tick seen on the CPU it was armed for. */
export interface TickRecord extends RecordBase {
  type: 'tick';
  /** Context switches on this CPU since its previous tick record. */
  ctxSwitches: bigint;
}

/** A tick that fired on another CPU than the one it was armed for. */
export interface MigrationRecord extends RecordBase {
  type: 'migration';
  expectedCpu: number;
}

export type CollectorRecord = TickRecord | MigrationRecord;

/** Decodes one ring buffer record. */
export function decodeRecord(b: Buffer): CollectorRecord {
  if (b.length < RECORD_SIZE) throw new RangeError(`collector record: expected ${RECORD_SIZE} bytes, got ${b.length}`);
  const kind = b.readUInt32LE(0);
  const comm = b.subarray(64, 80);
  const nul = comm.indexOf(0);
  const base: RecordBase = {
    cpu: b.readUInt32LE(4),
    pid: b.readUInt32LE(12),
    tid: b.readUInt32LE(16),
    tick: b.readBigUInt64LE(24),
    nominalNs: b.readBigUInt64LE(32),
    firedNs: b.readBigUInt64LE(40),
    missed: b.readBigUInt64LE(48),
    comm: comm.toString('utf8', 0, nul < 0 ? comm.length : nul),
  };
  if (kind === KIND_TICK) return { type: 'tick', ...base, ctxSwitches: b.readBigUInt64LE(56) };
  if (kind === KIND_MIGRATION) return { type: 'migration', ...base, expectedCpu: b.readUInt32LE(8) };
  throw new RangeError(`collector record: unknown kind ${kind}`);
}

/**
 * One NDJSON line (without the newline). 64-bit values are written as exact JSON
 * numbers (JSON has no size limit; JSON.parse in JS rounds past 2^53, jq and Python do not).
 */
export function toNdjson(r: CollectorRecord): string {
  const head = `{"type":"${r.type}","tick":${r.tick},"nominal_ns":${r.nominalNs},"cpu":${r.cpu}`;
  const task = `"pid":${r.pid},"tid":${r.tid},"comm":${JSON.stringify(r.comm)}`;
  const tail = `"lateness_ns":${r.firedNs - r.nominalNs},"missed":${r.missed}}`;
  const middle = r.type === 'tick' ? `"ctx_switches":${r.ctxSwitches}` : `"expected_cpu":${r.expectedCpu}`;
  return `${head},${middle},${task},${tail}`;
}
