// SPDX-License-Identifier: GPL-2.0-only
/*
 * Foreign hrtimer expiries for the subscriber-cost bench: one thread pinned to
 * each CPU given, sleeping PERIOD_NS at a time (clock_nanosleep, relative), so
 * each CPU sees many hrtimer expiries that are not the sync timer's ticks.
 * Dies with its parent (PR_SET_PDEATHSIG).
 *
 * usage: sleeper PERIOD_NS CPU[,CPU...]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long period_ns;

static void *sleep_loop(void *arg)
{
	struct timespec ts = { period_ns / 1000000000L, period_ns % 1000000000L };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((int)(long)arg, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "sleeper: cannot pin to CPU %ld\n", (long)arg);
		exit(1);
	}
	for (;;)
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t thread;
	char *cpus, *tok;

	if (argc != 3 || (period_ns = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: sleeper PERIOD_NS CPU[,CPU...]\n");
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	cpus = strdup(argv[2]);
	for (tok = strtok(cpus, ","); tok; tok = strtok(NULL, ","))
		if (pthread_create(&thread, NULL, sleep_loop, (void *)(long)atoi(tok)) != 0) {
			fprintf(stderr, "sleeper: pthread_create failed\n");
			return 1;
		}
	for (;;)
		pause();
}
