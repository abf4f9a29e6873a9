// SPDX-License-Identifier: GPL-2.0-only
/*
 * A per-tick collector on the shared sync timer. On every tick of a CPU it
 * sends one record: the context switches on that CPU since its previous
 * record and the task the tick interrupted. A tick that fires on another CPU
 * than the one it was armed for becomes a migration record instead.
 *
 * Data flow: timer callback (sync_timer.bpf.o) fills this CPU's bitmap entry
 * -> hrtimer_expire_exit -> on_tick() below -> ring buffer `records`
 * -> user space (collector.ts) -> NDJSON on stdout.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sync_timer_bitmap.bpf.h"

/* collector.ts: timer.subscribe() shares this map with the timer's and sets the id before load. */
SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);
const volatile __u64 my_sync_timer_id;

enum record_kind {
	RECORD_TICK = 0,
	RECORD_MIGRATION = 1,
};

/* records.ts decodes it with the codec bpf-skel generates (collector.skel.ts). */
struct collector_record {
	enum record_kind kind;
	__u32 cpu;          /* CPU this program ran on */
	__u32 expected_cpu; /* CPU the tick was armed for */
	__u32 pid;          /* tgid of the interrupted task (0: idle) */
	__u32 tid;
	__u32 _pad;
	__u64 tick_index;
	__u64 nominal_ns;
	__u64 fired_ns;
	__u64 missed;       /* grid points this CPU's timer skipped so far */
	__u64 ctx_switches; /* on this CPU since its previous tick record */
	char comm[16];
};

_Static_assert(sizeof(struct collector_record) == 80, "record size");

/* Ring buffer records are not otherwise in the BTF: this puts the type there for bpf-skel. */
const struct collector_record *unused_collector_record __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} records SEC(".maps");

/* Per CPU: switches counted, and the count at the last tick record. */
struct switch_count {
	__u64 total;
	__u64 at_last_tick;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct switch_count);
} switches SEC(".maps");

/* Records the ring buffer had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

SEC("tracepoint/sched/sched_switch")
int on_sched_switch(void *ctx)
{
	__u32 key = 0;
	struct switch_count *s = bpf_map_lookup_elem(&switches, &key);

	if (s)
		s->total++;
	return 0;
}

/* Switches since the previous tick record on this CPU; per-CPU data, so no atomics. */
static __always_inline __u64 take_switches(void)
{
	__u32 key = 0;
	struct switch_count *s = bpf_map_lookup_elem(&switches, &key);
	__u64 delta;

	if (!s)
		return 0;
	delta = s->total - s->at_last_tick;
	s->at_last_tick = s->total;
	return delta;
}

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_tick(void *ctx)
{
	struct sync_timer_bitmap_entry *entry = sync_timer_take_tick(&sync_timer_bitmap, my_sync_timer_id);
	struct collector_record *r;
	__u32 key = 0;
	__u32 cpu;
	__u64 id;

	if (!entry)
		return 0; /* not a tick, or not ours */

	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		__u64 *d = bpf_map_lookup_elem(&drops, &key);

		if (d)
			*d += 1;
		return 0;
	}

	cpu = bpf_get_smp_processor_id();
	id = bpf_get_current_pid_tgid();
	r->kind = sync_timer_tick_migrated(entry) ? RECORD_MIGRATION : RECORD_TICK;
	r->cpu = cpu;
	r->expected_cpu = entry->expected_cpu;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->_pad = 0;
	r->tick_index = entry->tick_index;
	r->nominal_ns = entry->nominal_ns;
	r->fired_ns = entry->fired_ns;
	r->missed = entry->missed;
	/* a migrated tick belongs to another CPU's interval: leave this CPU's count alone */
	r->ctx_switches = r->kind == RECORD_TICK ? take_switches() : 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_ringbuf_submit(r, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
