/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync_timer_bitmap.bpf.h - consumer side of the shared sync timer.
 *
 * The shared timer object (bpf/sync_timer.bpf.c) fires one bpf_timer per CPU
 * on every multiple of the interval (CLOCK_MONOTONIC). On each tick it fills
 * this CPU's entry of the `sync_timer_bitmap` per-CPU array and then sets all
 * 64 bits of trigger_mask. A subscriber owns one bit (an id in 0..63 handed
 * out by user space) and, from a program attached to
 * tracepoint/timer/hrtimer_expire_exit (or tp_btf/hrtimer_expire_exit),
 * calls sync_timer_check_and_reset(): it returns 1 at most once per tick per
 * subscriber. bpf_timer itself is unavailable to tracing programs, hence this
 * indirection.
 *
 * Usage in a consumer object:
 *
 *   #include "sync_timer_bitmap.bpf.h"
 *
 *   struct {
 *       __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
 *       __uint(max_entries, 1);
 *       __type(key, __u32);
 *       __type(value, struct sync_timer_bitmap_entry);
 *   } sync_timer_bitmap SEC(".maps");
 *
 *   const volatile __u64 my_sync_timer_id;   // set by user space before load
 *
 *   SEC("tracepoint/timer/hrtimer_expire_exit")
 *   int on_expire_exit(void *ctx)
 *   {
 *       if (!sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
 *           return 0;
 *       // one tick for this subscriber; the entry (key 0) has the details,
 *       // entry->expected_cpu != bpf_get_smp_processor_id() means the timer
 *       // migrated away from its CPU.
 *       return 0;
 *   }
 *
 * A tick a subscriber does not see before the next one is overwritten; a
 * jump in tick_index (beyond `missed` growth) shows it.
 *
 * User space must make the consumer's `sync_timer_bitmap` share the timer
 * object's map (bpf_map__reuse_fd before load) - otherwise the bits are
 * never set.
 *
 * Build with -mcpu=v3 (the project default). The test-and-clear is a
 * BPF_ATOMIC fetch-and instruction, so it needs kernel >= 5.12. clang 14
 * emits it for any -mcpu; some older clangs reject a used fetch result
 * below v3.
 */
#ifndef SYNC_TIMER_BITMAP_BPF_H
#define SYNC_TIMER_BITMAP_BPF_H

/* Standalone use: the map declaration above needs the uapi map types. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>
#endif
#include <bpf/bpf_helpers.h>

/* Layout is a contract with user space: keep field order, sizes, offsets. */
struct sync_timer_bitmap_entry {
	__u32 expected_cpu;  /* CPU this tick was armed for */
	__u64 trigger_mask;  /* all bits set on every tick; subscribers clear theirs */
	__u64 tick_index;    /* nominal_ns / interval_ns, equal across CPUs per grid point */
	__u64 nominal_ns;    /* grid point (CLOCK_MONOTONIC ns) of this tick */
	__u64 interval_ns;
	__u64 fired_ns;      /* bpf_ktime_get_ns() when the callback ran */
	__u64 missed;        /* grid points skipped on this CPU so far (cumulative) */
};

_Static_assert(sizeof(struct sync_timer_bitmap_entry) == 56, "bitmap entry size");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, expected_cpu) == 0, "expected_cpu");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, trigger_mask) == 8, "trigger_mask");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, tick_index) == 16, "tick_index");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, nominal_ns) == 24, "nominal_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, interval_ns) == 32, "interval_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, fired_ns) == 40, "fired_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, missed) == 48, "missed");

/*
 * Atomically test-and-clear bit `subscriber_id` of this CPU's entry.
 * Returns 1 if the bit was set (a tick is pending for this subscriber),
 * 0 otherwise, for ids >= 64, or if the entry is missing.
 * `bitmap_map` is the consumer's BPF_MAP_TYPE_PERCPU_ARRAY declared above.
 */
static __always_inline int sync_timer_check_and_reset(void *bitmap_map, __u64 subscriber_id)
{
	struct sync_timer_bitmap_entry *entry;
	__u32 key = 0;
	__u64 bit, prev;

	if (subscriber_id >= 64)
		return 0;

	entry = bpf_map_lookup_elem(bitmap_map, &key);
	if (!entry)
		return 0;

	bit = 1ULL << subscriber_id;
	/* atomic: an NMI-context subscriber may race on the same CPU */
	prev = __sync_fetch_and_and(&entry->trigger_mask, ~bit);
	return (prev & bit) ? 1 : 0;
}

#endif /* SYNC_TIMER_BITMAP_BPF_H */
