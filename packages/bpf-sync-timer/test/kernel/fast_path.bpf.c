// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fixture of fast-path.test.ts (compiled by the test): two subscribers, one on
 * sync_timer_take_tick() and one on sync_timer_check_and_reset(), and an
 * observer that reads the bitmap entry's tick_index without touching any bit.
 * Each records {who, cpu, tick_index} per tick it sees, so the test compares
 * the tick indexes themselves: every tick the observer saw on a CPU must be
 * taken exactly once by each subscriber there.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sync_timer_bitmap.bpf.h"

SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);

const volatile __u64 take_id = 64;
const volatile __u64 reset_id = 64;

struct seen {
	__u32 who; /* 0 observer, 1 take_tick, 2 check_and_reset */
	__u32 cpu;
	__u64 tick_index;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} observer_last SEC(".maps"), lost SEC(".maps");

static __always_inline void record(__u32 who, __u64 tick_index)
{
	struct seen *s = bpf_ringbuf_reserve(&seen, sizeof(*s), 0);
	__u32 key = 0;

	if (!s) {
		__u64 *v = bpf_map_lookup_elem(&lost, &key);

		if (v)
			*v += 1;
		return;
	}
	s->who = who;
	s->cpu = bpf_get_smp_processor_id();
	s->tick_index = tick_index;
	bpf_ringbuf_submit(s, BPF_RB_NO_WAKEUP);
}

/* Attached first: a new tick_index on this CPU's entry is a tick (indexes start above 0). */
SEC("tracepoint/timer/hrtimer_expire_exit")
int observe(void *ctx)
{
	struct sync_timer_bitmap_entry *e;
	__u32 key = 0;
	__u64 *last;

	e = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	last = bpf_map_lookup_elem(&observer_last, &key);
	if (!e || !last || e->tick_index == *last)
		return 0;
	*last = e->tick_index;
	record(0, e->tick_index);
	return 0;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int take(void *ctx)
{
	struct sync_timer_bitmap_entry *tick = sync_timer_take_tick(&sync_timer_bitmap, take_id);

	if (tick)
		record(1, tick->tick_index);
	return 0;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int reset(void *ctx)
{
	struct sync_timer_bitmap_entry *e;
	__u32 key = 0;

	if (!sync_timer_check_and_reset(&sync_timer_bitmap, reset_id))
		return 0;
	e = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (e)
		record(2, e->tick_index);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
