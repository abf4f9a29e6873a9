// C peer of the map lookup benchmark: loads the benchmark object, fills MAP (u32 -> u64,
// keys 0..max_entries-1), warms up, then reads every key in a loop for SECONDS and prints
// one JSON line. MODE `single` (default): bpf_map_lookup_elem per key into one u64; `batch`:
// bpf_map_lookup_batch of the whole map per pass into reused key and value arrays; `mmap`:
// reads of a BPF_F_MMAPABLE array's mapping (no syscall).
//
// usage: map_lookup OBJ MAP SECONDS [single|batch|mmap]
#include "bench_common.h"

#include <sys/mman.h>

enum mode { SINGLE, BATCH, MMAP };

/* One pass over the map's n keys; returns the entries read. */
static uint32_t pass(int fd, uint32_t n, enum mode mode, uint32_t *keys, uint64_t *values, uint64_t *sum, uint64_t *misses)
{
	if (mode == MMAP) {
		/* values is the mapping here; volatile: each pass reads the memory again */
		const volatile uint64_t *mapped = values;
		for (uint32_t k = 0; k < n; k++) *sum += mapped[k];
		return n;
	}
	if (mode == BATCH) {
		uint32_t count = n, out_batch;
		int err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, values, &count, NULL);
		if (err && err != -ENOENT) die("bpf_map_lookup_batch", err);
		for (uint32_t i = 0; i < count; i++) *sum += values[i];
		*misses += n - count;
		return count;
	}
	uint64_t value;
	for (uint32_t k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(fd, &k, &value) == 0) *sum += value;
		else (*misses)++;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s OBJ MAP SECONDS [single|batch|mmap]\n", argv[0]);
		return 2;
	}
	enum mode mode = SINGLE;
	if (argc == 5 && strcmp(argv[4], "batch") == 0) mode = BATCH;
	else if (argc == 5 && strcmp(argv[4], "mmap") == 0) mode = MMAP;
	else if (argc == 5 && strcmp(argv[4], "single") != 0) {
		fprintf(stderr, "MODE must be single, batch or mmap, got %s\n", argv[4]);
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

	uint64_t sum = 0, lookups = 0, misses = 0;
	uint32_t *keys = calloc(n, sizeof(*keys));
	uint64_t *values = calloc(n, sizeof(*values));
	if (!keys || !values) die("calloc", ENOMEM);
	if (mode == MMAP) {
		free(values);
		values = mmap(NULL, (size_t)n * sizeof(*values), PROT_READ, MAP_SHARED, fd, 0);
		if (values == MAP_FAILED) die("mmap", errno);
	}
	/* warm-up, like the Node peer's */
	for (uint64_t end = now_ns() + 200000000ull; now_ns() < end;)
		pass(fd, n, mode, keys, values, &sum, &misses);

	misses = 0;
	uint64_t t0 = now_ns(), c0 = cpu_ns(), end = t0 + (uint64_t)(seconds * 1e9), t;
	do lookups += pass(fd, n, mode, keys, values, &sum, &misses);
	while ((t = now_ns()) < end);
	uint64_t c1 = cpu_ns();
	printf("{\"lookups\":%llu,\"misses\":%llu,\"ns\":%llu,\"cpuNs\":%llu,\"sum\":%llu,\"cpu\":%d}\n",
	       (unsigned long long)lookups, (unsigned long long)misses, (unsigned long long)(t - t0),
	       (unsigned long long)(c1 - c0), (unsigned long long)sum, sched_getcpu());
	free(keys);
	if (mode == MMAP) munmap(values, (size_t)n * sizeof(*values));
	else free(values);
	bpf_object__close(obj);
	return 0;
}
