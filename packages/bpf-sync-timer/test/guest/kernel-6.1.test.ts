// Debian 12's 6.1 (scripts/vm/run.sh --kernel 6.1): no BPF_F_TIMER_ABS (6.4) nor
// BPF_F_TIMER_CPU_PIN (6.7), so auto mode probes down to legacy; see suites.ts.
import { clockStepSuite } from './clock-step';
import { tickingKernelSuite } from './suites';

tickingKernelSuite('Linux 6.1 (Debian 12, legacy mode)', {
  release: /^6\.1\./,
  mode: 'legacy',
  modeReason: /rejected modern and intermediate/,
  unsupported: { mode: 'modern', minKernel: '6.7' },
});

// legacy mode cannot keep a realtime grid: auto takes thread mode for it here
clockStepSuite('Linux 6.1: clock steps on a realtime grid', ['auto'], { auto: 'thread' });
