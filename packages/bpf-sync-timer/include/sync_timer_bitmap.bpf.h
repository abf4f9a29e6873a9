/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync_timer_bitmap.bpf.h - consumer side of the shared sync timer.
 *
 * The shared timer object (bpf/sync_timer.bpf.c) fires one bpf_timer per CPU
 * on every multiple of the interval (CLOCK_MONOTONIC, or CLOCK_REALTIME when
 * started with clock 'realtime': then tick_index is the wall-clock grid point
 * / interval, the same on every host with a synchronised clock, and
 * tick_index * interval_ns that grid point in ns since the epoch; nominal_ns
 * and fired_ns stay CLOCK_MONOTONIC either way). On each tick it fills
 * this CPU's entry of the `sync_timer_bitmap` per-CPU array and then sets all
 * 64 bits of trigger_mask. A subscriber owns one bit (an id in 0..63 handed
 * out by user space) and, from a program attached to
 * tracepoint/timer/hrtimer_expire_exit (or tp_btf/hrtimer_expire_exit),
 * calls sync_timer_take_tick() (or sync_timer_check_and_reset(), the seeds'
 * form): it hands a tick to a subscriber at most once per tick. bpf_timer
 * itself is unavailable to tracing programs, hence this indirection.
 *
 * Usage in a consumer object (user space: timer.subscribe(open, { idVariable:
 * 'my_sync_timer_id' }) shares the map, sets the id, loads and attaches):
 *
 *   #include "sync_timer_bitmap.bpf.h"
 *
 *   SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);
 *   const volatile __u64 my_sync_timer_id;   // set by user space before load
 *
 *   SEC("tracepoint/timer/hrtimer_expire_exit")
 *   int on_expire_exit(void *ctx)
 *   {
 *       struct sync_timer_bitmap_entry *tick =
 *           sync_timer_take_tick(&sync_timer_bitmap, my_sync_timer_id);
 *
 *       if (!tick)
 *           return 0;                 // not a tick, or not for this subscriber
 *       if (sync_timer_tick_migrated(tick))
 *           return 0;                 // fired on another CPU than armed for
 *       // one tick for this subscriber: tick->tick_index, nominal_ns, ...
 *       return 0;
 *   }
 *
 * The explicit form, as the seeds write it, keeps working: declare the map
 * yourself (a BPF_MAP_TYPE_PERCPU_ARRAY, one entry, key __u32, value
 * struct sync_timer_bitmap_entry), call sync_timer_check_and_reset() and
 * look the entry up yourself.
 *
 * A tick a subscriber does not see before the next one is overwritten; a
 * jump in tick_index (beyond `missed` growth) shows it.
 *
 * User space must make the consumer's `sync_timer_bitmap` share the timer
 * object's map (bpf_map__reuse_fd before load) - otherwise the bits are
 * never set.
 *
 * Build with -mcpu=v3 (the project default). The test-and-clear is a
 * BPF_ATOMIC fetch-and instruction, so it needs kernel >= 5.12. clang 14
 * emits it for any -mcpu; some older clangs reject a used fetch result
 * below v3.
 */
#ifndef SYNC_TIMER_BITMAP_BPF_H
#define SYNC_TIMER_BITMAP_BPF_H

/* Standalone use: the map declaration above needs the uapi map types. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>
#endif
#include <bpf/bpf_helpers.h>

/* Layout is a contract with user space: keep field order, sizes, offsets. */
struct sync_timer_bitmap_entry {
	__u32 expected_cpu;  /* CPU this tick was armed for */
	__u64 trigger_mask;  /* all bits set on every tick; subscribers clear theirs */
	__u64 tick_index;    /* grid point / interval_ns on the grid's clock (monotonic: nominal_ns / interval_ns), equal across CPUs per grid point */
	__u64 nominal_ns;    /* grid point (CLOCK_MONOTONIC ns) of this tick, also on a realtime grid */
	__u64 interval_ns;
	__u64 fired_ns;      /* bpf_ktime_get_ns() when the callback ran */
	__u64 missed;        /* grid points skipped on this CPU so far (cumulative) */
};

_Static_assert(sizeof(struct sync_timer_bitmap_entry) == 56, "bitmap entry size");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, expected_cpu) == 0, "expected_cpu");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, trigger_mask) == 8, "trigger_mask");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, tick_index) == 16, "tick_index");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, nominal_ns) == 24, "nominal_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, interval_ns) == 32, "interval_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, fired_ns) == 40, "fired_ns");
_Static_assert(__builtin_offsetof(struct sync_timer_bitmap_entry, missed) == 48, "missed");

