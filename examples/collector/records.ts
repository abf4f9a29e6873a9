// `struct collector_record` (bpf/collector.bpf.c) decoded by the codec bpf-skel generates
// from collector.bpf.o's BTF (collector.skel.ts, scripts/gen-skel.mjs), and written as one
// NDJSON line.
import { collector_record, record_kind } from './collector.skel';

/** Size of `struct collector_record` in bytes. */
export const RECORD_SIZE: number = collector_record.size;

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
export function decodeRecord(b: Uint8Array): CollectorRecord {
  if (b.length < RECORD_SIZE) throw new RangeError(`collector record: expected ${RECORD_SIZE} bytes, got ${b.length}`);
  const r = collector_record.decode(b);
  const base: RecordBase = {
    cpu: r.cpu,
    pid: r.pid,
    tid: r.tid,
    tick: r.tick_index,
    nominalNs: r.nominal_ns,
    firedNs: r.fired_ns,
    missed: r.missed,
    comm: r.comm,
  };
  if (r.kind === record_kind.RECORD_TICK) return { type: 'tick', ...base, ctxSwitches: r.ctx_switches };
  if (r.kind === record_kind.RECORD_MIGRATION) return { type: 'migration', ...base, expectedCpu: r.expected_cpu };
  throw new RangeError(`collector record: unknown kind ${r.kind}`);
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
