// The newest kernel in Debian experimental (scripts/vm/run.sh --kernel experimental), whatever
// its version (7.3 release candidates at the time of writing): modern mode; see suites.ts.
import { tickingKernelSuite } from './suites';

tickingKernelSuite('Linux from Debian experimental (modern mode)', {
  release: /^[7-9]\.\d+/,
  mode: 'modern',
  modeReason: /^modern: it accepts BPF_F_TIMER_ABS \| BPF_F_TIMER_CPU_PIN/,
  alsoForcible: ['intermediate', 'legacy'],
});
