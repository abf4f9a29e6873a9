// sid's 7.2 (scripts/vm/run.sh --kernel 7.2): modern mode; see suites.ts.
import { clockStepSuite, taiChangeSuite } from './clock-step';
import { tickingKernelSuite } from './suites';

tickingKernelSuite('Linux 7.2 (Debian sid, modern mode)', {
  release: /^7\.2\./,
  mode: 'modern',
  modeReason: /^modern: it accepts BPF_F_TIMER_ABS \| BPF_F_TIMER_CPU_PIN/,
  alsoForcible: ['intermediate', 'legacy'],
});

clockStepSuite('Linux 7.2: clock steps on a realtime grid', ['modern', 'thread']);
taiChangeSuite("Linux 7.2: the kernel's TAI - UTC offset changing under a realtime grid", 'modern');
