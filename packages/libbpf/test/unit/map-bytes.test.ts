// toBytes: how keys and values given as Buffer, number or bigint become map bytes.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfArgumentError } from '../../src/errors';
import { toBytes } from '../../src/map';
import { installFakeNative } from '../support/fake-native';

// Nothing is scripted: any call into the addon would throw (this is pure TypeScript).
installFakeNative();

describe('toBytes', () => {
  it('passes a Buffer of the exact size through as is', () => {
    const b = Buffer.from([1, 2, 3]);
    assert.equal(toBytes('key', b, 3), b);
  });
  it('rejects a Buffer of another size, naming the argument', () => {
    assert.throws(() => toBytes('key', Buffer.alloc(3), 4), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'key' && e.message === 'key: expected 4 bytes, got 3');
  });
  it('encodes integers into 4-byte fields little-endian, negatives as two\'s complement', () => {
    assert.deepEqual(toBytes('key', 0x01020304, 4), Buffer.from([4, 3, 2, 1]));
    assert.deepEqual(toBytes('key', 0xffffffff, 4), Buffer.alloc(4, 0xff));
    assert.deepEqual(toBytes('key', -1, 4), Buffer.alloc(4, 0xff));
    assert.deepEqual(toBytes('key', 7n, 4), Buffer.from([7, 0, 0, 0]));
  });
  it('encodes integers into 8-byte fields', () => {
    assert.deepEqual(toBytes('value', 1n << 40n, 8), Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]));
    assert.deepEqual(toBytes('value', (1n << 64n) - 1n, 8), Buffer.alloc(8, 0xff));
    assert.deepEqual(toBytes('value', -1n, 8), Buffer.alloc(8, 0xff));
    assert.deepEqual(toBytes('value', 42, 8), Buffer.from([42, 0, 0, 0, 0, 0, 0, 0]));
  });
  it('rejects integers out of range for the field', () => {
    assert.throws(() => toBytes('key', 2 ** 32, 4), /4- or 8-byte fields in range/);
    assert.throws(() => toBytes('key', -(2 ** 31) - 1, 4), BpfArgumentError);
    assert.throws(() => toBytes('value', 1n << 64n, 8), BpfArgumentError);
    assert.throws(() => toBytes('value', -(1n << 63n) - 1n, 8), BpfArgumentError);
  });
  it('wants a Buffer for other sizes, and integers that are exact', () => {
    assert.throws(() => toBytes('key', 1, 2), /this one has 2 bytes \(pass a Buffer\)/);
    assert.throws(() => toBytes('key', 1, 16), /this one has 16 bytes/);
    assert.throws(() => toBytes('value', 2 ** 53 + 2, 8), /pass a bigint/);
    assert.throws(() => toBytes('value', 1.5, 8), /expected a Buffer or an integer, got number/);
    assert.throws(() => toBytes('value', 'x' as unknown as number, 8), /got string/);
  });
});
