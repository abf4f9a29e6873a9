/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shared timer's tick callback: publish the tick in this CPU's entry of
 * `bitmap_map`. One definition for the shipped object and the benchmark's
 * timed copy, so both measure the same hot path.
 */
#ifndef SYNC_TIMER_PUBLISH_H
#define SYNC_TIMER_PUBLISH_H

#include "sync_timer.bpf.h"
#include "sync_timer_bitmap.bpf.h"

static __always_inline void sync_timer_publish_to(void *bitmap_map, __u32 cpu,
						  const struct sync_timer_tick *tick)
{
	struct sync_timer_bitmap_entry *entry;
	__u32 key = 0;

	entry = bpf_map_lookup_elem(bitmap_map, &key);
	if (!entry)
		return;

	entry->expected_cpu = cpu;
	entry->tick_index = tick->tick_index;
	entry->nominal_ns = tick->nominal_ns;
	entry->interval_ns = tick->interval_ns;
	entry->fired_ns = tick->fired_ns;
	entry->missed = tick->missed;
	/* details first, then the bits: a subscriber seeing a bit sees this tick */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&entry->trigger_mask = ~0ULL;
}

#endif /* SYNC_TIMER_PUBLISH_H */
