// SPDX-License-Identifier: GPL-2.0-only
/*
 * A subscriber of the shared sync timer, written the way a downstream user
 * writes one (seed 000): it declares the bitmap map (user space reuses the
 * timer's map), takes its id as a const volatile, and on each tick of its CPU
 * records when the tick was due, when the timer fired and when this
 * subscriber ran.
 *
 * `sync-timer monitor` loads it once per requested subscriber; all of them
 * write into the first one's `records` ring buffer and `drops` counter (user
 * space reuses those maps). Every record names its subscriber and carries how
 * many ticks that subscriber has seen on this CPU, so delivery is counted by
 * tick identity: between two records of one subscriber on one CPU the timer
 * published (tick_index' - tick_index) - (missed' - missed) ticks, and the
 * subscriber saw hits' - hits of them. record_every = 1 sends every tick seen
 * (the first subscriber: lateness and skew come from those); N > 1 sends only
 * the first tick seen in each block of N tick indices, which keeps many
 * subscribers cheap and still lets user space prove a silent subscriber saw
 * nothing in a block.
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
const volatile __u64 record_every = 1;

/* One tick as seen by this subscriber (64 bytes; user space decodes it with the codec bpf-skel generates). */
struct tick_record {
	__u64 tick_index;
	__u64 nominal_ns;
	__u64 fired_ns;
	__u64 seen_ns;
	__u64 missed;      /* the timer's grid points skipped on this CPU before this tick */
	__u32 cpu;
	__u32 expected_cpu;
	__u64 hits;        /* ticks this subscriber saw on this CPU so far, this one included */
	__u32 subscriber;  /* my_sync_timer_id */
	__u32 reserved;
};

_Static_assert(sizeof(struct tick_record) == 64, "tick_record size");
_Static_assert(__builtin_offsetof(struct tick_record, missed) == 32, "missed");
_Static_assert(__builtin_offsetof(struct tick_record, cpu) == 40, "cpu");
_Static_assert(__builtin_offsetof(struct tick_record, hits) == 48, "hits");
_Static_assert(__builtin_offsetof(struct tick_record, subscriber) == 56, "subscriber");

/* Ring buffer records are not otherwise in the BTF: this puts the type there for bpf-skel. */
const struct tick_record *unused_tick_record __attribute__((unused));

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
PERCPU_COUNTER(recorded_block); /* 1 + the block of the last record sent; 0 before the first */

static __always_inline __u64 *counter(void *map)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(map, &key);
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_hrtimer_expire_exit(void *ctx)
{
	struct sync_timer_bitmap_entry *entry;
	struct tick_record *r;
	__u64 *seen, *recorded = NULL, *dropped, block = 0;
	__u32 key = 0;

	if (!sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
		return 0;
	/* one program run per CPU at a time: a plain per-CPU increment is exact */
	seen = counter(&hits);
	if (!seen)
		return 0;
	*seen += 1;
	entry = bpf_map_lookup_elem(&sync_timer_bitmap, &key);
	if (!entry)
		return 0;
	if (record_every > 1) {
		block = entry->tick_index / record_every + 1;
		recorded = counter(&recorded_block);
		if (!recorded || *recorded == block)
			return 0;
	}
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		dropped = counter(&drops);
		if (dropped)
			*dropped += 1;
		return 0;
	}
	/* only a record sent marks its block: after a drop the next tick tries again */
	if (recorded)
		*recorded = block;
	r->tick_index = entry->tick_index;
	r->nominal_ns = entry->nominal_ns;
	r->fired_ns = entry->fired_ns;
	r->seen_ns = bpf_ktime_get_ns();
	r->missed = entry->missed;
	r->cpu = bpf_get_smp_processor_id();
	r->expected_cpu = entry->expected_cpu;
	r->hits = *seen;
	r->subscriber = my_sync_timer_id;
	r->reserved = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
