// SPDX-License-Identifier: GPL-2.0-only
/* Seed 000: the subscriber id is a const volatile, set before load. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sync_timer_bitmap.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_bitmap_entry);
} sync_timer_bitmap SEC(".maps");

const volatile __u64 my_sync_timer_id;

/* Per-CPU counters user space reads: ticks handled here, ticks that migrated. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ticks SEC(".maps"), migrations SEC(".maps");

static __always_inline void bump(void *counter)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(counter, &key);

	if (v)
		*v += 1;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int handle_hrtimer_expire_exit(void *ctx)
{
	if (my_sync_timer_id >= 64)
		return 0;

	if (!sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
		return 0;

	struct sync_timer_bitmap_entry *entry;
	__u32 key = 0;
	entry = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (!entry)
		return 0;

	__u32 cpu = bpf_get_smp_processor_id();
	if (entry->expected_cpu != cpu) {
		bump(&migrations);
		return 0;
	}

	bump(&ticks);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
