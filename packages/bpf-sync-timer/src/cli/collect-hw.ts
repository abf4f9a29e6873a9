// Hardware counters for `sync-timer collect`: one counting perf event per counter per CPU,
// put into collect.bpf.c's perf event arrays, which the tick program reads with
// bpf_perf_event_read_value. Without a PMU (most VMs) perf_event_open fails and the
// counter columns are null; the command says so in one sentence.
import { BpfError, perfEventOpen, PerfType, type BpfObject, type PerfEvent } from '@bpf-sync-timer/libbpf';

/** The counters, by the perf event array that holds them (PERF_COUNT_HW_* configs). */
export const HW_COUNTERS = [
  { map: 'hw_cycles', column: 'cycles', config: 0 },
  { map: 'hw_instructions', column: 'instructions', config: 1 },
  { map: 'hw_llc_misses', column: 'llc_misses', config: 3 },
  { map: 'hw_cache_references', column: 'cache_references', config: 2 },
] as const;

/** Open counters, or why there are none. */
export interface HwCounters {
  /** Columns with a counter on every armed CPU. */
  readonly columns: string[];
  /** One sentence for the user when some or all counters are missing. */
  readonly note: string | undefined;
  /** Puts the counters into the loaded object's perf event arrays. */
  install(object: BpfObject): void;
  /** Closes every counter. Idempotent. */
  close(): void;
}

/** perf_event_open for `config` on `cpu`; the errno name when it fails. */
function open(config: number, cpu: number): PerfEvent | string {
  try {
    return perfEventOpen({ type: PerfType.HARDWARE, config }, { cpu });
  } catch (e) {
    if (e instanceof BpfError) return e.code;
    throw e;
  }
}

/** Opens every counter on every CPU; `enabled` false opens none (`--hw off`). */
export function openHwCounters(cpus: readonly number[], enabled: boolean): HwCounters {
  const fds: { map: string; cpu: number; event: PerfEvent }[] = [];
  const columns: string[] = [];
  const missing: string[] = [];
  let why = '';
  for (const c of enabled ? HW_COUNTERS : []) {
    const opened: typeof fds = [];
    for (const cpu of cpus) {
      const event = open(c.config, cpu);
      if (typeof event === 'string') {
        why ||= event;
        break;
      }
      opened.push({ map: c.map, cpu, event });
    }
    if (opened.length === cpus.length) {
      fds.push(...opened);
      columns.push(c.column);
    } else {
      for (const o of opened) o.event.close();
      missing.push(c.column);
    }
  }
  const note = !enabled
    ? 'hardware counters: off (--hw off); the cycles, instructions, llc_misses and cache_references columns are null'
    : missing.length === HW_COUNTERS.length
      ? `hardware counters: none, perf_event_open(PERF_TYPE_HARDWARE) failed with ${why} (no PMU, as in most VMs); the cycles, instructions, llc_misses and cache_references columns are null`
      : missing.length
        ? `hardware counters: ${missing.join(', ')} could not be opened (${why}); those columns are null`
        : undefined;
  let closed = false;
  return {
    columns,
    note,
    install(object) {
      // The array keeps its own reference to each event: the handles stay ours to close.
      for (const f of fds) object.map(f.map).update(f.cpu, f.event.fd);
    },
    close() {
      if (closed) return;
      closed = true;
      for (const f of fds) f.event.close();
    },
  };
}
