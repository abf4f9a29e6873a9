// The rows `sync-timer collect` writes: one per CPU per tick, decoded from collect.bpf.c's
// struct collect_sample (its codec from the object's BTF). Pure: the writer worker and the
// unit tests use it; the README's schema table is checked against COLUMNS.
import { collect_hw_counter, collect_sample } from '../abi/collect.skel';

/** Size of one raw sample as the ring buffer delivers it. */
export const SAMPLE_SIZE: number = collect_sample.size;

/** Byte offset of a sample's field, found through the codec (not written by hand). */
function offsetOf(set: (probe: ReturnType<typeof collect_sample.decode>) => void): number {
  const probe = collect_sample.decode(new Uint8Array(collect_sample.size));
  set(probe);
  return collect_sample.encode(probe).indexOf(0xff);
}

/** Byte offset of a sample's `cpu`. */
export const SAMPLE_CPU_OFFSET: number = offsetOf((p) => (p.cpu = 0xffff_ffff));

/** Byte offset of a sample's `tick_index` (a u64). */
export const SAMPLE_TICK_OFFSET: number = offsetOf((p) => (p.tick_index = 0xffff_ffff_ffff_ffffn));

/** The BPF side's "not measured" (all ones): such a column is null in the output. */
const NONE64 = 0xffff_ffff_ffff_ffffn;
const NONE32 = 0xffff_ffff;

/** A column's type in the output (Parquet physical type; NDJSON writes numbers and strings). */
export type ColumnType = 'INT64' | 'INT32' | 'STRING';

/** One output column. */
export interface Column {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** What it holds (the README's schema table). */
  doc: string;
}

/** Version of the row layout, written into every file's metadata. */
export const SCHEMA_VERSION = 1;

/** The columns in file order. */
export const COLUMNS: readonly Column[] = [
  { name: 'tick_index', type: 'INT64', nullable: false, doc: 'nominal_ns / interval: the same number on every CPU for one grid point (and on every host with --clock realtime)' },
  { name: 'cpu', type: 'INT32', nullable: false, doc: 'CPU the sample was taken on' },
  { name: 'expected_cpu', type: 'INT32', nullable: false, doc: 'CPU the tick was armed for (differs from cpu only for a migrated timer, never in modern mode)' },
  { name: 'host', type: 'STRING', nullable: false, doc: 'os.hostname() of the collecting host' },
  { name: 'nominal_ns', type: 'INT64', nullable: false, doc: "the grid point, ns on the timer's clock: CLOCK_MONOTONIC (the file metadata's monotonic_to_unix_ns turns it into Unix time), or Unix time with --clock realtime" },
  { name: 'lateness_ns', type: 'INT64', nullable: false, doc: 'when the timer callback ran, minus nominal_ns' },
  { name: 'missed', type: 'INT64', nullable: false, doc: "grid points this CPU's timer skipped so far (cumulative)" },
  { name: 'unseen', type: 'INT64', nullable: false, doc: "ticks the timer fired on this CPU that reached no row (cumulative); a step of tick_index between two rows of a CPU is 1 + the growth of missed + unseen" },
  { name: 'ctx_switches', type: 'INT64', nullable: true, doc: "context switches on this CPU since its previous tick (sched_switch); null on a CPU's first row and on a migrated tick" },
  { name: 'oncpu_ns', type: 'INT64', nullable: true, doc: 'how long the running task has been on the CPU since it was switched in; null until a switch was seen on the CPU' },
  { name: 'task_runtime_ns', type: 'INT64', nullable: false, doc: "the running task's total run time, se.sum_exec_runtime (lags by up to a scheduler tick)" },
  { name: 'pid', type: 'INT32', nullable: false, doc: 'tgid of the running task (0: the idle task)' },
  { name: 'tid', type: 'INT32', nullable: false, doc: 'thread id of the running task' },
  { name: 'comm', type: 'STRING', nullable: false, doc: "the running task's comm (swapper/N: idle)" },
  { name: 'nr_running', type: 'INT32', nullable: true, doc: "rq->nr_running of this CPU: runnable tasks, the running one included; null without CONFIG_FAIR_GROUP_SCHED" },
  { name: 'cycles', type: 'INT64', nullable: true, doc: 'CPU cycles since the previous tick (PMU); null without a PMU' },
  { name: 'instructions', type: 'INT64', nullable: true, doc: 'instructions retired since the previous tick (PMU); null without a PMU' },
  { name: 'llc_misses', type: 'INT64', nullable: true, doc: 'PERF_COUNT_HW_CACHE_MISSES (last-level cache on most CPUs) since the previous tick; null without a PMU' },
  { name: 'cache_references', type: 'INT64', nullable: true, doc: 'PERF_COUNT_HW_CACHE_REFERENCES since the previous tick; null without a PMU' },
];

/** One row; INT64 columns are bigints, null where not measured. */
export interface Row {
  tick_index: bigint;
  cpu: number;
  expected_cpu: number;
  host: string;
  nominal_ns: bigint;
  lateness_ns: bigint;
  missed: bigint;
  unseen: bigint;
  ctx_switches: bigint | null;
  oncpu_ns: bigint | null;
  task_runtime_ns: bigint;
  pid: number;
  tid: number;
  comm: string;
  nr_running: number | null;
  cycles: bigint | null;
  instructions: bigint | null;
  llc_misses: bigint | null;
  cache_references: bigint | null;
}

const opt64 = (v: bigint): bigint | null => (v === NONE64 ? null : v);

/** Decodes the raw sample at byte `offset` of `bytes`. */
export function decodeRow(bytes: Uint8Array, offset: number, host: string): Row {
  const s = collect_sample.decode(bytes, offset);
  const hw = (c: collect_hw_counter) => opt64(s.hw[c]);
  return {
    tick_index: s.tick_index,
    cpu: s.cpu,
    expected_cpu: s.expected_cpu,
    host,
    nominal_ns: s.nominal_ns,
    // fired_ns >= nominal_ns: the timer never fires early
    lateness_ns: s.fired_ns - s.nominal_ns,
    missed: s.missed,
    unseen: s.unseen,
    ctx_switches: opt64(s.ctx_switches),
    oncpu_ns: opt64(s.oncpu_ns),
    task_runtime_ns: s.task_runtime_ns,
    pid: s.pid,
    tid: s.tid,
    comm: s.comm,
    nr_running: s.nr_running === NONE32 ? null : s.nr_running,
    cycles: hw(collect_hw_counter.COLLECT_HW_CYCLES),
    instructions: hw(collect_hw_counter.COLLECT_HW_INSTRUCTIONS),
    llc_misses: hw(collect_hw_counter.COLLECT_HW_LLC_MISSES),
    cache_references: hw(collect_hw_counter.COLLECT_HW_CACHE_REFERENCES),
  };
}

/** A row as one NDJSON line (bigints as JSON numbers: exact, since JSON numbers are text). */
export function rowToNdjson(r: Row): string {
  let line = '{';
  for (let i = 0; i < COLUMNS.length; i++) {
    const name = COLUMNS[i].name as keyof Row;
    const v = r[name];
    line += `${i ? ',' : ''}"${name}":${typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : String(v)}`;
  }
  return line + '}\n';
}
