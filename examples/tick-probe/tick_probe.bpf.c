// SPDX-License-Identifier: GPL-2.0-only
/*
 * A subscriber of the shared sync timer, written the way a downstream user
 * writes one (seed 000): it declares the bitmap map (user space reuses the
 * timer's map), takes its id as a const volatile, and on each tick of its CPU
 * records when the tick was due, when the timer fired and when this
 * subscriber ran. `sync-timer monitor` loads it once per requested subscriber;
 * only the first one sends records (emit_records = 1), the others count hits.
 */
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
const volatile __u8 emit_records;

/* One tick as seen by this subscriber (48 bytes). */
struct tick_record {
	__u64 tick_index;
	__u64 nominal_ns;
	__u64 fired_ns;
	__u64 seen_ns;
	__u64 missed;
	__u32 cpu;
	__u32 expected_cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} records SEC(".maps");

#define PERCPU_COUNTER(name)                            \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);                 \
		__type(key, __u32);                     \
		__type(value, __u64);                   \
	} name SEC(".maps")

PERCPU_COUNTER(hits);
PERCPU_COUNTER(drops); /* records the ring buffer had no room for */

static __always_inline void bump(void *map)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += 1;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_hrtimer_expire_exit(void *ctx)
{
	struct sync_timer_bitmap_entry *entry;
	struct tick_record *r;
	__u32 key = 0;

	if (!sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
		return 0;
	bump(&hits);
	if (!emit_records)
		return 0;
	entry = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (!entry)
		return 0;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		bump(&drops);
		return 0;
	}
	r->tick_index = entry->tick_index;
	r->nominal_ns = entry->nominal_ns;
	r->fired_ns = entry->fired_ns;
	r->seen_ns = bpf_ktime_get_ns();
	r->missed = entry->missed;
	r->cpu = bpf_get_smp_processor_id();
	r->expected_cpu = entry->expected_cpu;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
