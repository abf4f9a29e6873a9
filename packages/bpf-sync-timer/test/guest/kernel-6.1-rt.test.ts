// Debian 12's 6.1 PREEMPT_RT (scripts/vm/run.sh --kernel 6.1-rt); see suites.ts.
import { realtimeKernelSuite } from './suites';

realtimeKernelSuite('Linux 6.1 PREEMPT_RT (Debian 12)', { release: /^6\.1\.\S+-rt-/ });
