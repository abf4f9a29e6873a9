// The C reference harness of the sync timer: what the TypeScript SyncTimer.start()
// does, written directly against libbpf, to show the JS side adds nothing per tick.
// Loads the shipped sync_timer.bpf.o (interval as const volatile, state map sized to
// the possible CPUs), runs sync_timer_init_shared with BPF_PROG_TEST_RUN from a
// thread pinned to each CPU (modern mode: ABS | CPU_PIN), then loads SUBSCRIBERS
// copies of the bench subscriber sharing the bitmap map, subscriber 0 recording.
//
// usage: synctimer_ref TIMER_OBJ SUB_OBJ INTERVAL_NS CPUS SUBSCRIBERS
//        (SUBSCRIBERS 0: the timer alone, for the start-up scenario; SIGUSR1 then
//        closes it, the next SIGUSR1 starts it again in the same process)
// stderr: JSON lines ("armed" with t0, the start-up phases in ns after t0 and the
//         subscriber program fds; "exit")
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
	uint32_t clock;          /* 0: CLOCK_MONOTONIC grid, as the TS side's default */
	int32_t tai_offset_s;
	uint64_t realtime_ns;
	uint64_t first_index;
};
/* struct sync_timer_init_args of include/sync_timer.bpf.h: the kernel refuses a shorter context. */
_Static_assert(sizeof(struct init_args) == 56, "struct sync_timer_init_args is 56 bytes");

struct arm_job {
	int prog_fd;
	int cpu;
	struct init_args args;
	int run_err;
	uint64_t pinned_ns; /* start-up phases: on its CPU, about to run init */
	uint64_t ran_ns;    /* init returned */
};

static volatile sig_atomic_t stop, restart;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_restart(int sig)
{
	(void)sig;
	restart = 1;
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
	job->pinned_ns = now_ns();
	if (bpf_prog_test_run_opts(job->prog_fd, &opts))
		job->run_err = errno;
	job->ran_ns = now_ns();
	return NULL;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	fwrite(data, size, 1, stdout);
	return 0;
}

/* The marks of one start (start-up phases), CLOCK_MONOTONIC ns. */
struct start_marks {
	uint64_t t0, opened, preload, loaded, spawned, armed;
	int ncpus;
	struct arm_job *jobs;
};

/* What SyncTimer.start(interval) does: open, size, load, arm every CPU from a pinned thread. */
static struct bpf_object *start_timer(const char *path, uint64_t interval, const int *cpus, int ncpus, struct start_marks *m)
{
	static struct arm_job jobs[MAX_CPUS];
	static pthread_t threads[MAX_CPUS];
	struct bpf_object *timer;
	int init_fd;

	m->t0 = now_ns();
	timer = bpf_object__open_file(path, NULL);
	if (!timer)
		die("open timer", errno);
	m->opened = now_ns();
	set_rodata(timer, "sync_timer_interval_ns", &interval, sizeof(interval));
	bpf_map__set_max_entries(bpf_object__find_map_by_name(timer, "sync_timer_states_shared"), libbpf_num_possible_cpus());
	m->preload = now_ns();
	if (bpf_object__load(timer))
		die("load timer", errno);
	m->loaded = now_ns();
	init_fd = bpf_program__fd(bpf_object__find_program_by_name(timer, "sync_timer_init_shared"));
	for (int i = 0; i < ncpus; i++) {
		jobs[i] = (struct arm_job){ .prog_fd = init_fd, .cpu = cpus[i], .args = { .cpu = (uint32_t)cpus[i], .mode = 0 } };
		if (pthread_create(&threads[i], NULL, arm_cpu, &jobs[i]))
			die("pthread_create", errno);
	}
	m->spawned = now_ns();
	for (int i = 0; i < ncpus; i++) {
		pthread_join(threads[i], NULL);
		if (jobs[i].run_err)
			die("arm (BPF_PROG_TEST_RUN)", jobs[i].run_err);
		if (jobs[i].args.error)
			die("arm (modern mode needs kernel 6.7+)", -jobs[i].args.err_no);
	}
	m->armed = now_ns();
	m->ncpus = ncpus;
	m->jobs = jobs;
	return timer;
}

