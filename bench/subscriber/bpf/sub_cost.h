/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the subscriber-cost bench's own programs share: the bitmap map (reused
 * from the running timer), the id as the seeds declare it, and a per-CPU count
 * of the ticks taken, bumped on the tick path only (so the bench can tell the
 * check succeeded; the path that is not a tick stays the helper alone).
 */
#ifndef SUB_COST_H
#define SUB_COST_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sync_timer_bitmap.bpf.h"

SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);

const volatile __u64 my_sync_timer_id = 64; /* set before load; 64 = no id */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} taken SEC(".maps");

static __always_inline void count_taken(void)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&taken, &key);

	if (v)
		*v += 1;
}

#endif
