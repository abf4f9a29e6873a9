// Runs INSIDE a Debian 6.1 PREEMPT_RT guest (scripts/vm/run.sh --kernel 6.1-rt), driven by
// scripts/test/kernel-matrix.test.mjs; never on the host.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { BpfObject, VerifierError } from '@bpf-sync-timer/libbpf';
import { SyncTimer, SyncTimerError, TIMER_OBJECT_PATH } from '../../src/index';
import { fdCount } from '../kernel/helpers';

describe('Linux 6.1 PREEMPT_RT', () => {
  it('is a realtime kernel', () => {
    assert.equal(fs.readFileSync('/sys/kernel/realtime', 'utf8').trim(), '1');
  });

  it('start() fails with UNSUPPORTED_KERNEL naming PREEMPT_RT and leaks nothing', async () => {
    const before = fdCount();
    const migration = fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8');
    await assert.rejects(SyncTimer.start(1_000_000), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'UNSUPPORTED_KERNEL' && /PREEMPT_RT/.test(e.message));
    assert.equal(fdCount(), before);
    assert.equal(fs.readFileSync('/proc/sys/kernel/timer_migration', 'utf8'), migration);
  });

  it('the verifier itself refuses bpf_timer here (what the up-front check spares the user)', () => {
    const open = BpfObject.open(TIMER_OBJECT_PATH);
    assert.throws(() => open.load(), (e: unknown) => e instanceof VerifierError && /PREEMPT_RT/.test(e.log) && e.code === 'EACCES');
  });
});
