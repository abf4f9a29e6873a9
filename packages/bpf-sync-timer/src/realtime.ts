// Upkeep of a realtime grid in the bpf_timer modes. Their conversion from TAI to UTC uses the
// kernel's TAI - UTC offset as it was when each CPU was armed; when the kernel's changes
// afterwards (a leap second, or an NTP daemon such as chronyd with `leapsectz` setting it for
// the first time after the timer started), the timer would publish indices shifted by whole
// seconds. SyncTimer's periodic check compares each CPU's realtime - monotonic offset, as the
// timer last computed it, with this process's own reading and corrects the CPU's TAI offset
// when they differ by whole seconds; the next tick then re-aligns, counted as a clock step.
// Thread mode reads CLOCK_REALTIME itself and needs none of this.
import type { BpfMap, BpfProgram } from '@bpf-sync-timer/libbpf';
import { sync_timer_state, sync_timer_tai_update } from './abi';

const NS_PER_S = 1_000_000_000n;

/** CLOCK_REALTIME - CLOCK_MONOTONIC as this process reads it (to Date.now()'s millisecond). */
export function realtimeMinusMonotonicNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

/** What the check needs of one CPU's `struct sync_timer_state`. */
export interface RealtimeState {
  cpu: number;
  taiOffsetS: number;
  realtimeOffsetNs: bigint;
  lastFiredNs: bigint;
}

/** A CPU whose TAI - UTC offset is stale, and the one it needs. */
export interface TaiCorrection {
  cpu: number;
  from: number;
  to: number;
}

/**
 * The corrections `states` need, given this process's realtime - monotonic reading: whole
 * seconds only (a difference under half a second is reading noise or a tick not yet taken).
 */
export function taiCorrections(states: readonly RealtimeState[], userOffsetNs: bigint): TaiCorrection[] {
  const out: TaiCorrection[] = [];
  for (const s of states) {
    const diff = s.realtimeOffsetNs - userOffsetNs;
    const seconds = Number((diff + (diff < 0n ? -NS_PER_S : NS_PER_S) / 2n) / NS_PER_S);
    if (seconds !== 0) out.push({ cpu: s.cpu, from: s.taiOffsetS, to: s.taiOffsetS + seconds });
  }
  return out;
}

/**
 * Keeps the TAI - UTC offset of a realtime grid's CPUs current. A correction is applied only
 * when two checks in a row find it and the CPU ticked in between: right after a real clock
 * step the timer's offset lags until its next tick, which is no TAI change.
 */
export class TaiOffsetKeeper {
  #pending = new Map<number, { to: number; lastFiredNs: bigint }>();

  constructor(private readonly states: () => BpfMap, private readonly program: () => BpfProgram,
    private readonly log: (message: string) => void, private readonly userOffset = realtimeMinusMonotonicNs) {}

  /** One check of `cpus`; returns the corrections applied. */
  check(cpus: readonly number[]): TaiCorrection[] {
    const states = this.#read(cpus);
    const found = taiCorrections(states, this.userOffset());
    const applied: TaiCorrection[] = [];
    const next = new Map<number, { to: number; lastFiredNs: bigint }>();
    for (const c of found) {
      const lastFiredNs = states.find((s) => s.cpu === c.cpu)!.lastFiredNs;
      const before = this.#pending.get(c.cpu);
      if (before && before.to === c.to && before.lastFiredNs !== lastFiredNs) {
        this.#apply(c);
        applied.push(c);
      } else {
        next.set(c.cpu, { to: c.to, lastFiredNs });
      }
    }
    this.#pending = next;
    return applied;
  }

  #read(cpus: readonly number[]): RealtimeState[] {
    const map = this.states();
    const out: RealtimeState[] = [];
    for (const cpu of cpus) {
      const v = map.lookup(cpu);
      if (!v) continue;
      const s = sync_timer_state.decode(v);
      if (s.ticks === 0n) continue; // not ticked yet: its offset is init's
      out.push({ cpu, taiOffsetS: s.tai_offset_s, realtimeOffsetNs: s.realtime_offset_ns, lastFiredNs: s.last_fired_ns });
    }
    return out;
  }

  #apply(c: TaiCorrection): void {
    const ctxIn = sync_timer_tai_update.encode({ cpu: c.cpu, tai_offset_s: c.to }, Buffer.alloc(sync_timer_tai_update.size)) as Buffer;
    const r = this.program().testRun({ ctxIn });
    this.log(r.retval === 0
      ? `CPU ${c.cpu}: the kernel's TAI - UTC offset is ${c.to} s now (was ${c.from} s when armed): corrected, the next tick re-aligns`
      : `CPU ${c.cpu}: TAI - UTC offset correction found no timer`);
  }
}
