// The user-space timer peer: one thread pinned to each CPU sleeps with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) to every multiple of the
// interval, then runs each subscriber program (loaded by the bench runner,
// passed by id) with BPF_PROG_RUN, giving it the grid point it slept to. Late
// wake-ups skip grid points (counted), never burst, like the sync timer.
//
// usage: usertimer INTERVAL_NS CPUS PROG_ID[,PROG_ID...]
// stdout: JSON lines: "ready" once every thread runs; "rusage" on SIGUSR1 and
// at exit (SIGTERM/SIGINT): user/system CPU of the whole process, ticks, missed.
#include "common.h"
#include <bpf/bpf.h>
#include <stdatomic.h>
#include <sys/resource.h>

struct user_tick {
	uint64_t index;
	uint64_t nominal_ns;
	uint32_t cpu;
	uint32_t pad;
};

static uint64_t interval;
static int prog_fds[MAX_SUBS];
static int nprogs;
static atomic_int stop;
static atomic_int started;
static atomic_ullong total_ticks, total_missed, run_errors;

static void *tick_thread(void *arg)
{
	int cpu = (int)(long)arg;
	struct user_tick ctx = { .cpu = (uint32_t)cpu };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	uint64_t next;

	if (pin_self(cpu))
		die("pin", errno);
	atomic_fetch_add(&started, 1);
	next = (now_ns() / interval + 1) * interval;
	while (!atomic_load(&stop)) {
		struct timespec ts = { .tv_sec = next / 1000000000ull, .tv_nsec = next % 1000000000ull };
		uint64_t now;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		ctx.index = next / interval;
		ctx.nominal_ns = next;
		for (int i = 0; i < nprogs; i++)
			if (bpf_prog_test_run_opts(prog_fds[i], &opts))
				atomic_fetch_add(&run_errors, 1);
		atomic_fetch_add(&total_ticks, 1);
		next += interval;
		now = now_ns();
		if (next <= now) {
			uint64_t skipped = (now - next) / interval + 1;

			next += skipped * interval;
			atomic_fetch_add(&total_missed, skipped);
		}
	}
	return NULL;
}

static void report(const char *event)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("{\"event\":\"%s\",\"t\":%llu,\"utime_ns\":%llu,\"stime_ns\":%llu,\"ticks\":%llu,\"missed\":%llu,\"run_errors\":%llu}\n",
	       event, (unsigned long long)now_ns(),
	       (unsigned long long)ru.ru_utime.tv_sec * 1000000000ull + ru.ru_utime.tv_usec * 1000ull,
	       (unsigned long long)ru.ru_stime.tv_sec * 1000000000ull + ru.ru_stime.tv_usec * 1000ull,
	       (unsigned long long)atomic_load(&total_ticks), (unsigned long long)atomic_load(&total_missed),
	       (unsigned long long)atomic_load(&run_errors));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static int cpus[MAX_CPUS];
	pthread_t threads[MAX_CPUS];
	sigset_t set;
	int ncpus, sig;
	char *ids;

	if (argc != 4) {
		fprintf(stderr, "usage: usertimer INTERVAL_NS CPUS PROG_ID[,PROG_ID...]\n");
		return 2;
	}
	die_with_parent();
	interval = strtoull(argv[1], NULL, 10);
	ncpus = parse_cpus(argv[2], cpus);
	if (interval < 1000 || ncpus == 0)
		die("arguments", EINVAL);
	for (ids = strtok(argv[3], ","); ids && nprogs < MAX_SUBS; ids = strtok(NULL, ",")) {
		prog_fds[nprogs] = bpf_prog_get_fd_by_id((unsigned)strtoul(ids, NULL, 10));
		if (prog_fds[nprogs] < 0)
			die("bpf_prog_get_fd_by_id", errno);
		nprogs++;
	}
	if (nprogs == 0)
		die("arguments", EINVAL);
	/* the signals are handled by this thread only (sigwait), never by a ticking one */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < ncpus; i++)
		if (pthread_create(&threads[i], NULL, tick_thread, (void *)(long)cpus[i]))
			die("pthread_create", errno);
	while (atomic_load(&started) < ncpus)
		usleep(100);
	report("ready");
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGUSR1) {
			report("rusage");
			continue;
		}
		break;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < ncpus; i++)
		pthread_join(threads[i], NULL);
	report("exit");
	return 0;
}
