// Unit test (no kernel): record decoding and the NDJSON line.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { collector_record } from './collector.skel';
import { decodeRecord, RECORD_SIZE, toNdjson } from './records';

/** A record as the program writes it, through the codec generated from collector.bpf.o's BTF. */
function record(fields: { kind?: number; cpu?: number; expected?: number; pid?: number; tid?: number; tick?: bigint;
  nominal?: bigint; fired?: bigint; missed?: bigint; switches?: bigint; comm?: string }): Uint8Array {
  return collector_record.encode({
    kind: fields.kind ?? 0, cpu: fields.cpu ?? 0, expected_cpu: fields.expected ?? fields.cpu ?? 0,
    pid: fields.pid ?? 0, tid: fields.tid ?? 0, _pad: 0, tick_index: fields.tick ?? 0n, nominal_ns: fields.nominal ?? 0n,
    fired_ns: fields.fired ?? 0n, missed: fields.missed ?? 0n, ctx_switches: fields.switches ?? 0n, comm: fields.comm ?? '',
  });
}

test('a tick record becomes one JSON line with the documented fields', () => {
  const r = decodeRecord(record({ cpu: 1, pid: 42, tid: 43, tick: 7n, nominal: 70_000_000n, fired: 70_012_345n, switches: 5n, missed: 2n, comm: 'node' }));
  assert.deepEqual(JSON.parse(toNdjson(r)), {
    type: 'tick', tick: 7, nominal_ns: 70_000_000, cpu: 1, ctx_switches: 5, pid: 42, tid: 43, comm: 'node', lateness_ns: 12_345, missed: 2,
  });
});

test('a migration record carries expected_cpu instead of ctx_switches', () => {
  const line = JSON.parse(toNdjson(decodeRecord(record({ kind: 1, cpu: 0, expected: 1, tick: 3n, nominal: 30n, fired: 31n, comm: 'swapper/0' }))));
  assert.equal(line.type, 'migration');
  assert.equal(line.expected_cpu, 1);
  assert.equal(line.cpu, 0);
  assert.equal('ctx_switches' in line, false);
});

test('64-bit values are written exactly, a full 16-byte comm and JSON-special characters survive', () => {
  const big = (1n << 63n) + 1n;
  const line = toNdjson(decodeRecord(record({ nominal: big, fired: big, tick: big, comm: 'a"b\\c0123456789x' })));
  assert.match(line, new RegExp(`"tick":${big},"nominal_ns":${big}`));
  assert.equal(JSON.parse(line).comm, 'a"b\\c0123456789x');
  assert.equal(JSON.parse(line).lateness_ns, 0);
});

test('short buffers and unknown kinds are refused', () => {
  assert.throws(() => decodeRecord(Buffer.alloc(RECORD_SIZE - 1)), /expected 80 bytes, got 79/);
  assert.throws(() => decodeRecord(record({ kind: 9 })), /unknown kind 9/);
});
