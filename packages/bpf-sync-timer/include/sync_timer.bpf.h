/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync_timer.bpf.h - per-CPU, interval-aligned bpf_timer core.
 *
 * DEFINE_SYNC_TIMER(name, callback, interval_ns) generates:
 *
 *   sync_timer_states_<name>   BPF_MAP_TYPE_HASH, key __u32 cpu,
 *                              value struct sync_timer_state,
 *                              max_entries SYNC_TIMER_MAX_CPUS (default 1024;
 *                              user space may resize it before load)
 *   sync_timer_init_<name>     SEC("syscall") program, ctx is
 *                              struct sync_timer_init_args
 *   a static timer callback    re-arms itself on every tick
 *
 * User space runs sync_timer_init_<name> once per CPU with BPF_PROG_TEST_RUN
 * from a thread pinned to that CPU, ctx_in = struct sync_timer_init_args
 * { .cpu = that CPU, .mode = enum sync_timer_mode }. The kernel copies the
 * context back into the ctx_in buffer after the run (syscall programs reject
 * ctx_out), so read error/err_no/first_expiry_ns from there. The program
 * always returns 0; the outcome is in args->error. Running init again on a
 * CPU replaces (and thereby cancels) that CPU's previous timer.
 *
 * Ticks land on every multiple of the interval on CLOCK_MONOTONIC, or on
 * CLOCK_REALTIME with args.clock = SYNC_TIMER_CLOCK_REALTIME (see "Realtime
 * grid" below). If the callback runs so late that grid points already passed,
 * they are skipped (counted in `missed`), never replayed in a burst.
 *
 * `interval_ns` is any expression read at init time, e.g. a
 * `const volatile __u64` global set by user space before load. Must be
 * >= 1000.
 *
 * The callback is called on every tick, from the timer callback (softirq),
 * on the CPU the timer fired on. Two signatures are accepted:
 *
 *   void cb(__u32 cpu, const struct sync_timer_tick *tick);
 *   void cb(__u32 cpu);                     (the CPU-only callback, the
 *                                            original crate's signature)
 *
 * `cpu` is the CPU the timer was armed for, which is always the current
 * one: a timer that finds itself on another CPU (its CPU went offline, or it
 * migrated) stops without calling back; see __sync_timer_tick_begin.
 * `tick` lives on the stack; copy what you need, do not keep the pointer.
 *
 * Modes: MODERN uses BPF_F_TIMER_ABS|BPF_F_TIMER_CPU_PIN (kernel >= 6.7),
 * INTERMEDIATE BPF_F_TIMER_ABS (>= 6.4), LEGACY relative starts (>= 5.15).
 * A kernel lacking a flag fails bpf_timer_start with -EINVAL, reported as
 * error = SYNC_TIMER_TIMER_START_FAILED, err_no = -22; user space probes
 * MODERN -> INTERMEDIATE -> LEGACY with that.
 *
 * Realtime grid: the kernel cannot arm a bpf_timer at an absolute
 * CLOCK_REALTIME time. bpf_timer_init accepts CLOCK_REALTIME (5.15+) but sets
 * the hrtimer up in relative mode, which hrtimer_init turns into
 * CLOCK_MONOTONIC (POSIX: relative realtime timers ignore clock steps), so an
 * absolute expiry is read as monotonic. The timer therefore stays on
 * CLOCK_MONOTONIC and arms the monotonic instant of each realtime grid point,
 * converted with realtime - monotonic as read at each tick. BPF cannot read
 * CLOCK_REALTIME; it reads CLOCK_TAI (bpf_ktime_get_tai_ns, 6.1+), which is
 * monotonic + the kernel's offs_tai, and subtracts the TAI-UTC offset in whole
 * seconds (37 s since 2017, 0 where no NTP daemon set it) that init derives
 * from user space's CLOCK_REALTIME reading (args.realtime_ns). A change of
 * realtime - monotonic above SYNC_TIMER_CLOCK_STEP_NS is a clock step
 * (settimeofday, clock_settime, resume from suspend; a leap second once the
 * TAI-UTC correction below is made): the callback that notices it publishes
 * nothing, counts it in `clock_steps`, and re-arms for the next grid point of
 * the new time, so a step gives neither a burst nor a stall longer than one
 * interval. Smaller changes are followed
 * silently. The tick index is then realtime grid point / interval, a key that
 * hosts with synchronised clocks share; nominal_ns and fired_ns stay
 * CLOCK_MONOTONIC ns (comparable with bpf_ktime_get_ns in subscribers); the
 * realtime grid point is tick_index * interval_ns. The TAI-UTC offset is taken
 * at init: after a leap second (TAI runs on while UTC repeats a second), or an
 * NTP daemon first setting the kernel's TAI offset while the timer runs, the
 * conversion is off by whole seconds until user space corrects
 * state->tai_offset_s (the shipped timer's sync_timer_set_tai_offset, run by
 * SyncTimer's periodic check; the next tick then counts a step) or re-arms the
 * CPU. Needs an absolute-expiry mode (MODERN or INTERMEDIATE: LEGACY is the
 * mode of kernels before 6.4, which lack absolute expiry, and before 6.1 BPF
 * cannot read the wall clock at all, so init refuses it with
 * SYNC_TIMER_CLOCK_UNSUPPORTED), and SYNC_TIMER_REALTIME_ENABLED (below) true
 * at load.
 *
 * Requires a GPL-compatible license (bpf_timer helpers are GPL-only).
 * Works with uapi headers (<linux/bpf.h>) or a vmlinux.h included first.
 */
#ifndef SYNC_TIMER_BPF_H
#define SYNC_TIMER_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>
#endif
#include <bpf/bpf_helpers.h>

#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1
#endif

/*
 * Private names: newer headers declare BPF_F_TIMER_ABS/CPU_PIN as enum
 * members, which #ifndef cannot detect, and a macro of the same name would
 * break a later vmlinux.h/uapi include.
 */
#define __SYNC_TIMER_F_ABS     (1ULL << 0) /* BPF_F_TIMER_ABS, 6.4+ */
#define __SYNC_TIMER_F_CPU_PIN (1ULL << 1) /* BPF_F_TIMER_CPU_PIN, 6.7+ */

#ifndef SYNC_TIMER_MAX_CPUS
#define SYNC_TIMER_MAX_CPUS 1024
#endif

#define SYNC_TIMER_MIN_INTERVAL_NS 1000ULL

/*
 * An expression true at load for objects that may arm on CLOCK_REALTIME, e.g.
 * a `const volatile __u32` global user space sets before load (the shipped
 * timer's sync_timer_realtime_enabled). While it is false the verifier drops
 * the realtime code, whose bpf_ktime_get_tai_ns kernels before 6.1 lack, and
 * init refuses SYNC_TIMER_CLOCK_REALTIME. Define it before this header.
 */
#ifndef SYNC_TIMER_REALTIME_ENABLED
#define SYNC_TIMER_REALTIME_ENABLED 0
#endif

/*
 * A change of realtime - monotonic larger than this is a clock step; smaller
 * ones (a read disturbed by an interrupt, a tiny correction) are followed.
 */
#define SYNC_TIMER_CLOCK_STEP_NS 50000ULL
/* A clock reading bracketed by monotonic reads further apart is not used. */
#define SYNC_TIMER_CLOCK_READ_MAX_NS 10000ULL

enum sync_timer_mode {
	SYNC_TIMER_MODE_MODERN = 0,       /* ABS | CPU_PIN, kernel >= 6.7 */
	SYNC_TIMER_MODE_INTERMEDIATE = 1, /* ABS only, 6.4 - 6.6 */
	SYNC_TIMER_MODE_LEGACY = 2,       /* relative, 5.15 - 6.3 */
	SYNC_TIMER_MODE_THREAD = 3,       /* no bpf_timer: a pinned thread per CPU (PREEMPT_RT) */
};

/* The clock whose multiples of the interval are the grid. */
enum sync_timer_clock {
	SYNC_TIMER_CLOCK_MONOTONIC = 0,
	SYNC_TIMER_CLOCK_REALTIME = 1, /* needs SYNC_TIMER_REALTIME_ENABLED and MODERN or INTERMEDIATE */
};

/*
 * The init program's outcome. User space reads these names from the object's
 * BTF: SYNC_TIMER_<code> is SyncTimerError code <code> in TypeScript, so a
 * new enumerator needs a code of the same name there (a unit test checks).
 */
enum sync_timer_init_error {
	SYNC_TIMER_SUCCESS = 0,
	SYNC_TIMER_MAP_UPDATE_FAILED = 1,
	SYNC_TIMER_MAP_LOOKUP_FAILED = 2,
	SYNC_TIMER_TIMER_INIT_FAILED = 3,
	SYNC_TIMER_TIMER_SET_CALLBACK_FAILED = 4,
	SYNC_TIMER_TIMER_START_FAILED = 5,
	SYNC_TIMER_WRONG_CPU = 6,
	SYNC_TIMER_INVALID_OPTION = 7,   /* mode is not an enum sync_timer_mode */
	SYNC_TIMER_INTERVAL_INVALID = 8, /* interval below SYNC_TIMER_MIN_INTERVAL_NS */
	SYNC_TIMER_CLOCK_UNSUPPORTED = 9, /* CLOCK_REALTIME in LEGACY mode, or not enabled at load */
};

/* The earlier names of the two above. */
#define SYNC_TIMER_BAD_MODE SYNC_TIMER_INVALID_OPTION
#define SYNC_TIMER_BAD_INTERVAL SYNC_TIMER_INTERVAL_INVALID

/*
 * Context of the SEC("syscall") init program. Layout is a user-space contract;
 * the enum-typed fields are 4 bytes and put both enums into the object's BTF.
 */
struct sync_timer_init_args {
	__u32 cpu;                        /* in: CPU the run is pinned to */
	enum sync_timer_mode mode;        /* in */
	enum sync_timer_init_error error; /* out */
	__s32 err_no;          /* out: negative errno of the failing helper, or 0 */
	__u64 first_expiry_ns; /* out: first grid point armed (CLOCK_MONOTONIC ns) */
	__u64 interval_ns;     /* out: interval in use */
	enum sync_timer_clock clock; /* in */
	__s32 tai_offset_s;    /* out: TAI - UTC in s, as derived from realtime_ns (realtime clock) */
	__u64 realtime_ns;     /* in: CLOCK_REALTIME read by user space just before the run (realtime clock) */
	__u64 first_index;     /* out: tick index of the first grid point armed */
};

/* Value of sync_timer_states_<name>, keyed by CPU. Layout is a user-space contract. */
struct sync_timer_state {
	struct bpf_timer timer;
	__u64 interval_ns;
	__u64 next_expected_ns; /* grid point the timer is armed for */
	__u64 ticks;            /* callbacks run */
	__u64 missed;           /* grid points skipped because a callback ran late */
	__u64 rearm_failures;   /* failed bpf_timer_start calls in the callback */
	__u64 wrong_cpu;        /* callbacks that ran on a CPU other than `cpu` */
	__u64 last_fired_ns;
	__s32 last_rearm_error;
	__u32 cpu;
	__u32 mode;
	__u32 stopped;          /* 1 after a callback ran on the wrong CPU: not re-armed */
	__u32 clock;            /* enum sync_timer_clock */
	__s32 tai_offset_s;     /* TAI - UTC (realtime clock), taken at init */
	__s64 realtime_offset_ns; /* realtime - monotonic at the last tick (realtime clock), else 0 */
	__u64 next_index;       /* tick index of the grid point armed */
	__u64 clock_steps;      /* clock steps seen (realtime clock): each re-aligned the grid */
	__s64 last_step_ns;     /* size of the last clock step (new - old realtime offset) */
};

/*
 * Thread mode's context: what @bpf-sync-timer/libbpf's GridRunner passes to its
 * SEC("syscall") program at every grid point, from a thread pinned to `cpu`
 * (GRID_RUN_CTX_SIZE there). The program publishes that grid point's tick.
 */
struct sync_timer_grid_run {
	__u64 nominal_ns;  /* the grid point */
	__u64 interval_ns;
	__u64 index;       /* nominal_ns / interval_ns */
	__u64 missed;      /* grid points the thread woke too late for, so far */
	__u64 runs;        /* runs before this one */
	__u32 cpu;         /* the CPU the thread is pinned to */
	__u32 flags;
};

/* Context of the shipped object's sync_timer_set_tai_offset (realtime grid). */
struct sync_timer_tai_update {
	__u32 cpu;
	__s32 tai_offset_s; /* the kernel's TAI - UTC now */
};

/* Tick details handed to the user callback. Not a map layout. */
struct sync_timer_tick {
	__u32 cpu;         /* CPU the timer was armed for */
	__u32 mode;        /* enum sync_timer_mode */
	__u64 tick_index;  /* grid point / interval_ns on the grid's clock, same on all CPUs per grid point */
	__u64 nominal_ns;  /* grid point this tick belongs to (CLOCK_MONOTONIC ns, also on a realtime grid) */
	__u64 interval_ns;
	__u64 fired_ns;    /* bpf_ktime_get_ns() at callback entry */
	__u64 missed;      /* cumulative skipped grid points before this tick */
	__u64 ticks;       /* callbacks run on this timer, including this one */
};

_Static_assert(sizeof(enum sync_timer_mode) == 4, "mode size");
_Static_assert(sizeof(struct sync_timer_grid_run) == 48, "grid run size");
_Static_assert(__builtin_offsetof(struct sync_timer_grid_run, missed) == 24, "missed");
_Static_assert(__builtin_offsetof(struct sync_timer_grid_run, cpu) == 40, "cpu");
_Static_assert(sizeof(enum sync_timer_init_error) == 4, "init error size");
_Static_assert(sizeof(enum sync_timer_clock) == 4, "clock size");
_Static_assert(sizeof(struct sync_timer_tai_update) == 8, "tai update size");
_Static_assert(sizeof(struct sync_timer_init_args) == 56, "init args size");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, cpu) == 0, "cpu");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, mode) == 4, "mode");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, error) == 8, "error");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, err_no) == 12, "err_no");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, first_expiry_ns) == 16, "first_expiry_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, interval_ns) == 24, "interval_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, clock) == 32, "clock");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, tai_offset_s) == 36, "tai_offset_s");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, realtime_ns) == 40, "realtime_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_init_args, first_index) == 48, "first_index");

