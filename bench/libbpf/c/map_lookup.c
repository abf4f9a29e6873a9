// C peer of the map lookup benchmark: loads the benchmark object, fills MAP (u32 -> u64,
// keys 0..max_entries-1), warms up, then calls bpf_map_lookup_elem in a loop over the keys
// for SECONDS and prints one JSON line.
//
// usage: map_lookup OBJ MAP SECONDS
#include "bench_common.h"

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ MAP SECONDS\n", argv[0]);
		return 2;
	}
	double seconds = atof(argv[3]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) die("bpf_object__open_file", errno);
	int err = bpf_object__load(obj);
	if (err) die("bpf_object__load", err);
	struct bpf_map *map = find_map(obj, argv[2]);
	int fd = bpf_map__fd(map);
	uint32_t n = bpf_map__max_entries(map);
	for (uint32_t k = 0; k < n; k++) {
		uint64_t v = (uint64_t)k * 3;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY)) die("bpf_map_update_elem", errno);
	}

	uint64_t sum = 0, value, lookups = 0, misses = 0;
	/* warm-up, like the Node peer's */
	for (uint64_t end = now_ns() + 200000000ull; now_ns() < end;)
		for (uint32_t k = 0; k < n; k++)
			if (bpf_map_lookup_elem(fd, &k, &value) == 0) sum += value;

	uint64_t t0 = now_ns(), c0 = cpu_ns(), end = t0 + (uint64_t)(seconds * 1e9), t;
	do {
		for (uint32_t k = 0; k < n; k++) {
			if (bpf_map_lookup_elem(fd, &k, &value) == 0) sum += value;
			else misses++;
		}
		lookups += n;
	} while ((t = now_ns()) < end);
	uint64_t c1 = cpu_ns();
	printf("{\"lookups\":%llu,\"misses\":%llu,\"ns\":%llu,\"cpuNs\":%llu,\"sum\":%llu,\"cpu\":%d}\n",
	       (unsigned long long)lookups, (unsigned long long)misses, (unsigned long long)(t - t0),
	       (unsigned long long)(c1 - c0), (unsigned long long)sum, sched_getcpu());
	bpf_object__close(obj);
	return 0;
}
