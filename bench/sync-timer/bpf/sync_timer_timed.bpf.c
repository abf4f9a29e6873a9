// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench-only build of the shared timer (bpf/sync_timer.bpf.c): the same
 * publish callback and the same header code, with the callback bracketed by
 * bpf_ktime_get_ns() to time our BPF callback alone (bpf_stats cannot: the
 * kernel calls timer callbacks directly). Armed through the public
 * initSyncTimerProgram(); never shipped. `sync_timer_lateness_enabled` switches
 * the lateness histogram as in the shipped object (bench/lateness-histogram
 * times it on and off).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* as in the shipped object: the realtime grid's code is verified only when set */
const volatile __u32 sync_timer_realtime_enabled = 0;
#define SYNC_TIMER_REALTIME_ENABLED sync_timer_realtime_enabled

#include "sync_timer.bpf.h"
#include "sync_timer_bitmap.bpf.h"
#include "../../../packages/bpf-sync-timer/bpf/sync_timer_publish.h"
#include "../../../packages/bpf-sync-timer/bpf/sync_timer_lateness.h"

const volatile __u64 sync_timer_interval_ns = 1000000;
const volatile __u32 sync_timer_lateness_enabled = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_bitmap_entry);
} sync_timer_bitmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_lateness);
} sync_timer_lateness SEC(".maps");

struct callback_time {
	__u64 total_ns;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct callback_time);
} callback_time SEC(".maps");

/* the shipped object's callback (bpf/sync_timer.bpf.c) */
static __always_inline void sync_timer_publish(__u32 cpu, const struct sync_timer_tick *tick)
{
	sync_timer_publish_to(&sync_timer_bitmap, cpu, tick);
	if (sync_timer_lateness_enabled)
		sync_timer_lateness_record(&sync_timer_lateness, tick);
}

/* DEFINE_SYNC_TIMER(shared, ...) with the callback timed */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SYNC_TIMER_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct sync_timer_state);
} sync_timer_states_shared SEC(".maps");

static int sync_timer_cb_shared(void *map, __u32 *key, struct sync_timer_state *state)
{
	struct sync_timer_tick tick = {};
	__u64 start = bpf_ktime_get_ns();
	struct callback_time *ct;
	__u32 zero = 0;

	if (__sync_timer_tick_begin(state, &tick) == __SYNC_TIMER_TICK)
		sync_timer_publish(tick.cpu, &tick);
	__sync_timer_tick_end(state);
	ct = bpf_map_lookup_elem(&callback_time, &zero);
	if (ct) {
		ct->total_ns += bpf_ktime_get_ns() - start;
		ct->count++;
	}
	return 0;
}

SEC("syscall")
int sync_timer_init_shared(struct sync_timer_init_args *ctx)
{
	struct sync_timer_init_args args = {};

	args.cpu = ctx->cpu;
	args.mode = ctx->mode;
	args.clock = ctx->clock;
	args.realtime_ns = ctx->realtime_ns;
	__sync_timer_init(&args, &sync_timer_states_shared, sync_timer_cb_shared, sync_timer_interval_ns);
	ctx->error = args.error;
	ctx->err_no = args.err_no;
	ctx->first_expiry_ns = args.first_expiry_ns;
	ctx->interval_ns = args.interval_ns;
	ctx->tai_offset_s = args.tai_offset_s;
	ctx->first_index = args.first_index;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
