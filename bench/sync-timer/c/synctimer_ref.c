// The C reference harness of the sync timer: what the TypeScript SyncTimer.start()
// does, written directly against libbpf, to show the JS side adds nothing per tick.
// Loads the shipped sync_timer.bpf.o (interval as const volatile, state map sized to
// the possible CPUs), runs sync_timer_init_shared with BPF_PROG_TEST_RUN from a
// thread pinned to each CPU (modern mode: ABS | CPU_PIN), then loads SUBSCRIBERS
// copies of the bench subscriber sharing the bitmap map, subscriber 0 recording.
//
// usage: synctimer_ref TIMER_OBJ SUB_OBJ INTERVAL_NS CPUS SUBSCRIBERS
// stderr: JSON lines ("armed" with t0 and the subscriber program fds, "exit")
// stdout: the records of subscriber 0 (struct bench_record, 40 bytes each),
//         consumed every 20 ms like the TypeScript runner does.
#include "common.h"
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

struct init_args {
	uint32_t cpu;
	uint32_t mode;
	int32_t error;
	int32_t err_no;
	uint64_t first_expiry_ns;
	uint64_t interval_ns;
};

struct arm_job {
	int prog_fd;
	int cpu;
	struct init_args args;
	int run_err;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Sets a const volatile global of OBJ (before load) by its BTF name. */
static void set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	const struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *mname = bpf_map__name(map);
		size_t len = strlen(mname);
		const struct btf_type *sec;
		const struct btf_var_secinfo *vs;
		size_t data_size;
		char *data;
		int id;
		const void *initial;

		if (len < 7 || strcmp(mname + len - 7, ".rodata"))
			continue;
		id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
		if (id < 0)
			die("rodata BTF", ENOENT);
		sec = btf__type_by_id(btf, id);
		vs = btf_var_secinfos(sec);
		initial = bpf_map__initial_value(map, &data_size);
		data = malloc(data_size);
		if (!initial || !data)
			die(name, ENOMEM);
		memcpy(data, initial, data_size);
		for (int i = 0; i < btf_vlen(sec); i++, vs++) {
			const struct btf_type *var = btf__type_by_id(btf, vs->type);

			if (strcmp(btf__name_by_offset(btf, var->name_off), name))
				continue;
			if (vs->size != size || vs->offset + size > data_size)
				die(name, EINVAL);
			memcpy(data + vs->offset, value, size);
			if (bpf_map__set_initial_value(map, data, data_size))
				die(name, errno);
			free(data);
			return;
		}
	}
	die(name, ENOENT);
}

static void *arm_cpu(void *arg)
{
	struct arm_job *job = arg;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &job->args, .ctx_size_in = sizeof(job->args));

	if (pin_self(job->cpu) || sched_getcpu() != job->cpu) {
		job->run_err = EINVAL;
		return NULL;
	}
	if (bpf_prog_test_run_opts(job->prog_fd, &opts))
		job->run_err = errno;
	return NULL;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	fwrite(data, size, 1, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static int cpus[MAX_CPUS];
	static struct arm_job jobs[MAX_CPUS];
	pthread_t threads[MAX_CPUS];
	struct bpf_object *timer, *subs[MAX_SUBS] = { 0 };
	struct bpf_link *links[MAX_SUBS];
	struct ring_buffer *rb;
	uint64_t interval, t0, armed;
	int ncpus, nsubs, init_fd, bitmap_fd;

	if (argc != 6) {
		fprintf(stderr, "usage: synctimer_ref TIMER_OBJ SUB_OBJ INTERVAL_NS CPUS SUBSCRIBERS\n");
		return 2;
	}
	die_with_parent();
	interval = strtoull(argv[3], NULL, 10);
	ncpus = parse_cpus(argv[4], cpus);
	nsubs = atoi(argv[5]);
	if (interval < 1000 || ncpus == 0 || nsubs < 1 || nsubs > MAX_SUBS)
		die("arguments", EINVAL);
	libbpf_set_print(NULL);

	/* --- SyncTimer.start(interval) --- */
	t0 = now_ns();
	timer = bpf_object__open_file(argv[1], NULL);
	if (!timer)
		die("open timer", errno);
	set_rodata(timer, "sync_timer_interval_ns", &interval, sizeof(interval));
	bpf_map__set_max_entries(bpf_object__find_map_by_name(timer, "sync_timer_states_shared"), libbpf_num_possible_cpus());
	if (bpf_object__load(timer))
		die("load timer", errno);
	init_fd = bpf_program__fd(bpf_object__find_program_by_name(timer, "sync_timer_init_shared"));
	bitmap_fd = bpf_map__fd(bpf_object__find_map_by_name(timer, "sync_timer_bitmap"));
	for (int i = 0; i < ncpus; i++) {
		jobs[i] = (struct arm_job){ .prog_fd = init_fd, .cpu = cpus[i], .args = { .cpu = (uint32_t)cpus[i], .mode = 0 } };
		if (pthread_create(&threads[i], NULL, arm_cpu, &jobs[i]))
			die("pthread_create", errno);
	}
	for (int i = 0; i < ncpus; i++) {
		pthread_join(threads[i], NULL);
		if (jobs[i].run_err)
			die("arm (BPF_PROG_TEST_RUN)", jobs[i].run_err);
		if (jobs[i].args.error)
			die("arm (modern mode needs kernel 6.7+)", -jobs[i].args.err_no);
	}
	armed = now_ns();

	/* --- the subscribers --- */
	for (int i = 0; i < nsubs; i++) {
		uint64_t id = (uint64_t)i;
		uint8_t emit = i == 0;

		subs[i] = bpf_object__open_file(argv[2], NULL);
		if (!subs[i])
			die("open subscriber", errno);
		if (bpf_map__reuse_fd(bpf_object__find_map_by_name(subs[i], "sync_timer_bitmap"), bitmap_fd))
			die("reuse_fd", errno);
		set_rodata(subs[i], "my_sync_timer_id", &id, sizeof(id));
		set_rodata(subs[i], "emit_records", &emit, sizeof(emit));
		if (!emit)
			bpf_map__set_max_entries(bpf_object__find_map_by_name(subs[i], "records"), 4096);
		if (bpf_object__load(subs[i]))
			die("load subscriber", errno);
		links[i] = bpf_program__attach(bpf_object__find_program_by_name(subs[i], "on_tick"));
		if (!links[i])
			die("attach subscriber", errno);
	}
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(subs[0], "records")), on_record, NULL, NULL);
	if (!rb)
		die("ring_buffer__new", errno);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "{\"event\":\"armed\",\"t0\":%llu,\"armed\":%llu,\"mode\":\"modern\",\"prog_fds\":[",
		(unsigned long long)t0, (unsigned long long)armed);
	for (int i = 0; i < nsubs; i++)
		fprintf(stderr, "%s%d", i ? "," : "", bpf_program__fd(bpf_object__find_program_by_name(subs[i], "on_tick")));
	fprintf(stderr, "]}\n");

	while (!stop) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		ring_buffer__consume(rb);
		fflush(stdout);
	}
	ring_buffer__consume(rb);
	fflush(stdout);
	ring_buffer__free(rb);
	for (int i = 0; i < nsubs; i++) {
		bpf_link__destroy(links[i]);
		bpf_object__close(subs[i]);
	}
	bpf_object__close(timer);
	fprintf(stderr, "{\"event\":\"exit\"}\n");
	return 0;
}
