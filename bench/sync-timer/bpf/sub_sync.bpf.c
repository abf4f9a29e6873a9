// SPDX-License-Identifier: GPL-2.0-only
/*
 * A subscriber of the shared sync timer, as a user writes one (README): the
 * bitmap map reused from the timer, its id as a const volatile, and a program
 * on tracepoint/timer/hrtimer_expire_exit. Loaded by the TypeScript runner and
 * by the C reference harness alike.
 */
#include "bench_sub.bpf.h"
#include "sync_timer_bitmap.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_bitmap_entry);
} sync_timer_bitmap SEC(".maps");

const volatile __u64 my_sync_timer_id;

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_tick(void *ctx)
{
	struct sync_timer_bitmap_entry *e;
	__u32 key = 0;
	__u64 t;

	if (!sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
		return 0;
	t = bpf_ktime_get_ns();
	e = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (!e)
		return 0;
	bench_tick(t, e->tick_index, e->nominal_ns, e->fired_ns, e->expected_cpu);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
