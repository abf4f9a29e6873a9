// Producer for the streaming ring buffer benchmark, started by a consumer (C or Node) with
// the consumer's ring buffer map as fd 3. Loads its own copy of the benchmark object with
// `events` reusing that fd, pins itself to CPU, prints "ready", waits for a line on stdin,
// then test-runs `produce` (each run submits BATCH events) for SECONDS and prints one JSON
// line. WAKEUP adaptive submits with the kernel's default wake-ups, batch with
// BPF_RB_NO_WAKEUP and one forced wake-up per run.
//
// usage: ring_producer OBJ CPU SECONDS BATCH adaptive|batch   (fd 3: the ring buffer map)
#include "bench_common.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[5], "adaptive") && strcmp(argv[5], "batch"))) {
		fprintf(stderr, "usage: %s OBJ CPU SECONDS BATCH adaptive|batch (fd 3: ring buffer map)\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	int cpu = atoi(argv[2]);
	double seconds = atof(argv[3]);
	uint32_t batch = (uint32_t)atoi(argv[4]);
	const int ring_fd = 3;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the consumer */
	if (getppid() == 1) return 1;
	pin_to_cpu(cpu);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) die("bpf_object__open_file", errno);
	int err = bpf_map__reuse_fd(find_map(obj, "events"), ring_fd);
	if (err) die("bpf_map__reuse_fd(events, 3)", err);
	/* The lookup maps are the consumer's business. */
	bpf_map__set_autocreate(find_map(obj, "lookup_array"), false);
	bpf_map__set_autocreate(find_map(obj, "lookup_hash"), false);
	struct bpf_map *bss = find_bss(obj);
	struct bench_state st = { .batch = batch, .wakeup = strcmp(argv[5], "batch") == 0 };
	err = bpf_map__set_initial_value(bss, &st, sizeof(st));
	if (err) die("bpf_map__set_initial_value(.bss)", err);
	err = bpf_object__load(obj);
	if (err) die("bpf_object__load", err);
	close(ring_fd); /* libbpf holds its own dup */
	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "produce"));
	int bss_fd = bpf_map__fd(bss), zero = 0;

	printf("ready\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin)) return 1;

	LIBBPF_OPTS(bpf_test_run_opts, opts);
	uint64_t runs = 0;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), t;
	do {
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		if (err) die("bpf_prog_test_run", errno);
		runs++;
	} while ((t = now_ns()) < end);

	if (bpf_map_lookup_elem(bss_fd, &zero, &st)) die("bpf_map_lookup_elem(.bss)", errno);
	printf("{\"runs\":%llu,\"submitted\":%llu,\"drops\":%llu,\"ns\":%llu,\"cpu\":%d}\n",
	       (unsigned long long)runs, (unsigned long long)st.next_seq, (unsigned long long)st.drops,
	       (unsigned long long)(t - t0), sched_getcpu());
	fflush(stdout);
	bpf_object__close(obj);
	return 0;
}