/* The "armed" line's start and phases, ns after t0 (the bench's per-phase breakdown). */
static void print_marks(const struct start_marks *m)
{
	fprintf(stderr, "\"t0\":%llu,\"armed\":%llu,\"mode\":\"modern\",", (unsigned long long)m->t0, (unsigned long long)m->armed);
	fprintf(stderr, "\"phases\":{\"opened\":%llu,\"preload\":%llu,\"loaded\":%llu,\"spawned\":%llu,\"pinned\":[",
		(unsigned long long)(m->opened - m->t0), (unsigned long long)(m->preload - m->t0), (unsigned long long)(m->loaded - m->t0),
		(unsigned long long)(m->spawned - m->t0));
	for (int i = 0; i < m->ncpus; i++)
		fprintf(stderr, "%s%llu", i ? "," : "", (unsigned long long)(m->jobs[i].pinned_ns - m->t0));
	fprintf(stderr, "],\"ran\":[");
	for (int i = 0; i < m->ncpus; i++)
		fprintf(stderr, "%s%llu", i ? "," : "", (unsigned long long)(m->jobs[i].ran_ns - m->t0));
	fprintf(stderr, "]}");
}

int main(int argc, char **argv)
{
	static int cpus[MAX_CPUS];
	struct bpf_object *timer, *subs[MAX_SUBS] = { 0 };
	struct bpf_link *links[MAX_SUBS];
	struct ring_buffer *rb;
	struct start_marks marks;
	uint64_t interval;
	int ncpus, nsubs, bitmap_fd;

	if (argc != 6) {
		fprintf(stderr, "usage: synctimer_ref TIMER_OBJ SUB_OBJ INTERVAL_NS CPUS SUBSCRIBERS\n");
		return 2;
	}
	die_with_parent();
	interval = strtoull(argv[3], NULL, 10);
	ncpus = parse_cpus(argv[4], cpus);
	nsubs = atoi(argv[5]);
	if (interval < 1000 || ncpus == 0 || nsubs < 0 || nsubs > MAX_SUBS)
		die("arguments", EINVAL);
	libbpf_set_print(NULL);

	/* --- SyncTimer.start(interval) --- */
	timer = start_timer(argv[1], interval, cpus, ncpus, &marks);
	bitmap_fd = bpf_map__fd(bpf_object__find_map_by_name(timer, "sync_timer_bitmap"));

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
	rb = nsubs ? ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(subs[0], "records")), on_record, NULL, NULL) : NULL;
	if (nsubs && !rb)
		die("ring_buffer__new", errno);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_restart);
	fprintf(stderr, "{\"event\":\"armed\",");
	print_marks(&marks);
	fprintf(stderr, ",\"prog_fds\":[");
	for (int i = 0; i < nsubs; i++)
		fprintf(stderr, "%s%d", i ? "," : "", bpf_program__fd(bpf_object__find_program_by_name(subs[i], "on_tick")));
	fprintf(stderr, "]}\n");

	while (!stop) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (restart && !nsubs) {
			/* a second start in the same process (the start-up scenario's warm start):
			 * the first SIGUSR1 closes the timer, the next one starts it again */
			restart = 0;
			if (timer) {
				bpf_object__close(timer);
				timer = NULL;
				fprintf(stderr, "{\"event\":\"closed\"}\n");
			} else {
				timer = start_timer(argv[1], interval, cpus, ncpus, &marks);
				fprintf(stderr, "{\"event\":\"armed\",");
				print_marks(&marks);
				fprintf(stderr, ",\"prog_fds\":[]}\n");
			}
		}
		if (rb)
			ring_buffer__consume(rb);
		fflush(stdout);
	}
	if (rb)
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
