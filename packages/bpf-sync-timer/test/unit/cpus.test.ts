import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectCpus } from '../../src/cpus';

describe('selectCpus', () => {
  const facts = { possible: [0, 1, 2, 3], online: [0, 1, 3], allowed: [0, 1, 2] };
  it('arms online CPUs in the affinity and reports the rest with a reason', () => {
    assert.deepEqual(selectCpus(facts), {
      cpus: [0, 1],
      skipped: [{ cpu: 2, reason: 'offline' }, { cpu: 3, reason: 'not-allowed' }],
    });
  });
  it('honours a requested list, dropping duplicates and impossible CPUs', () => {
    assert.deepEqual(selectCpus(facts, [1, 1, 9, 0]), { cpus: [0, 1], skipped: [{ cpu: 9, reason: 'not-possible' }] });
  });
});
