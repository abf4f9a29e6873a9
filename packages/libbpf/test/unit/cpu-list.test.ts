// Kernel CPU lists (/sys/devices/system/cpu/{possible,online}, cpusets).
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatCpuList, parseCpuList } from '../../src/cpu';
import { BpfArgumentError } from '../../src/errors';
import { installFakeNative } from '../support/fake-native';

// Nothing is scripted: any call into the addon would throw (this is pure TypeScript).
installFakeNative();

describe('parseCpuList', () => {
  it('expands ranges and singles into sorted CPU numbers', () => {
    assert.deepEqual(parseCpuList('0-3,5,7-8'), [0, 1, 2, 3, 5, 7, 8]);
    assert.deepEqual(parseCpuList('0\n'), [0]);
    assert.deepEqual(parseCpuList(' 2-3 , 0 \n'), [0, 2, 3]);
  });
  it('sorts and removes duplicates', () => {
    assert.deepEqual(parseCpuList('8,0-2,1,2-3'), [0, 1, 2, 3, 8]);
  });
  it('reads an empty list (no CPUs) as []', () => {
    assert.deepEqual(parseCpuList(''), []);
    assert.deepEqual(parseCpuList('\n'), []);
  });
  it('rejects malformed lists and descending ranges', () => {
    for (const bad of ['0-', '-1', 'a', '0,,1', '1-2-3', '0x1']) {
      assert.throws(() => parseCpuList(bad), (e: unknown) => e instanceof BpfArgumentError && e.argument === 'cpu list', bad);
    }
    assert.throws(() => parseCpuList('3-1'), /descending range '3-1'/);
  });
});

describe('formatCpuList', () => {
  it('collapses runs into ranges', () => {
    assert.equal(formatCpuList([5, 0, 1, 2, 3, 7, 8]), '0-3,5,7-8');
    assert.equal(formatCpuList([4]), '4');
    assert.equal(formatCpuList([1, 1, 2]), '1-2');
    assert.equal(formatCpuList([]), '');
  });
  it('round-trips with parseCpuList', () => {
    for (const list of ['0', '0-1', '0-3,5,7-8', '1,3,5,7', '0-127']) {
      assert.equal(formatCpuList(parseCpuList(list)), list);
    }
  });
});
