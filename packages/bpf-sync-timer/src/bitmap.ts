// `struct sync_timer_bitmap_entry` as user space sees it (sync_timer_bitmap.bpf.h), through
// its codec from sync_timer.bpf.o's BTF.
import { sync_timer_bitmap_entry } from './abi';

/** Size of `struct sync_timer_bitmap_entry` in bytes. */
export const BITMAP_ENTRY_SIZE: number = sync_timer_bitmap_entry.size;

/** One CPU's bitmap entry: the last tick published on that CPU. */
export interface BitmapEntry {
  expectedCpu: number;
  triggerMask: bigint;
  tickIndex: bigint;
  nominalNs: bigint;
  intervalNs: bigint;
  firedNs: bigint;
  missed: bigint;
}

/** Decodes an entry (e.g. one element of `lookupPerCpu(0)` on the bitmap map, or a ring buffer copy). */
export function decodeBitmapEntry(b: Uint8Array, offset = 0): BitmapEntry {
  const e = sync_timer_bitmap_entry.decode(b, offset);
  return {
    expectedCpu: e.expected_cpu,
    triggerMask: e.trigger_mask,
    tickIndex: e.tick_index,
    nominalNs: e.nominal_ns,
    intervalNs: e.interval_ns,
    firedNs: e.fired_ns,
    missed: e.missed,
  };
}
