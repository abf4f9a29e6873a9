import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdAllocator } from '../../src/subscribers';
import { SyncTimerError } from '../../src/errors';

describe('IdAllocator', () => {
  it('hands out 0..63 in order, then IDS_EXHAUSTED', () => {
    const a = new IdAllocator();
    assert.deepEqual(Array.from({ length: 64 }, () => a.assign()), Array.from({ length: 64 }, (_, i) => i));
    assert.throws(() => a.assign(), (e: unknown) => e instanceof SyncTimerError && e.code === 'IDS_EXHAUSTED');
  });
  it('reuses the lowest released id', () => {
    const a = new IdAllocator();
    for (let i = 0; i < 10; i++) a.assign();
    a.release(7);
    a.release(3);
    assert.equal(a.assign(), 3);
    assert.equal(a.assign(), 7);
    assert.equal(a.assign(), 10);
  });
  it('checks released ids', () => {
    const a = new IdAllocator();
    a.assign();
    for (const bad of [-1, 64, 1.5, NaN]) assert.throws(() => a.release(bad), (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_ID');
    assert.throws(() => a.release(1), (e: unknown) => e instanceof SyncTimerError && e.code === 'ID_NOT_ASSIGNED');
    a.release(0);
    assert.deepEqual(a.assigned, []);
  });
});
