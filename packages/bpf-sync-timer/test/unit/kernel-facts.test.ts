import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkKernel, isPreemptRt, parseKernelRelease } from '../../src/kernel';
import { decodeBitmapEntry } from '../../src/bitmap';
import { SyncTimerError } from '../../src/errors';

describe('kernel checks', () => {
  it('knows PREEMPT_RT by /sys/kernel/realtime or, on 7.x RT kernels without that file, by uname -v', () => {
    assert.equal(isPreemptRt('/nonexistent', '#1 SMP PREEMPT_RT Debian 7.2.13-1 (2026-10-01)'), true);
    assert.equal(isPreemptRt('/nonexistent', '#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1'), false);
    assert.equal(isPreemptRt('/nonexistent', '#1 SMP PREEMPT Debian 6.1.153-1'), false);
  });

  it('parses releases', () => {
    assert.deepEqual(parseKernelRelease('6.1.0-18-rt-amd64'), { major: 6, minor: 1 });
    assert.deepEqual(parseKernelRelease('garbage'), { major: 0, minor: 0 });
  });
  it('refuses kernels before 5.15 naming the cause, and takes PREEMPT_RT ones (thread mode)', () => {
    assert.throws(() => checkKernel('5.10.0'), (e: unknown) => e instanceof SyncTimerError && e.code === 'UNSUPPORTED_KERNEL' && /5\.15/.test(e.message));
    assert.doesNotThrow(() => checkKernel('5.15.0'));
    assert.doesNotThrow(() => checkKernel('6.1.0-18-rt-amd64'));
  });
  it('decodes a bitmap entry with the header layout', () => {
    const b = Buffer.alloc(56);
    b.writeUInt32LE(3, 0);
    b.writeBigUInt64LE(0xffn, 8);
    b.writeBigUInt64LE(42n, 16);
    b.writeBigUInt64LE(42_000_000n, 24);
    b.writeBigUInt64LE(1_000_000n, 32);
    b.writeBigUInt64LE(42_000_017n, 40);
    b.writeBigUInt64LE(2n, 48);
    assert.deepEqual(decodeBitmapEntry(b), { expectedCpu: 3, triggerMask: 0xffn, tickIndex: 42n, nominalNs: 42_000_000n, intervalNs: 1_000_000n, firedNs: 42_000_017n, missed: 2n });
  });
});
