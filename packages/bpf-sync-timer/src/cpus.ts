// Which CPUs to arm, and why the others are skipped.

/** Why a CPU was not armed. */
export type SkipReason = 'offline' | 'not-allowed' | 'not-possible';

/** A CPU not armed, with the reason. */
export interface SkippedCpu {
  cpu: number;
  reason: SkipReason;
}

/** The CPU facts a selection is made from. */
export interface CpuFacts {
  possible: number[];
  online: number[];
  allowed: number[];
}

/**
 * Arms the requested CPUs (default: all possible ones) that are online and in this
 * process's affinity; the rest are skipped with the reason, never failing the start.
 */
export function selectCpus(facts: CpuFacts, requested?: readonly number[]): { cpus: number[]; skipped: SkippedCpu[] } {
  const possible = new Set(facts.possible);
  const online = new Set(facts.online);
  const allowed = new Set(facts.allowed);
  const wanted = requested ? [...new Set(requested)].sort((a, b) => a - b) : [...facts.possible];
  const cpus: number[] = [];
  const skipped: SkippedCpu[] = [];
  for (const cpu of wanted) {
    if (!possible.has(cpu)) skipped.push({ cpu, reason: 'not-possible' });
    else if (!online.has(cpu)) skipped.push({ cpu, reason: 'offline' });
    else if (!allowed.has(cpu)) skipped.push({ cpu, reason: 'not-allowed' });
    else cpus.push(cpu);
  }
  return { cpus, skipped };
}
