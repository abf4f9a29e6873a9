// Debian 11's 5.10 (scripts/vm/run.sh --kernel 5.10): older than bpf_timer; see suites.ts.
import { oldKernelSuite } from './suites';

oldKernelSuite('Linux 5.10 (Debian 11): refused', { release: /^5\.10\./ });
