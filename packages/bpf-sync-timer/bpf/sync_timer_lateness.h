/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shared timer's lateness histogram: per CPU, how late each tick fired
 * against its grid point (fired_ns - nominal_ns), in power-of-two buckets,
 * kept by the timer callback so user space can read a distribution without
 * a subscriber or a record per tick (the metrics entry, bpf-sync-timer/metrics).
 * One definition for the shipped object and the benchmark's timed copy.
 */
#ifndef SYNC_TIMER_LATENESS_H
#define SYNC_TIMER_LATENESS_H

#include "sync_timer.bpf.h"

/*
 * Bucket 0 counts lateness <= 2^SYNC_TIMER_LATENESS_MIN_LOG2 ns (1.024 us),
 * bucket i (1 <= i < BUCKETS - 1) lateness in (2^(MIN_LOG2+i-1), 2^(MIN_LOG2+i)]
 * ns, so bucket BUCKETS - 2 ends at 2^32 ns (4.3 s); the last bucket counts the
 * rest. A tick that fired before its grid point (relative re-arming in legacy
 * mode can) counts as 0.
 */
#define SYNC_TIMER_LATENESS_MIN_LOG2 10
#define SYNC_TIMER_LATENESS_BUCKETS 24

/* Value of the per-CPU array `sync_timer_lateness` (one entry). */
struct sync_timer_lateness {
	__u64 buckets[SYNC_TIMER_LATENESS_BUCKETS];
	__u64 sum_ns; /* every counted lateness added up */
};

/* ceil(log2(v)) for v >= 1, 0 for v = 0: the bits of v - 1, without a loop. */
static __always_inline __u32 __sync_timer_log2_ceil(__u64 v)
{
	__u32 n = 0;

	if (v == 0)
		return 0;
	v -= 1;
	if (v >> 32) { v >>= 32; n += 32; }
	if (v >> 16) { v >>= 16; n += 16; }
	if (v >> 8) { v >>= 8; n += 8; }
	if (v >> 4) { v >>= 4; n += 4; }
	if (v >> 2) { v >>= 2; n += 2; }
	if (v >> 1) { v >>= 1; n += 1; }
	return n + (__u32)v;
}

/*
 * Counts this tick's lateness in this CPU's histogram. Plain increments: only
 * this CPU's timer callback writes its entry, and callbacks do not nest.
 */
static __always_inline void sync_timer_lateness_record(void *lateness_map,
						       const struct sync_timer_tick *tick)
{
	struct sync_timer_lateness *h;
	__u64 late = tick->fired_ns > tick->nominal_ns ? tick->fired_ns - tick->nominal_ns : 0;
	__u32 key = 0, log2 = __sync_timer_log2_ceil(late), i;

	h = bpf_map_lookup_elem(lateness_map, &key);
	if (!h)
		return;
	i = log2 > SYNC_TIMER_LATENESS_MIN_LOG2 ? log2 - SYNC_TIMER_LATENESS_MIN_LOG2 : 0;
	if (i > SYNC_TIMER_LATENESS_BUCKETS - 1)
		i = SYNC_TIMER_LATENESS_BUCKETS - 1;
	h->buckets[i]++;
	h->sum_ns += late;
}

#endif /* SYNC_TIMER_LATENESS_H */
