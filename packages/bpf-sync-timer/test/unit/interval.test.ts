import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkInterval, MAX_INTERVAL_NS, MIN_INTERVAL_NS } from '../../src/interval';
import { SyncTimerError } from '../../src/errors';

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SyncTimerError);
    return e.code;
  }
  return 'no error';
};

describe('checkInterval', () => {
  it('accepts integers in range as number or bigint and returns a bigint', () => {
    assert.equal(checkInterval(1000), 1000n);
    assert.equal(checkInterval(1_000_000n), 1_000_000n);
    assert.equal(checkInterval(MAX_INTERVAL_NS), MAX_INTERVAL_NS);
    assert.equal(checkInterval(Number(MIN_INTERVAL_NS)), MIN_INTERVAL_NS);
  });
  it('gives each bad input its code', () => {
    assert.equal(codeOf(() => checkInterval(NaN)), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval(-Infinity)), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval(10.5)), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval('5000')), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval(null)), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval({})), 'INTERVAL_INVALID');
    assert.equal(codeOf(() => checkInterval(999)), 'INTERVAL_TOO_SMALL');
    assert.equal(codeOf(() => checkInterval(-1000)), 'INTERVAL_TOO_SMALL');
    assert.equal(codeOf(() => checkInterval(MAX_INTERVAL_NS + 1n)), 'INTERVAL_TOO_LARGE');
    assert.equal(codeOf(() => checkInterval(2n ** 63n)), 'INTERVAL_TOO_LARGE');
    assert.equal(codeOf(() => checkInterval(2 ** 63)), 'INTERVAL_TOO_LARGE');
  });
});
