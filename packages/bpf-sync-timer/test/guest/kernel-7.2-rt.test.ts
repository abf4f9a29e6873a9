// sid's 7.2 PREEMPT_RT (scripts/vm/run.sh --kernel 7.2-rt); see suites.ts.
import { realtimeKernelSuite } from './suites';

realtimeKernelSuite('Linux 7.2 PREEMPT_RT (Debian sid)', { release: /^7\.2\.\S+-rt-/ });
