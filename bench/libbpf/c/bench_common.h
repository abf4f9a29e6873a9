// Helpers shared by the C peers of bench/libbpf (built by run.mjs with gcc -O2 -lbpf).
#pragma once
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Must match struct bench_state in ../bpf/ringbench.bpf.c (the object's .bss). */
struct bench_state {
	uint32_t batch;
	uint32_t wakeup; /* 0: adaptive, 1: one forced wake-up per run */
	uint64_t next_seq;
	uint64_t drops;
};

struct event {
	uint64_t seq;
	uint64_t tsc;
	uint8_t pad[48];
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* user + system CPU time of the whole process, in ns */
static inline uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static inline void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static inline void pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
}

static inline struct bpf_map *find_map(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (!m) {
		fprintf(stderr, "no map '%s' in the object\n", name);
		exit(1);
	}
	return m;
}

/* The object's .bss map (internal maps are named "<obj>.bss"). */
static inline struct bpf_map *find_bss(struct bpf_object *obj)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t l = strlen(n);
		if (bpf_map__is_internal(m) && l >= 4 && strcmp(n + l - 4, ".bss") == 0)
			return m;
	}
	fprintf(stderr, "no .bss map in the object\n");
	exit(1);
}
