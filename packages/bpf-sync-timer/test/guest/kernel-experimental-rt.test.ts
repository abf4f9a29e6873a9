// The newest PREEMPT_RT kernel in Debian experimental (scripts/vm/run.sh --kernel experimental-rt); see suites.ts.
import { realtimeKernelSuite } from './suites';

realtimeKernelSuite('Linux PREEMPT_RT from Debian experimental', { release: /^[7-9]\.\d+\S*-rt-/ });
