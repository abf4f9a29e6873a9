// SPDX-License-Identifier: GPL-2.0-only
/*
 * The perf_event peer: attached to a PERF_COUNT_SW_CPU_CLOCK event per CPU
 * (what bpftrace's profile:hz does). The sample has no grid: user space fits
 * each CPU's phase afterwards.
 */
#include "bench_sub.bpf.h"

SEC("perf_event")
int on_sample(void *ctx)
{
	__u64 t = bpf_ktime_get_ns();

	bench_tick(t, 0, 0, 0, bpf_get_smp_processor_id());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