_Static_assert(sizeof(struct bpf_timer) == 16, "bpf_timer size");
_Static_assert(sizeof(struct sync_timer_state) == 128, "state size");
_Static_assert(__builtin_offsetof(struct sync_timer_state, timer) == 0, "timer");
_Static_assert(__builtin_offsetof(struct sync_timer_state, interval_ns) == 16, "interval_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_state, next_expected_ns) == 24, "next_expected_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_state, ticks) == 32, "ticks");
_Static_assert(__builtin_offsetof(struct sync_timer_state, missed) == 40, "missed");
_Static_assert(__builtin_offsetof(struct sync_timer_state, rearm_failures) == 48, "rearm_failures");
_Static_assert(__builtin_offsetof(struct sync_timer_state, wrong_cpu) == 56, "wrong_cpu");
_Static_assert(__builtin_offsetof(struct sync_timer_state, last_fired_ns) == 64, "last_fired_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_state, last_rearm_error) == 72, "last_rearm_error");
_Static_assert(__builtin_offsetof(struct sync_timer_state, cpu) == 76, "cpu");
_Static_assert(__builtin_offsetof(struct sync_timer_state, mode) == 80, "mode");
_Static_assert(__builtin_offsetof(struct sync_timer_state, stopped) == 84, "stopped");
_Static_assert(__builtin_offsetof(struct sync_timer_state, clock) == 88, "clock");
_Static_assert(__builtin_offsetof(struct sync_timer_state, tai_offset_s) == 92, "tai_offset_s");
_Static_assert(__builtin_offsetof(struct sync_timer_state, realtime_offset_ns) == 96, "realtime_offset_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_state, next_index) == 104, "next_index");
_Static_assert(__builtin_offsetof(struct sync_timer_state, clock_steps) == 112, "clock_steps");
_Static_assert(__builtin_offsetof(struct sync_timer_state, last_step_ns) == 120, "last_step_ns");

/* Arm `timer` for absolute CLOCK_MONOTONIC time `at` the way `mode` allows. */
static __always_inline long __sync_timer_arm(struct bpf_timer *timer, __u32 mode, __u64 at)
{
	__u64 now, rel;

	if (mode == SYNC_TIMER_MODE_MODERN)
		return bpf_timer_start(timer, at, __SYNC_TIMER_F_ABS | __SYNC_TIMER_F_CPU_PIN);
	if (mode == SYNC_TIMER_MODE_INTERMEDIATE)
		return bpf_timer_start(timer, at, __SYNC_TIMER_F_ABS);

	now = bpf_ktime_get_ns();
	rel = at > now ? at - now : 1;
	return bpf_timer_start(timer, rel, 0);
}

/*
 * realtime - monotonic now, as TAI - monotonic - the TAI-UTC offset, with the
 * monotonic reading `*mono` it belongs to; `before` is a monotonic reading
 * just taken (the tick's own, saving a helper call). Returns 0 when the TAI
 * read was not bracketed tightly enough by monotonic reads to be trusted (an
 * interrupt in between); *offset is then left alone. Wrapping u64 arithmetic
 * stands for s64.
 */
static __always_inline int __sync_timer_realtime_offset(__s32 tai_offset_s, __u64 before, __u64 *mono,
							__u64 *offset)
{
	__u64 tai = bpf_ktime_get_tai_ns();
	__u64 after = bpf_ktime_get_ns();
	__u64 mid = before + (after - before) / 2;

	*mono = after;
	if (after - before > SYNC_TIMER_CLOCK_READ_MAX_NS)
		return 0;
	*offset = tai - mid - (__u64)(__s64)tai_offset_s * 1000000000ULL;
	return 1;
}

/* True when the state's grid is on CLOCK_REALTIME (compiled out unless enabled). */
static __always_inline int __sync_timer_is_realtime(const struct sync_timer_state *state)
{
	return SYNC_TIMER_REALTIME_ENABLED && state->clock == SYNC_TIMER_CLOCK_REALTIME;
}

/*
 * A realtime timer's check for a clock step since the last tick. Returns 1
 * after a step: the grid is re-aligned to the new time (counted in
 * clock_steps, next_index set to the grid point at or before now so that the
 * tick's end arms the one after) and this callback publishes nothing, since
 * it fired at an instant that is no grid point of the new time. Small changes
 * are taken over silently.
 */
static __always_inline int __sync_timer_clock_stepped(struct sync_timer_state *state, __u64 before)
{
	__u64 mono = 0, offset = 0, delta;

	if (!__sync_timer_realtime_offset(state->tai_offset_s, before, &mono, &offset))
		return 0;
	delta = offset - (__u64)state->realtime_offset_ns;
	state->realtime_offset_ns = (__s64)offset;
	if ((__s64)delta <= (__s64)SYNC_TIMER_CLOCK_STEP_NS && (__s64)delta >= -(__s64)SYNC_TIMER_CLOCK_STEP_NS)
		return 0;
	state->clock_steps++;
	state->last_step_ns = (__s64)delta;
	state->next_index = (mono + offset) / state->interval_ns;
	return 1;
}

enum __sync_timer_begin {
	__SYNC_TIMER_STOP = 0, /* wrong CPU: not re-armed */
	__SYNC_TIMER_TICK = 1, /* call back, then re-arm */
	__SYNC_TIMER_SKIP = 2, /* clock step: no call back, re-arm on the new grid */
};

/*
 * Start of a tick: account it and describe it in *tick. Runs before the user
 * callback. Returns __SYNC_TIMER_STOP when the callback runs on another CPU
 * than the one the timer was armed for: that happens when its CPU went offline
 * (the kernel moves the timer) or, without CPU pinning, when it migrated. Such
 * a timer stops (not re-armed, counted in wrong_cpu, `stopped` set) instead of
 * ticking on the wrong CPU forever; user space re-arms it on its CPU.
 */
static __always_inline int __sync_timer_tick_begin(struct sync_timer_state *state,
						   struct sync_timer_tick *tick)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 interval = state->interval_ns;
	__u64 nominal = state->next_expected_ns;

	if (bpf_get_smp_processor_id() != state->cpu) {
		state->wrong_cpu++;
		state->stopped = 1;
		return __SYNC_TIMER_STOP;
	}
	if (__sync_timer_is_realtime(state) && __sync_timer_clock_stepped(state, now))
		return __SYNC_TIMER_SKIP;
	state->ticks++;
	state->last_fired_ns = now;

	tick->cpu = state->cpu;
	tick->mode = state->mode;
	tick->tick_index = state->next_index;
	tick->nominal_ns = nominal;
	tick->interval_ns = interval;
	tick->fired_ns = now;
	tick->missed = state->missed;
	tick->ticks = state->ticks;
	return __SYNC_TIMER_TICK;
}

/*
 * End of a tick: pick the next grid point still in the future and re-arm.
 * The grid is index * interval on the grid's clock, monotonic + offset (0 on
 * CLOCK_MONOTONIC), and the timer is armed for its monotonic instant.
 */
static __always_inline void __sync_timer_tick_end(struct sync_timer_state *state)
{
	__u64 interval = state->interval_ns;
	__u64 offset = __sync_timer_is_realtime(state) ? (__u64)state->realtime_offset_ns : 0;
	__u64 index = state->next_index + 1;
	/* read after the user callback so its run time counts */
	__u64 now = bpf_ktime_get_ns() + offset;
	__u64 next;
	long ret;

	if (interval == 0)
		return; /* unreachable: init rejects it; avoids a div by 0 */

	if (index * interval <= now) {
		state->missed += now / interval - state->next_index;
		index = now / interval + 1;
	}
	next = index * interval - offset;
	state->next_index = index;
	state->next_expected_ns = next;

	ret = __sync_timer_arm(&state->timer, state->mode, next);
	if (ret < 0) {
		state->rearm_failures++;
		state->last_rearm_error = ret;
		/* fall back to the most portable start so ticks keep coming */
		ret = __sync_timer_arm(&state->timer, SYNC_TIMER_MODE_LEGACY, next);
		if (ret < 0) {
			state->rearm_failures++;
			state->last_rearm_error = ret;
		}
	}
}

/*
 * Init's realtime part: the TAI-UTC offset from user space's realtime reading
 * (whole seconds: kernels keep it so; the reading is at most a few ms old) and
 * realtime - monotonic now. Returns the monotonic reading taken with it.
 */
static __always_inline __u64 __sync_timer_init_realtime(struct sync_timer_init_args *args,
							 struct sync_timer_state *state)
{
	__u64 mono = 0, offset = 0;
	/* + 0.5 s rounds to the nearest second; TAI is never behind UTC */
	__u64 tai_minus_utc = bpf_ktime_get_tai_ns() + 500000000ULL - args->realtime_ns;

	state->tai_offset_s = (__s32)(tai_minus_utc / 1000000000ULL);
	args->tai_offset_s = state->tai_offset_s;
	/* an unbracketed read still beats none; the first tick refines it */
	if (!__sync_timer_realtime_offset(state->tai_offset_s, bpf_ktime_get_ns(), &mono, &offset))
		offset = bpf_ktime_get_tai_ns() - bpf_ktime_get_ns() - (__u64)(__s64)state->tai_offset_s * 1000000000ULL;
	state->realtime_offset_ns = (__s64)offset;
	return bpf_ktime_get_ns();
}

/*
 * Body of the init program; `timer_cb` is the generated timer callback.
 * `args` is a stack copy of the context: the verifier rejects ctx stores
 * through the offset pointers clang likes to form across many exit paths.
 */
static __always_inline void __sync_timer_init(struct sync_timer_init_args *args, void *states_map,
					      void *timer_cb, __u64 interval)
{
	struct sync_timer_state fresh = {};
	struct sync_timer_state *state;
	__u32 cpu = args->cpu;
	__u32 mode = args->mode;
	__u32 clock = args->clock;
	__u64 now, offset = 0, index;
	long ret;

	args->error = SYNC_TIMER_SUCCESS;
	args->err_no = 0;
	args->first_expiry_ns = 0;
	args->first_index = 0;
	args->tai_offset_s = 0;
	args->interval_ns = interval;

	if (mode > SYNC_TIMER_MODE_LEGACY || clock > SYNC_TIMER_CLOCK_REALTIME) {
		args->error = SYNC_TIMER_INVALID_OPTION;
		return;
	}
	if (clock == SYNC_TIMER_CLOCK_REALTIME && (!SYNC_TIMER_REALTIME_ENABLED || mode == SYNC_TIMER_MODE_LEGACY)) {
		args->error = SYNC_TIMER_CLOCK_UNSUPPORTED;
		return;
	}
	if (interval < SYNC_TIMER_MIN_INTERVAL_NS) {
		args->error = SYNC_TIMER_INTERVAL_INVALID;
		return;
	}
	if (bpf_get_smp_processor_id() != cpu) {
		args->error = SYNC_TIMER_WRONG_CPU;
		return;
	}

	/* Replacing the element cancels and frees a timer it already had. */
	ret = bpf_map_update_elem(states_map, &cpu, &fresh, BPF_ANY);
	if (ret < 0) {
		args->error = SYNC_TIMER_MAP_UPDATE_FAILED;
		args->err_no = ret;
		return;
	}
	state = bpf_map_lookup_elem(states_map, &cpu);
	if (!state) {
		args->error = SYNC_TIMER_MAP_LOOKUP_FAILED;
		return;
	}

	/* CLOCK_MONOTONIC also for a realtime grid: see "Realtime grid" above */
	ret = bpf_timer_init(&state->timer, states_map, CLOCK_MONOTONIC);
	if (ret < 0) {
		args->error = SYNC_TIMER_TIMER_INIT_FAILED;
		args->err_no = ret;
		return;
	}
	ret = bpf_timer_set_callback(&state->timer, timer_cb);
	if (ret < 0) {
		args->error = SYNC_TIMER_TIMER_SET_CALLBACK_FAILED;
		args->err_no = ret;
		return;
	}

	state->clock = clock;
	if (SYNC_TIMER_REALTIME_ENABLED && clock == SYNC_TIMER_CLOCK_REALTIME) {
		now = __sync_timer_init_realtime(args, state);
		offset = (__u64)state->realtime_offset_ns;
	} else {
		now = bpf_ktime_get_ns();
	}
	index = (now + offset) / interval + 1;

	/* set before starting: the callback may run as soon as it is armed */
	state->interval_ns = interval;
	state->next_index = index;
	state->next_expected_ns = index * interval - offset;
	state->cpu = cpu;
	state->mode = mode;

	/* no fallback here: an -EINVAL tells user space the mode is unsupported */
	ret = __sync_timer_arm(&state->timer, mode, state->next_expected_ns);
	if (ret < 0) {
		args->error = SYNC_TIMER_TIMER_START_FAILED;
		args->err_no = ret;
		return;
	}

	args->first_expiry_ns = index * interval - offset;
	args->first_index = index;
	return;
}

/*
 * The two accepted user callback types; anything else fails to compile. The
 * CPU-only one is the original crate's; sync_timer_legacy_callback_t is its
 * earlier name here (unrelated to the legacy timer mode).
 */
typedef void (*sync_timer_callback_t)(__u32 cpu, const struct sync_timer_tick *tick);
typedef void (*sync_timer_cpu_callback_t)(__u32 cpu);
typedef sync_timer_cpu_callback_t sync_timer_legacy_callback_t;

#define __SYNC_TIMER_CALL(cb, cpu, tick)                                        \
	_Generic((cb),                                                          \
		sync_timer_callback_t:                                          \
			((sync_timer_callback_t)(cb))((cpu), (tick)),           \
		sync_timer_cpu_callback_t:                                      \
			((sync_timer_cpu_callback_t)(cb))((cpu)))

#define DEFINE_SYNC_TIMER(_name, _callback, _interval_ns)                       \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                                \
		__uint(max_entries, SYNC_TIMER_MAX_CPUS);                       \
		__type(key, __u32);                                             \
		__type(value, struct sync_timer_state);                         \
	} sync_timer_states_##_name SEC(".maps");                               \
                                                                                \
	static int sync_timer_cb_##_name(void *__st_map, __u32 *__st_key,       \
					 struct sync_timer_state *__st_state)   \
	{                                                                       \
		struct sync_timer_tick __st_tick = {};                          \
		int __st_begin;                                                 \
                                                                                \
		(void)__st_map;                                                 \
		(void)__st_key;                                                 \
		__st_begin = __sync_timer_tick_begin(__st_state, &__st_tick);   \
		if (__st_begin == __SYNC_TIMER_STOP)                            \
			return 0;                                               \
		if (__st_begin == __SYNC_TIMER_TICK)                            \
			__SYNC_TIMER_CALL(_callback, __st_tick.cpu, &__st_tick); \
		__sync_timer_tick_end(__st_state);                              \
		return 0;                                                       \
	}                                                                       \
                                                                                \
	SEC("syscall")                                                          \
	int sync_timer_init_##_name(struct sync_timer_init_args *__st_ctx)      \
	{                                                                       \
		struct sync_timer_init_args __st_args = {};                     \
                                                                                \
		__st_args.cpu = __st_ctx->cpu;                                  \
		__st_args.mode = __st_ctx->mode;                                \
		__st_args.clock = __st_ctx->clock;                              \
		__st_args.realtime_ns = __st_ctx->realtime_ns;                  \
		__sync_timer_init(&__st_args, &sync_timer_states_##_name,       \
				  sync_timer_cb_##_name, (_interval_ns));       \
		__st_ctx->error = __st_args.error;                              \
		__st_ctx->err_no = __st_args.err_no;                            \
		__st_ctx->first_expiry_ns = __st_args.first_expiry_ns;          \
		__st_ctx->interval_ns = __st_args.interval_ns;                  \
		__st_ctx->tai_offset_s = __st_args.tai_offset_s;                \
		__st_ctx->first_index = __st_args.first_index;                  \
		return 0;                                                       \
	}

#endif /* SYNC_TIMER_BPF_H */
