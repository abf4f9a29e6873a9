/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every benchmarked subscriber does on a tick, whatever delivered it (the
 * sync timer's bitmap, a perf_event sample, a user-space BPF_PROG_RUN): count
 * the tick per CPU and, in the one subscriber per run that records
 * (emit_records = 1), put {grid index, grid point, time, cpu} in a ring
 * buffer. The others only count, like a subscriber that samples a counter.
 *
 * Records are submitted without a wake-up: the bench consumes every 20 ms, so
 * the consumer's wake-ups do not land on the CPUs being measured at tick time.
 */
#ifndef BENCH_SUB_BPF_H
#define BENCH_SUB_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* 40 bytes; decoded by bench/sync-timer/lib/records.mjs */
struct bench_record {
	__u64 index;        /* grid index (nominal_ns / interval), 0 when the source has none */
	__u64 nominal_ns;   /* the grid point, 0 when the source has none (perf_event) */
	__u64 t_ns;         /* bpf_ktime_get_ns() when this subscriber ran */
	__u64 fired_ns;     /* when the timer callback ran (sync timer only), else 0 */
	__u32 cpu;          /* CPU this subscriber ran on */
	__u32 expected_cpu; /* CPU the tick was meant for */
};

_Static_assert(sizeof(struct bench_record) == 40, "bench_record size");

const volatile __u8 emit_records;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} records SEC(".maps");

struct bench_counter {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct bench_counter hits SEC(".maps");
struct bench_counter drops SEC(".maps"); /* records the ring had no room for */

static __always_inline void bench_bump(void *map)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += 1;
}

static __always_inline void bench_tick(__u64 t, __u64 index, __u64 nominal, __u64 fired, __u32 expected_cpu)
{
	struct bench_record *r;

	bench_bump(&hits);
	if (!emit_records)
		return;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		bench_bump(&drops);
		return;
	}
	r->index = index;
	r->nominal_ns = nominal;
	r->t_ns = t;
	r->fired_ns = fired;
	r->cpu = bpf_get_smp_processor_id();
	r->expected_cpu = expected_cpu;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

#endif
