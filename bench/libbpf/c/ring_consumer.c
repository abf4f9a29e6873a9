// C peer of the ring buffer benchmark: loads the benchmark object, consumes its `events`
// ring with libbpf's ring_buffer, and starts the producer with the ring's fd as fd 3.
// Each record is touched: its seq must follow the previous one. Prints one JSON line.
//   adaptive, batch: streaming for AMOUNT seconds, consuming with ring_buffer__poll (the
//     default epoll wake-ups) while the producer runs on PRODUCER_CPU; before the producer
//     starts, eight fills of the ring (as in drain) and 500 single runs are consumed untimed,
//     a warm start.
//   drain: AMOUNT times, fills the ring itself (test runs of the same program in this
//     process until a reserve fails), then times one ring_buffer__consume of the backlog.
//     PRODUCER and PRODUCER_CPU are not used.
//
// usage: ring_consumer OBJ PRODUCER PRODUCER_CPU BATCH adaptive|batch|drain AMOUNT
#include "bench_common.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define WARMUP 8 /* fills consumed and not counted, as in ../node/ring_consumer.mjs: with 2, the
                  * Node peer's first timed drains still ran at ~70 % of its later ones (JIT) */
#define WARMUP_RUNS 500 /* streaming: single runs consumed and not counted, as there */

static volatile sig_atomic_t child_done;

static void on_sigchld(int sig)
{
	(void)sig;
	child_done = 1;
}

struct consumer {
	uint64_t count;
	uint64_t expected;
	uint64_t errors;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	const struct event *e = data;

	if (size != sizeof(*e) || e->seq != c->expected)
		c->errors++;
	c->expected = e->seq + 1;
	c->count++;
	return 0;
}

struct producer {
	pid_t pid;
	int to;      /* its stdin */
	FILE *from;  /* its stdout */
};

static struct producer start_producer(char **argv, int ring_fd, const char *seconds, const char *mode)
{
	int to_child[2], from_child[2];
	if (pipe2(to_child, O_CLOEXEC) || pipe2(from_child, O_CLOEXEC)) die("pipe2", errno);
	int ring_dup = fcntl(ring_fd, F_DUPFD_CLOEXEC, 10);
	if (ring_dup < 0) die("fcntl", errno);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ring_dup, 3);
	char *pargv[] = { argv[2], argv[1], argv[3], (char *)seconds, argv[4], (char *)mode, NULL };
	struct producer p;
	int err = posix_spawn(&p.pid, argv[2], &fa, NULL, pargv, environ);
	if (err) die("posix_spawn", err);
	posix_spawn_file_actions_destroy(&fa);
	close(to_child[0]);
	close(from_child[1]);
	close(ring_dup);
	p.to = to_child[1];
	p.from = fdopen(from_child[0], "r");
	return p;
}

/* Reads the producer's JSON report into line and reaps it. */
static void finish_producer(struct producer *p, char *line, size_t size)
{
	if (!fgets(line, size, p->from)) {
		fprintf(stderr, "producer reported nothing\n");
		exit(1);
	}
	line[strcspn(line, "\n")] = 0;
	int status;
	if (waitpid(p->pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "producer failed\n");
		exit(1);
	}
	fclose(p->from);
	close(p->to);
}

/* Fills the ring with this process's copy of the program (test runs on this CPU, default
 * wake-ups) until the first failed reserve; *st is the program's state after it. */
static void fill(int prog_fd, int bss_fd, uint32_t batch, struct bench_state *st)
{
	int zero = 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	*st = (struct bench_state){ .batch = batch };
	if (bpf_map_update_elem(bss_fd, &zero, st, BPF_ANY)) die("bpf_map_update_elem(.bss)", errno);
	do {
		if (bpf_prog_test_run_opts(prog_fd, &opts)) die("bpf_prog_test_run", errno);
		if (bpf_map_lookup_elem(bss_fd, &zero, st)) die("bpf_map_lookup_elem(.bss)", errno);
	} while (st->drops == 0);
}

