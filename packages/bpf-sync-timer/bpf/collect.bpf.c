// SPDX-License-Identifier: GPL-2.0-only
/*
 * The subscriber `sync-timer collect` runs: on every tick of every armed CPU
 * it sends one sample of that CPU to user space, which writes it as one
 * Parquet (or NDJSON) row.
 *
 * Data flow: timer callback (sync_timer.bpf.o) fills this CPU's bitmap entry
 * -> hrtimer_expire_exit -> collect_tick() -> ring buffer `samples`
 * -> src/cli/collect.ts (drains it every 200 ms, copies raw records into
 * batches) -> src/cli/collect-worker.ts (decodes, encodes, writes files).
 *
 * What a sample holds and where it comes from, all without a PMU except hw[]:
 * - context switches on this CPU since its previous tick: counted by
 *   collect_switch() on sched/sched_switch (COLLECT_NONE on a CPU's first
 *   tick, which has no previous one);
 * - how long the running task has been on the CPU: now minus the last
 *   sched_switch on this CPU (exact; COLLECT_NONE until one was seen);
 * - the running task's total run time, task->se.sum_exec_runtime (CO-RE; the
 *   scheduler updates it at its own ticks and switches, so it lags by up to a
 *   scheduler tick);
 * - the run-queue length, this CPU's rq->nr_running (CO-RE, through the
 *   running task's se.cfs_rq->rq; COLLECT_NONE32 without
 *   CONFIG_FAIR_GROUP_SCHED);
 * - hardware counters, deltas since the previous tick, from perf event arrays
 *   user space fills with one counter per CPU; COLLECT_NONE when that CPU has
 *   no counter (no PMU, as in most VMs) or on its first reading.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "sync_timer_bitmap.bpf.h"

/* collect.ts: timer.subscribe() shares this map with the timer's and sets the id before load. */
SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);
const volatile __u64 my_sync_timer_id;

/* "not measured": the column is null in the output */
#define COLLECT_NONE ((__u64)-1)
#define COLLECT_NONE32 ((__u32)-1)

/* The few kernel fields read, relocated against the running kernel's BTF (no vmlinux.h). */
struct rq {
	unsigned int nr_running;
} __attribute__((preserve_access_index));

struct cfs_rq {
	struct rq *rq; /* CONFIG_FAIR_GROUP_SCHED */
} __attribute__((preserve_access_index));

struct sched_entity {
	__u64 sum_exec_runtime;
	struct cfs_rq *cfs_rq; /* CONFIG_FAIR_GROUP_SCHED */
} __attribute__((preserve_access_index));

struct task_struct {
	struct sched_entity se;
} __attribute__((preserve_access_index));


enum collect_hw_counter {
	COLLECT_HW_CYCLES = 0,
	COLLECT_HW_INSTRUCTIONS = 1,
	COLLECT_HW_LLC_MISSES = 2,
	COLLECT_HW_CACHE_REFERENCES = 3,
	COLLECT_HW_COUNT = 4,
};

/* One CPU at one tick (136 bytes; user space decodes it with the codec bpf-skel generates). */
struct collect_sample {
	__u64 tick_index;
	__u64 nominal_ns;
	__u64 fired_ns;
	__u64 missed;          /* grid points this CPU's timer skipped so far (cumulative) */
	__u64 unseen;          /* ticks fired on this CPU that reached no sample (cumulative) */
	__u64 ctx_switches;    /* on this CPU since its previous tick */
	__u64 oncpu_ns;        /* the running task's time on the CPU since it was switched in */
	__u64 task_runtime_ns; /* the running task's se.sum_exec_runtime */
	__u64 hw[COLLECT_HW_COUNT]; /* enum collect_hw_counter; deltas since the previous tick */
	__u32 cpu;             /* CPU this program ran on */
	__u32 expected_cpu;    /* CPU the tick was armed for */
	__u32 pid;             /* tgid of the running task (0: idle) */
	__u32 tid;
	__u32 nr_running;      /* tasks on this CPU's run queue, the running one included */
	__u32 reserved;
	char comm[16];
};

_Static_assert(sizeof(struct collect_sample) == 136, "collect_sample size");

/* Ring buffer records and the enum are not otherwise in the BTF: this puts them there for bpf-skel. */
const struct collect_sample *unused_collect_sample __attribute__((unused));
const enum collect_hw_counter unused_collect_hw_counter __attribute__((unused));

#define SAMPLES_BYTES (1 << 22)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SAMPLES_BYTES);
} samples SEC(".maps");

/*
 * User space drains the ring on its own clock (collect.ts, every 200 ms), so a
 * sample wakes it only once a quarter of the ring is waiting: a wakeup per
 * sample (irq_work, an IPI, a VM exit under a hypervisor, then a poll and an
 * event loop turn) would cost more than the sample.
 */
#define WAKEUP_BYTES (SAMPLES_BYTES / 4)

/* One per collect_hw_counter; libbpf sizes them to the possible CPUs, user space fills them. */
#define HW_ARRAY(name)                                      \
	struct {                                            \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); \
		__uint(key_size, sizeof(__u32));            \
		__uint(value_size, sizeof(__u32));          \
	} name SEC(".maps")

HW_ARRAY(hw_cycles);
HW_ARRAY(hw_instructions);
HW_ARRAY(hw_llc_misses);
HW_ARRAY(hw_cache_references);

