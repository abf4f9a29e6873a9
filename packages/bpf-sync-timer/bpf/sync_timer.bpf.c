// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shared sync timer: one bpf_timer per CPU (sync_timer_init_shared, run
 * per CPU by user space) that publishes each tick in this CPU's entry of
 * sync_timer_bitmap for subscribers (see sync_timer_bitmap.bpf.h).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sync_timer.bpf.h"
#include "sync_timer_bitmap.bpf.h"
#include "sync_timer_publish.h"

/* Set by user space before load. */
const volatile __u64 sync_timer_interval_ns = 1000000;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_bitmap_entry);
} sync_timer_bitmap SEC(".maps");

static __always_inline void sync_timer_publish(__u32 cpu, const struct sync_timer_tick *tick)
{
	sync_timer_publish_to(&sync_timer_bitmap, cpu, tick);
}

DEFINE_SYNC_TIMER(shared, sync_timer_publish, sync_timer_interval_ns)

char LICENSE[] SEC("license") = "GPL";
