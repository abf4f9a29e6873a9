// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shared sync timer: one bpf_timer per CPU (sync_timer_init_shared, run
 * per CPU by user space) that publishes each tick in this CPU's entry of
 * sync_timer_bitmap for subscribers (see sync_timer_bitmap.bpf.h), and
 * counts how late it fired in sync_timer_lateness (see sync_timer_lateness.h).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/*
 * Set by user space before load: 1 only for clock 'realtime', so that the
 * realtime code (and its bpf_ktime_get_tai_ns, 6.1+) is verified only then.
 */
const volatile __u32 sync_timer_realtime_enabled = 0;
#define SYNC_TIMER_REALTIME_ENABLED sync_timer_realtime_enabled

#include "sync_timer.bpf.h"
#include "sync_timer_bitmap.bpf.h"
#include "sync_timer_publish.h"
#include "sync_timer_lateness.h"

/* Set by user space before load. */
const volatile __u64 sync_timer_interval_ns = 1000000;
/* 0 turns the lateness histogram off: the verifier then drops its code from the callback. */
const volatile __u32 sync_timer_lateness_enabled = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_bitmap_entry);
} sync_timer_bitmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sync_timer_lateness);
} sync_timer_lateness SEC(".maps");

static __always_inline void sync_timer_publish(__u32 cpu, const struct sync_timer_tick *tick)
{
	sync_timer_publish_to(&sync_timer_bitmap, cpu, tick);
	/* after the bits: subscribers run only once the callback returns, so this delays none */
	if (sync_timer_lateness_enabled)
		sync_timer_lateness_record(&sync_timer_lateness, tick);
}

DEFINE_SYNC_TIMER(shared, sync_timer_publish, sync_timer_interval_ns)

/*
 * Thread mode (PREEMPT_RT, where the verifier refuses bpf_timer): no timer, but a
 * thread pinned to each CPU runs this at every grid point (GridRunner) and then
 * expires an hrtimer at once, so subscribers on hrtimer_expire_exit take the tick
 * right after. User space does not load sync_timer_init_shared in this mode.
 * Returns 1 when run on another CPU than the thread's (nothing published).
 */
SEC("syscall")
int sync_timer_thread_tick(struct sync_timer_grid_run *run)
{
	struct sync_timer_tick tick = {};
	__u32 cpu = run->cpu;

	if (bpf_get_smp_processor_id() != cpu)
		return 1;
	tick.cpu = cpu;
	tick.mode = SYNC_TIMER_MODE_THREAD;
	tick.tick_index = run->index;
	tick.nominal_ns = run->nominal_ns;
	tick.interval_ns = run->interval_ns;
	tick.fired_ns = bpf_ktime_get_ns();
	tick.missed = run->missed;
	tick.ticks = run->runs + 1;
	sync_timer_publish(cpu, &tick);
	return 0;
}

/*
 * Realtime grid: corrects one CPU's TAI - UTC offset, which init takes once,
 * when user space finds the kernel's changed since (a leap second, or an NTP
 * daemon setting it after the timer was armed). The next tick then sees the
 * realtime - monotonic offset move by whole seconds, counts a clock step and
 * re-aligns. Run with BPF_PROG_TEST_RUN from any CPU. Returns 1 for a CPU
 * without a timer.
 */
SEC("syscall")
int sync_timer_set_tai_offset(struct sync_timer_tai_update *update)
{
	struct sync_timer_state *state;
	__u32 cpu = update->cpu;

	state = bpf_map_lookup_elem(&sync_timer_states_shared, &cpu);
	if (!state)
		return 1;
	state->tai_offset_s = update->tai_offset_s;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
