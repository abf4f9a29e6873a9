// sid's 7.2 (scripts/vm/run.sh --kernel 7.2): modern mode; see suites.ts.
import { tickingKernelSuite } from './suites';

tickingKernelSuite('Linux 7.2 (Debian sid, modern mode)', {
  release: /^7\.2\./,
  mode: 'modern',
  modeReason: /^modern: it accepts BPF_F_TIMER_ABS \| BPF_F_TIMER_CPU_PIN/,
  alsoForcible: ['intermediate', 'legacy'],
});
