// SPDX-License-Identifier: GPL-2.0-only
/* The floor: what bpf_stats charges a program on this tracepoint that does nothing. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_expire_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
