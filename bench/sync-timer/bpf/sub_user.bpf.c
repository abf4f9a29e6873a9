// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user-space timer peer: a thread pinned to each CPU sleeps to every grid
 * point (clock_nanosleep TIMER_ABSTIME) and runs this program with
 * BPF_PROG_RUN, passing the grid point it slept to.
 */
#include "bench_sub.bpf.h"

struct user_tick {
	__u64 index;
	__u64 nominal_ns;
	__u32 cpu;
	__u32 pad;
};

SEC("syscall")
int on_user_tick(struct user_tick *ctx)
{
	__u64 t = bpf_ktime_get_ns();
	__u64 index = ctx->index;
	__u64 nominal = ctx->nominal_ns;
	__u32 cpu = ctx->cpu;

	bench_tick(t, index, nominal, 0, cpu);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
