// SPDX-License-Identifier: GPL-2.0-only
/* A check-only subscriber on sync_timer_check_and_reset(), the seeds' form. */
#include "sub_cost.h"

SEC("tracepoint/timer/hrtimer_expire_exit")
int on_expire_exit(void *ctx)
{
	if (sync_timer_check_and_reset(&sync_timer_bitmap, my_sync_timer_id))
		count_taken();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
