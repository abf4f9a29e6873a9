// Helpers shared by the C programs of bench/sync-timer (built by run.mjs with gcc -O2).
#pragma once
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 1024
#define MAX_SUBS 64

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline void die(const char *what, int err)
{
	fprintf(stderr, "{\"event\":\"error\",\"what\":\"%s\",\"errno\":%d,\"message\":\"%s\"}\n", what, err, strerror(err));
	exit(1);
}

/* Dies with the bench runner: no peer outlives a killed run. */
static inline void die_with_parent(void)
{
	pid_t parent = getppid();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* "0,1,4-7" -> cpus[], returns the count */
static inline int parse_cpus(const char *s, int *cpus)
{
	int n = 0;

	while (*s && n < MAX_CPUS) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && n < MAX_CPUS; c++)
			cpus[n++] = (int)c;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static inline int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
