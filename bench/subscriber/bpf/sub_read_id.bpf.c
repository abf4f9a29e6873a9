// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where the cost goes, part 1: only the id's load (.rodata), no map lookup.
 * The branch is never taken (ids are below 64).
 */
#include "sub_cost.h"

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_expire_exit(void *ctx)
{
	if (my_sync_timer_id == 1000)
		count_taken();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