int main(int argc, char **argv)
{
	if (argc != 7 || (strcmp(argv[5], "adaptive") && strcmp(argv[5], "batch") && strcmp(argv[5], "drain"))) {
		fprintf(stderr, "usage: %s OBJ PRODUCER PRODUCER_CPU BATCH adaptive|batch|drain AMOUNT\n", argv[0]);
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) die("bpf_object__open_file", errno);
	int err = bpf_object__load(obj);
	if (err) die("bpf_object__load", err);
	int ring_fd = bpf_map__fd(find_map(obj, "events"));

	struct consumer c = { 0 };
	struct ring_buffer *rb = ring_buffer__new(ring_fd, on_sample, &c, NULL);
	if (!rb) die("ring_buffer__new", errno);
	char line[512];

	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "produce"));
	int bss_fd = bpf_map__fd(find_bss(obj));
	uint32_t batch = (uint32_t)atoi(argv[4]);

	if (strcmp(argv[5], "drain") == 0) {
		/* This process fills the ring itself, with the same program (test runs on this
		 * CPU, default wake-ups, nothing polling), until the first failed reserve; then
		 * one ring_buffer__consume of the backlog is timed. No fork between drains. */
		int fills = atoi(argv[6]);
		uint64_t ns = 0, cpu = 0, submitted = 0, drops = 0;
		/* The first WARMUP fills are not counted (caches; the Node peer's JIT). */
		for (int i = -WARMUP; i < fills; i++) {
			struct bench_state st;
			fill(prog_fd, bss_fd, batch, &st);
			c.expected = 0;
			uint64_t before = c.count;
			uint64_t t0 = now_ns(), c0 = cpu_ns();
			err = ring_buffer__consume(rb);
			uint64_t t1 = now_ns(), c1 = cpu_ns();
			if (err < 0) die("ring_buffer__consume", err);
			if (i < 0) {
				c.count = before;
				continue;
			}
			submitted += st.next_seq;
			drops += st.drops;
			ns += t1 - t0;
			cpu += c1 - c0;
		}
		printf("{\"consumed\":%llu,\"errors\":%llu,\"ns\":%llu,\"cpuNs\":%llu,\"cpu\":%d,"
		       "\"producer\":{\"submitted\":%llu,\"drops\":%llu,\"fills\":%d}}\n",
		       (unsigned long long)c.count, (unsigned long long)c.errors, (unsigned long long)ns,
		       (unsigned long long)cpu, sched_getcpu(), (unsigned long long)submitted,
		       (unsigned long long)drops, fills);
		ring_buffer__free(rb);
		bpf_object__close(obj);
		return 0;
	}

	/* Streaming starts warm, as draining does: WARMUP fills and WARMUP_RUNS single runs
	 * consumed before the producer starts, not counted (caches here; the Node peer's JIT,
	 * which would otherwise compile while the producer runs). */
	for (int i = 0; i < WARMUP; i++) {
		struct bench_state st;
		fill(prog_fd, bss_fd, batch, &st);
		c.expected = 0;
		err = ring_buffer__consume(rb);
		if (err < 0) die("ring_buffer__consume", err);
	}
	/* And WARMUP_RUNS single runs, each consumed: many small consumes, as streaming has. */
	{
		int zero = 0;
		struct bench_state st = { .batch = batch };
		LIBBPF_OPTS(bpf_test_run_opts, opts);
		if (bpf_map_update_elem(bss_fd, &zero, &st, BPF_ANY)) die("bpf_map_update_elem(.bss)", errno);
		c.expected = 0;
		for (int i = 0; i < WARMUP_RUNS; i++) {
			if (bpf_prog_test_run_opts(prog_fd, &opts)) die("bpf_prog_test_run", errno);
			err = ring_buffer__consume(rb);
			if (err < 0) die("ring_buffer__consume", err);
		}
	}
	c = (struct consumer){ 0 };

	struct sigaction sa = { .sa_handler = on_sigchld }; /* no SA_RESTART: epoll_wait returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	struct producer p = start_producer(argv, ring_fd, argv[6], argv[5]);
	if (!fgets(line, sizeof(line), p.from) || strncmp(line, "ready", 5) != 0) {
		fprintf(stderr, "producer failed to start\n");
		return 1;
	}

	uint64_t t0 = now_ns(), c0 = cpu_ns();
	if (write(p.to, "go\n", 3) != 3) die("write", errno);
	while (!child_done) {
		err = ring_buffer__poll(rb, 10);
		if (err < 0 && err != -EINTR) die("ring_buffer__poll", err);
	}
	err = ring_buffer__consume(rb);
	if (err < 0) die("ring_buffer__consume", err);
	uint64_t t1 = now_ns(), c1 = cpu_ns();

	finish_producer(&p, line, sizeof(line));
	printf("{\"consumed\":%llu,\"errors\":%llu,\"ns\":%llu,\"cpuNs\":%llu,\"cpu\":%d,\"producer\":%s}\n",
	       (unsigned long long)c.count, (unsigned long long)c.errors, (unsigned long long)(t1 - t0),
	       (unsigned long long)(c1 - c0), sched_getcpu(), line);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
