// Debian 13's 6.12 (scripts/vm/run.sh --kernel 6.12): modern mode; see suites.ts.
import { tickingKernelSuite } from './suites';

tickingKernelSuite('Linux 6.12 (Debian 13, modern mode)', {
  release: /^6\.12\./,
  mode: 'modern',
  modeReason: /^modern: it accepts BPF_F_TIMER_ABS \| BPF_F_TIMER_CPU_PIN/,
  alsoForcible: ['intermediate', 'legacy'],
});
