// Debian 13's 6.12 PREEMPT_RT (scripts/vm/run.sh --kernel 6.12-rt); see suites.ts.
import { realtimeKernelSuite } from './suites';

realtimeKernelSuite('Linux 6.12 PREEMPT_RT (Debian 13)', { release: /^6\.12\.\S+-rt-/ });
