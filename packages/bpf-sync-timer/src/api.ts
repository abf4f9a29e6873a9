// The public API, by name: index.ts loads this module (and, through it, the rest of the
// package) through the code cache, and re-exports all of it.
export type { HotplugEvent } from './hotplug';
export { bpfCflags } from './cli/include-dir';
export { SyncTimer, initSyncTimerProgram, includeDir, TIMER_OBJECT_PATH, type SyncTimerOptions, type InitProgramOptions, type ProgramTimer } from './sync-timer';
export { SyncTimerError, SyncTimerErrorCode, type SyncTimerErrorDetails } from './errors';
export { MIN_INTERVAL_NS, MAX_INTERVAL_NS, checkInterval } from './interval';
export { CLOCKS, MODES, MODE_INFO, REALTIME_REFUSAL, type TimerClock, type TimerMode, type ModeOption } from './modes';
export { MAX_SUBSCRIBERS, Subscriber, type SubscribeOptions, type IdSection } from './subscribers';
export type { SkippedCpu, SkipReason } from './cpus';
export type { CpuTimerStats } from './stats';
export type { CpuLatenessHistogram } from './lateness';
export type { Log } from './sysctl';
export { decodeBitmapEntry, BITMAP_ENTRY_SIZE, type BitmapEntry } from './bitmap';
