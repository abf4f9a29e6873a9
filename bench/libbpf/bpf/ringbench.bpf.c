// Benchmark program shared by the Node and the C peers (bench/libbpf/run.mjs).
//
// produce: a raw_tp program that a producer process test-runs in a loop; each run
// reserves and submits `batch` 64-byte events into the `events` ring buffer, either with
// the kernel's default adaptive wake-ups (the consumer is woken when it has caught up) or
// with one forced wake-up at the end of each run. The
// consumer process creates the ring (by loading this object) and hands its fd to the
// producer, which loads its own copy of the object with `events` reused, so both peers
// consume the very same program writing into a ring they own.
//
// lookup_array / lookup_hash: u32 -> u64 maps for the lookup benchmark; lookup_mmap: the
// same as a BPF_F_MMAPABLE array, read through its mapping.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_BATCH 4096
#define LOOKUP_ENTRIES 1024

struct event {
	__u64 seq;      /* consecutive over the submitted events: consumers check the order */
	__u64 tsc;      /* bpf_ktime_get_ns() at reserve, so the record is not all zeros */
	__u8 pad[48];
};

/* One struct so that the C producer knows the layout of .bss without BTF. */
struct bench_state {
	__u32 batch;      /* events per run, set by the producer before load */
	__u32 wakeup;     /* 0: default adaptive wake-ups; 1: one forced wake-up per run */
	__u64 next_seq;   /* events submitted */
	__u64 drops;      /* bpf_ringbuf_reserve failures (ring full) */
} state;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LOOKUP_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} lookup_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LOOKUP_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} lookup_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LOOKUP_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} lookup_mmap SEC(".maps");

SEC("raw_tp")
int produce(void *ctx)
{
	__u32 n = state.batch;

	for (__u32 i = 0; i < MAX_BATCH && i < n; i++) {
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			state.drops++;
			continue;
		}
		e->seq = state.next_seq++;
		e->tsc = bpf_ktime_get_ns();
		if (!state.wakeup)
			bpf_ringbuf_submit(e, 0);
		else if (i + 1 == n)
			bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
		else
			bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	return 0;
}
