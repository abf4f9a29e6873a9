// The timer's ABI as the TypeScript sees it (src/abi.ts, codecs and enums generated from
// sync_timer.bpf.o's and tick_probe.bpf.o's BTF) against what the C headers promise: every
// init error names a SyncTimerError code, every mode an enumerator, the minimum interval
// and every size and offset the headers assert are the codecs' own. A change on one side
// that the other does not follow fails here (or in tsc, for renamed fields).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Codec } from '@bpf-sync-timer/libbpf';
import * as abi from '../../src/abi';
import { SyncTimerErrorCode } from '../../src/errors';
import { DEFAULT_CLOCK_STEP_NS } from '@bpf-sync-timer/libbpf';
import { MIN_INTERVAL_NS } from '../../src/interval';
import { CLOCKS } from '../../src/modes';
import { MODES } from '../../src/modes';

const pkg = path.join(__dirname, '../../..'); // from dist/test/unit
const headers = ['include/sync_timer.bpf.h', 'include/sync_timer_bitmap.bpf.h', '../../examples/tick-probe/tick_probe.bpf.c']
  .map((h) => fs.readFileSync(path.join(pkg, h), 'utf8')).join('\n');

const codecs: Record<string, Codec<Record<string, unknown>>> = {
  sync_timer_state: abi.sync_timer_state as unknown as Codec<Record<string, unknown>>,
  sync_timer_bitmap_entry: abi.sync_timer_bitmap_entry as unknown as Codec<Record<string, unknown>>,
  sync_timer_init_args: abi.sync_timer_init_args as unknown as Codec<Record<string, unknown>>,
  tick_record: abi.tick_record as unknown as Codec<Record<string, unknown>>,
};

/** Where field `f` starts: the first byte a non-zero value of it changes. */
function offsetOf(codec: Codec<Record<string, unknown>>, f: string): number {
  const v = codec.decode(new Uint8Array(codec.size));
  assert.ok(f in v, `${codec.typeName} has no field ${f}`);
  v[f] = typeof v[f] === 'bigint' ? 1n : 1;
  const b = codec.encode(v);
  return b.findIndex((x) => x !== 0);
}

describe('the timer ABI from BTF', () => {
  it('names a SyncTimerError code for every init error enumerator, and UNKNOWN_BPF_ERROR for other values', () => {
    const names = abi.initErrorNames();
    assert.ok(names.length >= 8, `only ${names.length} enumerators: ${names.join(', ')}`);
    for (const name of names) {
      const value = (abi.sync_timer_init_error as unknown as Record<string, number>)[name];
      const code = abi.initErrorCode(value);
      assert.equal(code, name.slice('SYNC_TIMER_'.length), `${name} = ${value} has no SyncTimerError code of its name`);
      assert.ok(Object.hasOwn(SyncTimerErrorCode, code!));
    }
    assert.equal(abi.initErrorCode(abi.sync_timer_init_error.SYNC_TIMER_SUCCESS), undefined);
    assert.equal(abi.initErrorCode(999), 'UNKNOWN_BPF_ERROR');
    // the two whose C names differed from the TypeScript codes
    assert.equal(abi.initErrorCode(abi.sync_timer_init_error.SYNC_TIMER_INVALID_OPTION), 'INVALID_OPTION');
    assert.equal(abi.initErrorCode(abi.sync_timer_init_error.SYNC_TIMER_INTERVAL_INVALID), 'INTERVAL_INVALID');
  });

  it('has one enum sync_timer_mode enumerator per timer mode, and no other', () => {
    const values = MODES.map((m) => abi.modeValue(m));
    assert.equal(new Set(values).size, MODES.length);
    const enumerators = Object.keys(abi.sync_timer_mode).filter((k) => k.startsWith('SYNC_TIMER_MODE_'));
    assert.deepEqual(enumerators.map((k) => k.slice('SYNC_TIMER_MODE_'.length).toLowerCase()).sort(), [...MODES].sort());
    assert.throws(() => abi.modeValue('turbo'), /has no SYNC_TIMER_MODE_TURBO/);
  });

  it('has the minimum interval of the C header', () => {
    const m = /#define SYNC_TIMER_MIN_INTERVAL_NS (\d+)ULL/.exec(headers);
    assert.ok(m, 'SYNC_TIMER_MIN_INTERVAL_NS not found in sync_timer.bpf.h');
    assert.equal(BigInt(m[1]), MIN_INTERVAL_NS);
  });

  it('has one enum sync_timer_clock enumerator per clock, and the same clock-step threshold as thread mode', () => {
    assert.deepEqual(CLOCKS.map((c) => abi.clockValue(c)), [0, 1]);
    const enumerators = Object.keys(abi.sync_timer_clock).filter((k) => k.startsWith('SYNC_TIMER_CLOCK_'));
    assert.deepEqual(enumerators.map((k) => k.slice('SYNC_TIMER_CLOCK_'.length).toLowerCase()).sort(), [...CLOCKS].sort());
    const m = /#define SYNC_TIMER_CLOCK_STEP_NS (\d+)ULL/.exec(headers);
    assert.ok(m, 'SYNC_TIMER_CLOCK_STEP_NS not found in sync_timer.bpf.h');
    // a step the bpf_timer modes count, thread mode (GridRunner's default stepNs) counts too
    assert.equal(BigInt(m[1]), DEFAULT_CLOCK_STEP_NS);
  });

  it('has every size and offset the headers assert', () => {
    const sizes = [...headers.matchAll(/_Static_assert\(sizeof\(struct (\w+)\) == (\d+)/g)];
    const offsets = [...headers.matchAll(/_Static_assert\(__builtin_offsetof\(struct (\w+), (\w+)\) == (\d+)/g)];
    let checked = 0;
    for (const [, type, size] of sizes) {
      if (!codecs[type]) continue;
      assert.equal(codecs[type].size, Number(size), `sizeof(struct ${type})`);
      checked++;
    }
    for (const [, type, field, offset] of offsets) {
      if (!codecs[type] || field === 'timer') continue; // struct bpf_timer is opaque: no bytes to set
      assert.equal(offsetOf(codecs[type], field), Number(offset), `offsetof(struct ${type}, ${field})`);
      checked++;
    }
    assert.ok(checked >= 30, `only ${checked} assertions matched`);
  });
});
