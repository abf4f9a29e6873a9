// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench instrumentation, not a subscriber: times the hrtimer function that
 * delivers a method's ticks (bpf_timer_cb for the sync timer, whose BPF
 * callback kernel.bpf_stats_enabled does not account because the kernel calls
 * it directly; perf_swevent_hrtimer for the perf_event peer, which includes its
 * BPF program), between the hrtimer_expire_entry and hrtimer_expire_exit
 * tracepoints, per CPU, and notes the first one after a reset (start-up).
 * fentry/fexit would be tighter, but this kernel refuses ftrace-based attach.
 * Attached before the subscribers, so its exit program runs before theirs and
 * the time excludes them; it includes the exit tracepoint's dispatch up to here.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Set by user space from /proc/kallsyms before load. */
const volatile __u64 target_function;

struct expire_entry_args {
	__u64 common;
	__u64 hrtimer;
	__s64 now;
	__u64 function;
};

struct expire_exit_args {
	__u64 common;
	__u64 hrtimer;
};

struct path_stats {
	__u64 hrtimer;    /* the matching timer being run, 0 when none */
	__u64 entered_ns;
	__u64 first_ns;   /* first matching expiry since the last reset */
	__u64 total_ns;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_stats);
} path SEC(".maps");

SEC("tracepoint/timer/hrtimer_expire_entry")
int on_expire_entry(struct expire_entry_args *ctx)
{
	struct path_stats *s;
	__u32 key = 0;

	if (ctx->function != target_function)
		return 0;
	s = bpf_map_lookup_elem(&path, &key);
	if (!s)
		return 0;
	s->hrtimer = ctx->hrtimer;
	s->entered_ns = bpf_ktime_get_ns();
	if (!s->first_ns)
		s->first_ns = s->entered_ns;
	return 0;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_expire_exit(struct expire_exit_args *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	struct path_stats *s;
	__u32 key = 0;

	s = bpf_map_lookup_elem(&path, &key);
	if (!s || !s->hrtimer || s->hrtimer != ctx->hrtimer)
		return 0;
	s->total_ns += now - s->entered_ns;
	s->count++;
	s->hrtimer = 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
