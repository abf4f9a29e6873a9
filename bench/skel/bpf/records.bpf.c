// The records of the decode benchmark: the example collector's `struct collector_record`
// (examples/collector/bpf/collector.bpf.c), whose TypeScript decoder is hand-written, put
// in the object's BTF so that bpf-skel can generate its codec.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct collector_record {
	__u32 kind;
	__u32 cpu;
	__u32 expected_cpu;
	__u32 pid;
	__u32 tid;
	__u32 _pad;
	__u64 tick_index;
	__u64 nominal_ns;
	__u64 fired_ns;
	__u64 missed;
	__u64 ctx_switches;
	char comm[16];
};

_Static_assert(sizeof(struct collector_record) == 80, "record size");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} records SEC(".maps");

/* In the BTF even though only the ring buffer carries it. */
const struct collector_record *unused_record __attribute__((unused));
