// C peer of the map lookup benchmark, a server driven by run.mjs: loads the benchmark
// object, fills MAP (u32 -> u64, keys 0..max_entries-1), warms up each of MODES, prints
// `ready`, then for each line `MODE MS` on stdin reads the map in passes for MS milliseconds
// and prints one JSON line with the entries read and the time taken; ends at end of input.
// The Node peer is the same server, so run.mjs can give the peers' reads turns of a few ms,
// and a change of the machine's speed (other tenants, the host) reaches both sides of a
// ratio alike. MODES, one or more joined by commas: `single`, bpf_map_lookup_elem per key
// into one u64; `batch`, bpf_map_lookup_batch of the whole map per pass into reused key and
// value arrays; `mmap`, reads of a BPF_F_MMAPABLE array's mapping (no syscall).
//
// usage: map_lookup OBJ MAP MODE[,MODE...]
#include "bench_common.h"

#include <sys/mman.h>

enum mode { SINGLE, BATCH, MMAP };
static const char *const MODE_NAMES[] = { "single", "batch", "mmap" };
#define MAX_MODES 3

/* One pass over the map's n keys; returns the entries read. Sums into a local, as the Node
 * peer does: a store through the pointer per entry (it may alias values) cost a batch pass
 * about 2 %. */
static uint32_t pass(int fd, uint32_t n, enum mode mode, uint32_t *keys, uint64_t *values,
		     const volatile uint64_t *mapped, uint64_t *sum, uint64_t *misses)
{
	uint64_t s = 0;
	uint32_t read = n;
	if (mode == MMAP) {
		/* volatile: each pass reads the memory again */
		for (uint32_t k = 0; k < n; k++) s += mapped[k];
	} else if (mode == BATCH) {
		uint32_t count = n, out_batch;
		int err = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, values, &count, NULL);
		if (err && err != -ENOENT) die("bpf_map_lookup_batch", err);
		for (uint32_t i = 0; i < count; i++) s += values[i];
		*misses += n - count;
		read = count;
	} else {
		uint64_t value;
		for (uint32_t k = 0; k < n; k++) {
			if (bpf_map_lookup_elem(fd, &k, &value) == 0) s += value;
			else (*misses)++;
		}
	}
	*sum += s;
	return read;
}

static int mode_of(const char *name)
{
	for (int m = 0; m < MAX_MODES; m++)
		if (!strcmp(name, MODE_NAMES[m])) return m;
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ MAP MODE[,MODE...] (modes: single, batch, mmap)\n", argv[0]);
		return 2;
	}
	bool wanted[MAX_MODES] = { false };
	char list[64];
	snprintf(list, sizeof(list), "%s", argv[3]);
	for (char *save = NULL, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int m = mode_of(name);
		if (m < 0) {
			fprintf(stderr, "MODE must be single, batch or mmap (or several joined by commas), got %s\n", argv[3]);
			return 2;
		}
		wanted[m] = true;
	}
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

	uint64_t sum = 0, misses = 0;
	uint32_t *keys = calloc(n, sizeof(*keys));
	uint64_t *values = calloc(n, sizeof(*values));
	if (!keys || !values) die("calloc", ENOMEM);
	uint64_t *mapped = NULL;
	if (wanted[MMAP]) {
		mapped = mmap(NULL, (size_t)n * sizeof(*mapped), PROT_READ, MAP_SHARED, fd, 0);
		if (mapped == MAP_FAILED) die("mmap", errno);
	}
	/* warm-up of each mode, like the Node peer's */
	for (int m = 0; m < MAX_MODES; m++)
		if (wanted[m])
			for (uint64_t end = now_ns() + 200000000ull; now_ns() < end;)
				pass(fd, n, (enum mode)m, keys, values, mapped, &sum, &misses);
	printf("ready\n");
	fflush(stdout);

	char line[64], name[16];
	unsigned ms;
	while (fgets(line, sizeof(line), stdin)) {
		int m;
		if (sscanf(line, "%15s %u", name, &ms) != 2 || (m = mode_of(name)) < 0 || !wanted[m]) {
			fprintf(stderr, "expected a line MODE MS with one of the modes %s, got %s", argv[3], line);
			return 2;
		}
		uint64_t lookups = 0;
		misses = 0;
		uint64_t t0 = now_ns(), end = t0 + ms * 1000000ull, t;
		do lookups += pass(fd, n, (enum mode)m, keys, values, mapped, &sum, &misses);
		while ((t = now_ns()) < end);
		printf("{\"lookups\":%llu,\"misses\":%llu,\"ns\":%llu,\"sum\":%llu,\"cpu\":%d}\n", (unsigned long long)lookups,
		       (unsigned long long)misses, (unsigned long long)(t - t0), (unsigned long long)sum, sched_getcpu());
		fflush(stdout);
	}
	free(keys);
	free(values);
	if (mapped) munmap(mapped, (size_t)n * sizeof(*mapped));
	bpf_object__close(obj);
	return 0;
}
