// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where the cost goes, part 2: only this CPU's bitmap entry (the inlined
 * PERCPU_ARRAY lookup and a plain read of trigger_mask), no id. Bit 63 is
 * set on every tick and never cleared (no subscriber has id 63 here), so the
 * branch is taken on every run after the first tick; it only compares.
 */
#include "sub_cost.h"

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_expire_exit(void *ctx)
{
	struct sync_timer_bitmap_entry *e;
	__u32 key = 0;

	e = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (e && !(*(volatile __u64 *)&e->trigger_mask >> 63))
		count_taken();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