/*
 * Takes this CPU's pending tick for subscriber `subscriber_id`: atomically
 * test-and-clears its bit and returns this CPU's bitmap entry (the tick's
 * details) when the bit was set, NULL otherwise: no tick since the last call,
 * an id >= 64 (use 64 as "no id yet"), or no entry. At most one non-NULL
 * return per tick per subscriber. The verifier needs the NULL check.
 * `bitmap_map` is the consumer's BPF_MAP_TYPE_PERCPU_ARRAY (SYNC_TIMER_BITMAP_MAP).
 *
 * The entry stays valid for the program's run (it is a map value), but the
 * next tick on this CPU overwrites it: copy what you keep. It is returned
 * for a migrated tick too (in legacy and intermediate mode a timer can run on
 * another CPU than it was armed for); sync_timer_tick_migrated() tells.
 *
 * Cost: the program runs on every hrtimer expiry of its CPU, and most are not
 * ticks, so that path is kept to three loads and a few well-predicted
 * branches (the id, the per-CPU entry's address through the PERCPU_ARRAY
 * lookup the kernel inlines, its trigger_mask):
 * the bit is read plainly first and the atomic instruction (a lock cmpxchg
 * loop on x86) runs only when it is set. The plain read is exact: the bit is
 * set and cleared only on this CPU (per-CPU entry); the atomic still settles
 * a race with an NMI-context subscriber on the same CPU. What remains is
 * memory: on a cold cache those loads, not the instructions, are the cost
 * (bench/subscriber measures it against an empty program).
 */
static __always_inline struct sync_timer_bitmap_entry *
sync_timer_take_tick(void *bitmap_map, __u64 subscriber_id)
{
	struct sync_timer_bitmap_entry *entry;
	__u32 key = 0;
	__u64 bit;

	/* also keeps the shift defined: x86 would take 1 << 64 as 1 << 0 */
	if (subscriber_id >= 64)
		return NULL;

	entry = bpf_map_lookup_elem(bitmap_map, &key);
	if (!entry)
		return NULL;

	bit = 1ULL << subscriber_id;
	if (!(*(volatile __u64 *)&entry->trigger_mask & bit))
		return NULL; /* not our tick: the common case */
	/* atomic: an NMI-context subscriber may race on the same CPU */
	if (!(__sync_fetch_and_and(&entry->trigger_mask, ~bit) & bit))
		return NULL;
	return entry;
}

/*
 * Atomically test-and-clear bit `subscriber_id` of this CPU's entry (the
 * seeds' form). Returns 1 if the bit was set (a tick is pending for this
 * subscriber: once per tick), 0 otherwise, for ids >= 64, or if the entry is
 * missing. `bitmap_map` is the consumer's BPF_MAP_TYPE_PERCPU_ARRAY declared
 * above. Same path and cost as sync_timer_take_tick(): a plain read of the
 * bit first, the atomic only when it is set.
 */
static __always_inline int sync_timer_check_and_reset(void *bitmap_map, __u64 subscriber_id)
{
	return sync_timer_take_tick(bitmap_map, subscriber_id) ? 1 : 0;
}

/*
 * Declares the subscriber's side of the shared bitmap: a per-CPU array named
 * `name` with the timer's layout. User space makes it share the timer's map
 * before load (timer.subscribe does; by hand: reuseFd(timer.borrowedMapFd())),
 * otherwise no bit is ever set in it. Use once per object, at file scope:
 *
 *   SYNC_TIMER_BITMAP_MAP(sync_timer_bitmap);
 */
#define SYNC_TIMER_BITMAP_MAP(name)                                          \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                     \
		__uint(max_entries, 1);                                      \
		__type(key, __u32);                                          \
		__type(value, struct sync_timer_bitmap_entry);               \
	} name SEC(".maps")

/*
 * Nonzero when `tick` (from sync_timer_take_tick) fired on another CPU than
 * the one its timer was armed for, i.e. the timer migrated: modern mode pins
 * timers, so there it stays 0. Such a tick belongs to the CPU in
 * tick->expected_cpu, not to the current one.
 */
static __always_inline int sync_timer_tick_migrated(const struct sync_timer_bitmap_entry *tick)
{
	return tick->expected_cpu != bpf_get_smp_processor_id();
}

#endif /* SYNC_TIMER_BITMAP_BPF_H */
