// CPU hotplug: a timer whose CPU goes offline is moved by the kernel to another CPU,
// where it stops itself (sync_timer.bpf.h). This watcher notices CPUs going offline and
// coming back, and re-arms the timer on a CPU once it is online again (or whenever its
// timer stopped after a migration).
import type { SyncTimerError } from './errors';
import type { CpuArmResult } from './modes';
import type { CpuTimerStats } from './stats';

/** What the watcher reports. */
export type HotplugEvent =
  | { type: 'cpu-offline'; cpu: number }
  | { type: 'cpu-rearmed'; cpu: number; /** ms since the CPU was seen offline (or its timer stopped) */ downForMs: number }
  | { type: 'cpu-rearm-failed'; cpu: number; error: SyncTimerError };

/** What the watcher needs from the timer; injectable for tests. */
export interface WatchDeps {
  online(): number[];
  stats(cpus: number[]): CpuTimerStats[];
  rearm(cpus: number[]): Promise<CpuArmResult[]>;
  emit(event: HotplugEvent): void;
  now(): number;
}

/** Tracks which CPUs are armed and restores the ones that come back. */
export class CpuWatcher {
  readonly #armed: Set<number>;
  /** CPUs to re-arm once online, with the time they went down. */
  readonly #down = new Map<number, number>();
  #busy = false;

  constructor(armed: readonly number[], waitingForOnline: readonly number[], private readonly deps: WatchDeps) {
    this.#armed = new Set(armed);
    for (const cpu of waitingForOnline) this.#down.set(cpu, deps.now());
  }

  /** Armed CPUs, ascending. */
  get armed(): number[] {
    return [...this.#armed].sort((a, b) => a - b);
  }

  /** CPUs waiting to come back online, ascending. */
  get waiting(): number[] {
    return [...this.#down.keys()].sort((a, b) => a - b);
  }

  /** One round: notice offline CPUs, re-arm returning ones and stopped timers. */
  async check(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const online = new Set(this.deps.online());
      for (const cpu of this.armed) {
        if (online.has(cpu)) continue;
        this.#armed.delete(cpu);
        this.#down.set(cpu, this.deps.now());
        this.deps.emit({ type: 'cpu-offline', cpu });
      }
      for (const s of this.deps.stats(this.armed)) {
        if (s.stopped && !this.#down.has(s.cpu)) {
          this.#armed.delete(s.cpu);
          this.#down.set(s.cpu, this.deps.now());
        }
      }
      const back = this.waiting.filter((cpu) => online.has(cpu));
      if (back.length === 0) return;
      for (const r of await this.deps.rearm(back)) {
        if (r.error) {
          this.deps.emit({ type: 'cpu-rearm-failed', cpu: r.cpu, error: r.error });
          continue;
        }
        const since = this.#down.get(r.cpu)!;
        this.#down.delete(r.cpu);
        this.#armed.add(r.cpu);
        this.deps.emit({ type: 'cpu-rearmed', cpu: r.cpu, downForMs: this.deps.now() - since });
      }
    } finally {
      this.#busy = false;
    }
  }
}
