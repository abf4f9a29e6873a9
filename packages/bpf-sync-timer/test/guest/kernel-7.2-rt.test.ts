// sid's 7.2 PREEMPT_RT (scripts/vm/run.sh --kernel 7.2-rt); see suites.ts.
import { clockStepSuite } from './clock-step';
import { realtimeKernelSuite } from './suites';

realtimeKernelSuite('Linux 7.2 PREEMPT_RT (Debian sid)', { release: /^7\.2\.\S+-rt-/ });

// thread mode keeps the realtime grid on PREEMPT_RT too
clockStepSuite('Linux 7.2 PREEMPT_RT: clock steps on a realtime grid', ['auto'], { auto: 'thread' });
