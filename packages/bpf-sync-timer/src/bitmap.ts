// `struct sync_timer_bitmap_entry` as user space sees it (sync_timer_bitmap.bpf.h).

/** Size of `struct sync_timer_bitmap_entry` in bytes. */
export const BITMAP_ENTRY_SIZE = 56;

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
export function decodeBitmapEntry(b: Buffer, offset = 0): BitmapEntry {
  return {
    expectedCpu: b.readUInt32LE(offset),
    triggerMask: b.readBigUInt64LE(offset + 8),
    tickIndex: b.readBigUInt64LE(offset + 16),
    nominalNs: b.readBigUInt64LE(offset + 24),
    intervalNs: b.readBigUInt64LE(offset + 32),
    firedNs: b.readBigUInt64LE(offset + 40),
    missed: b.readBigUInt64LE(offset + 48),
  };
}
