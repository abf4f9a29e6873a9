// Every bad input and every call on a closed timer throws its own code.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncTimer, SyncTimerError, type SyncTimerErrorCode } from '../../src/index';
import { fdCount, requireRoot } from './helpers';

const code = (c: SyncTimerErrorCode) => (e: unknown) => {
  assert.ok(e instanceof SyncTimerError, `expected a SyncTimerError, got ${String(e)}`);
  assert.equal(e.code, c, e.message);
  return true;
};

describe('SyncTimer errors', () => {
  it('rejects bad intervals before loading anything', async () => {
    requireRoot();
    const before = fdCount();
    const cases: Array<[unknown, SyncTimerErrorCode]> = [
      [NaN, 'INTERVAL_INVALID'], [1.5, 'INTERVAL_INVALID'], ['1000000', 'INTERVAL_INVALID'], [null, 'INTERVAL_INVALID'],
      [undefined, 'INTERVAL_INVALID'], [Infinity, 'INTERVAL_INVALID'], [-1, 'INTERVAL_TOO_SMALL'], [0, 'INTERVAL_TOO_SMALL'],
      [999, 'INTERVAL_TOO_SMALL'], [-5n, 'INTERVAL_TOO_SMALL'], [2n ** 63n, 'INTERVAL_TOO_LARGE'], [2 ** 64, 'INTERVAL_TOO_LARGE'],
      [3_600_000_000_001n, 'INTERVAL_TOO_LARGE'],
    ];
    for (const [value, c] of cases) await assert.rejects(SyncTimer.start(value as number), code(c), `interval ${String(value)}`);
    assert.equal(fdCount(), before, 'nothing was opened');
  });

  it('rejects bad options with INVALID_OPTION', async () => {
    requireRoot();
    await assert.rejects(SyncTimer.start(1_000_000, { mode: 'fast' as never }), code('INVALID_OPTION'));
    await assert.rejects(SyncTimer.start(1_000_000, { cpus: [] }), code('INVALID_OPTION'));
    await assert.rejects(SyncTimer.start(1_000_000, { cpus: [-1] }), code('INVALID_OPTION'));
    await assert.rejects(SyncTimer.start(1_000_000, { logger: 'x' as never }), code('INVALID_OPTION'));
  });

  it('skips CPUs that are not possible instead of failing', async () => {
    requireRoot();
    const t = await SyncTimer.start(1_000_000, { cpus: [0, 4000] });
    try {
      assert.deepEqual([...t.cpus], [0]);
      assert.deepEqual(t.skippedCpus, [{ cpu: 4000, reason: 'not-possible' }]);
    } finally {
      t.close();
    }
  });

  it('releaseId out of range or unassigned, and every call on a closed timer', async () => {
    requireRoot();
    const t = await SyncTimer.start(1_000_000);
    assert.throws(() => t.releaseId(64), code('INVALID_ID'));
    assert.throws(() => t.releaseId(-1), code('INVALID_ID'));
    assert.throws(() => t.releaseId(1.5), code('INVALID_ID'));
    assert.throws(() => t.releaseId(3), code('ID_NOT_ASSIGNED'));
    t.close();
    assert.throws(() => t.assignId(), code('CLOSED'));
    assert.throws(() => t.releaseId(0), code('CLOSED'));
    assert.throws(() => t.borrowedMapFd(), code('CLOSED'));
    assert.throws(() => t.duplicateMapFd(), code('CLOSED'));
    assert.throws(() => t.stats(), code('CLOSED'));
  });
});
