// The strict TypeScript consumer: type-checked with module and moduleResolution nodenext
// against the installed packages' declarations (never run).
import { BpfObject, BpfError, libbpfVersion, type GlobalValue } from '@bpf-sync-timer/libbpf';
import { SyncTimer, SyncTimerError, MAX_SUBSCRIBERS, type CpuTimerStats, type TimerMode } from 'bpf-sync-timer';
import pkg from 'bpf-sync-timer/package.json' with { type: 'json' };

export async function collect(object: string): Promise<CpuTimerStats[]> {
  const mode: TimerMode | 'auto' = 'auto';
  using timer = await SyncTimer.start(1_000_000n, { mode });
  const id: number = timer.assignId();
  const open = BpfObject.open(object);
  open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
  open.rodata.set('my_sync_timer_id', id);
  using consumer = open.load();
  consumer.attachAll();
  const value: GlobalValue | undefined = undefined;
  void value;
  const perCpu: Buffer[] | undefined = consumer.map('ticks').lookupPerCpu(0);
  void perCpu;
  return timer.stats();
}

export function describe(e: unknown): string {
  if (e instanceof SyncTimerError) return `${e.code}${e.cpu === undefined ? '' : ` on CPU ${e.cpu}`}`;
  if (e instanceof BpfError) return `${e.op}: ${e.code}`;
  return `${String(e)} (libbpf ${libbpfVersion}, up to ${MAX_SUBSCRIBERS} subscribers, ${pkg.name} ${pkg.version})`;
}