/* Per CPU; one program run per CPU at a time, so plain updates are exact. */
struct cpu_state {
	__u64 switches;
	__u64 switches_at_last_tick;
	__u64 last_switch_ns; /* 0: none seen yet */
	__u64 ticks;          /* 0: the next tick is this CPU's first, which has no deltas */
	__u64 last_tick_index;
	__u64 last_missed;
	__u64 unseen;
	__u64 hw_last[COLLECT_HW_COUNT];
	__u32 hw_seen;        /* bit per collect_hw_counter: hw_last holds a reading */
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpu_states SEC(".maps");

/* Samples the ring buffer had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline struct cpu_state *cpu_state(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&cpu_states, &key);
}

SEC("tracepoint/sched/sched_switch")
int collect_switch(void *ctx)
{
	struct cpu_state *s = cpu_state();

	if (s) {
		s->switches++;
		s->last_switch_ns = bpf_ktime_get_ns();
	}
	return 0;
}

/* A counter's delta since this CPU's previous tick; COLLECT_NONE when it cannot be read. */
static __always_inline __u64 hw_delta(void *array, struct cpu_state *s, int counter)
{
	struct bpf_perf_event_value v;
	__u32 bit = 1u << counter;
	__u64 delta;

	if (bpf_perf_event_read_value(array, BPF_F_CURRENT_CPU, &v, sizeof(v))) {
		s->hw_seen &= ~bit;
		return COLLECT_NONE;
	}
	delta = s->hw_seen & bit ? v.counter - s->hw_last[counter] : COLLECT_NONE;
	s->hw_last[counter] = v.counter;
	s->hw_seen |= bit;
	return delta;
}

/*
 * This CPU's rq->nr_running, reached through the running task: every task's
 * se.cfs_rq is its group's cfs_rq on its CPU (set for idle and RT tasks too),
 * whose ->rq is that CPU's run queue. The direct way, the per-CPU ksym
 * `runqueues`, needs its address in kallsyms (CONFIG_KALLSYMS_ALL), which
 * many kernels lack; both fields need CONFIG_FAIR_GROUP_SCHED, which
 * distribution kernels have.
 */
static __always_inline __u32 nr_running(struct task_struct *task)
{
	struct rq *rq;

	if (!bpf_core_field_exists(task->se.cfs_rq) || !bpf_core_field_exists(struct cfs_rq, rq))
		return COLLECT_NONE32;
	rq = BPF_CORE_READ(task, se.cfs_rq, rq);
	return rq ? BPF_CORE_READ(rq, nr_running) : COLLECT_NONE32;
}

static __always_inline void sample_task(struct collect_sample *r, const struct cpu_state *s, __u64 now)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->task_runtime_ns = BPF_CORE_READ(task, se.sum_exec_runtime);
	r->oncpu_ns = s->last_switch_ns ? now - s->last_switch_ns : COLLECT_NONE;
	r->nr_running = nr_running(task);
	r->unseen = s->unseen;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

/*
 * Ticks the timer fired on this CPU whose hrtimer_expire_exit run did not
 * hand them here (about 1 in 1000 at 1 kHz on a 6.18 VM, seen by the
 * monitor's probe too): the step in tick_index beyond the growth of
 * `missed`. Counted so that every gap in a CPU's rows is explained.
 */
static __always_inline void count_unseen(struct cpu_state *s, const struct sync_timer_bitmap_entry *entry)
{
	__u64 step = entry->tick_index - s->last_tick_index;
	__u64 skipped = entry->missed - s->last_missed;

	if (s->ticks && step > skipped + 1)
		s->unseen += step - skipped - 1;
	s->last_tick_index = entry->tick_index;
	s->last_missed = entry->missed;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int collect_tick(void *ctx)
{
	struct sync_timer_bitmap_entry *entry = sync_timer_take_tick(&sync_timer_bitmap, my_sync_timer_id);
	struct collect_sample *r;
	struct cpu_state *s;
	__u32 key = 0;

	if (!entry)
		return 0; /* not a tick, or not ours */
	s = cpu_state();
	if (!s)
		return 0;
	r = bpf_ringbuf_reserve(&samples, sizeof(*r), 0);
	if (!r) {
		__u64 *d = bpf_map_lookup_elem(&drops, &key);

		if (d)
			*d += 1;
		return 0;
	}
	r->tick_index = entry->tick_index;
	r->nominal_ns = entry->nominal_ns;
	r->fired_ns = entry->fired_ns;
	r->missed = entry->missed;
	r->cpu = bpf_get_smp_processor_id();
	r->expected_cpu = entry->expected_cpu;
	r->reserved = 0;
	/* a migrated tick belongs to another CPU's interval: this CPU's deltas wait for its own */
	if (sync_timer_tick_migrated(entry)) {
		r->ctx_switches = COLLECT_NONE;
		for (int i = 0; i < COLLECT_HW_COUNT; i++)
			r->hw[i] = COLLECT_NONE;
	} else {
		count_unseen(s, entry);
		r->ctx_switches = s->ticks ? s->switches - s->switches_at_last_tick : COLLECT_NONE;
		s->switches_at_last_tick = s->switches;
		s->ticks++;
		r->hw[COLLECT_HW_CYCLES] = hw_delta(&hw_cycles, s, COLLECT_HW_CYCLES);
		r->hw[COLLECT_HW_INSTRUCTIONS] = hw_delta(&hw_instructions, s, COLLECT_HW_INSTRUCTIONS);
		r->hw[COLLECT_HW_LLC_MISSES] = hw_delta(&hw_llc_misses, s, COLLECT_HW_LLC_MISSES);
		r->hw[COLLECT_HW_CACHE_REFERENCES] = hw_delta(&hw_cache_references, s, COLLECT_HW_CACHE_REFERENCES);
	}
	sample_task(r, s, bpf_ktime_get_ns());
	bpf_ringbuf_submit(r, bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
