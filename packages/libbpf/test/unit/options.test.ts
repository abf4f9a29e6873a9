// Options objects reject names they do not know (design item 10), over the fake addon:
// checkOptions itself, then every public entry point that takes an options object. A
// rejection must come before any call into libbpf or the kernel (the fake records each call
// and throws on any it was not scripted for); every known name must get through.
import { after, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { MapType, ProgramType } from '../../src/constants';
import { BpfArgumentError } from '../../src/errors';
import type { NativeMapInfo, NativeProgramInfo } from '../../src/native';
import { BpfObject, OpenBpfObject } from '../../src/object';
import { checkOptions, editDistance, nearest, optionNames } from '../../src/options';
import { PerfBuffer } from '../../src/perf-buffer';
import { RingBuffer } from '../../src/ring-buffer';
import { runOnCpus } from '../../src/program';
import { perfEventOpen } from '../../src/sys';
import { installFakeNative, UnexpectedNativeCall } from '../support/fake-native';
import { objectBytes } from '../support/object-bytes';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libbpf-options-'));
const OBJECT = path.join(dir, 'events.bpf.o');
const BTF = path.join(dir, 'vmlinux.btf');
fs.writeFileSync(OBJECT, objectBytes);
fs.writeFileSync(BTF, '');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function map(name: string, type: number): NativeMapInfo {
  return { name, type, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0, internal: false, autocreate: true };
}

function prog(name: string, type: number, section: string): NativeProgramInfo {
  return { name, section, type, expectedAttachType: 0, autoload: true };
}

const fake = installFakeNative({
  open: () => ({
    maps: [map('perf_events', MapType.PERF_EVENT_ARRAY), map('events', MapType.RINGBUF)],
    programs: [prog('raw_sum', ProgramType.RAW_TRACEPOINT, 'raw_tp/sys_enter'), prog('whoami', ProgramType.SYSCALL, 'syscall')],
  }),
});
const loaded = BpfObject.open(OBJECT).load();
after(() => loaded.close());
beforeEach(() => fake.reset());

/** The ops that would have reached libbpf or the kernel (listings and the log queue do not). */
function libbpfCalls(): string[] {
  return fake.ops().filter((op) => !['maps', 'programs', 'drainLog', 'close'].includes(op));
}

function optionError(what: string, message: RegExp, argument = 'options') {
  return (e: unknown) => e instanceof BpfArgumentError && e.argument === argument && e.code === 'ERR_BPF_INVALID_ARG' &&
    e.message.includes(what) && message.test(e.message);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('checkOptions', () => {
  const KNOWN = ['mode', 'cpus', 'logger', 'watchCpusMs'];

  it('accepts undefined, {} and plain objects of known names, from any realm', () => {
    checkOptions('f', undefined, KNOWN);
    checkOptions('f', {}, KNOWN);
    checkOptions('f', { mode: 'legacy', cpus: [0], logger: () => {}, watchCpusMs: false }, KNOWN);
    checkOptions('f', Object.assign(Object.create(null), { mode: 'x' }), KNOWN);
    checkOptions('f', vm.runInNewContext('({ mode: "legacy" })'), KNOWN);
  });

  it('names the nearest known option for a typo', () => {
    assert.throws(() => checkOptions('SyncTimer.start', { mdoe: 'legacy' }, KNOWN), (e: unknown) =>
      e instanceof BpfArgumentError && e.argument === 'options' &&
      e.message === "options: unknown option 'mdoe' of SyncTimer.start (did you mean 'mode'? known: mode, cpus, logger, watchCpusMs)");
    for (const [typo, meant] of [['cpu', 'cpus'], ['loger', 'logger'], ['watchCpuMs', 'watchCpusMs'], ['WatchCPUsMs', 'watchCpusMs'], ['watch_cpus_ms', 'watchCpusMs']]) {
      assert.throws(() => checkOptions('f', { [typo]: 1 }, KNOWN), optionError('f', new RegExp(`unknown option '${typo}' of f \\(did you mean '${meant}'\\?`)), typo);
    }
  });

  it('lists the known names, without a guess, for a name close to none', () => {
    for (const name of ['x', 'bogus', 'intervalNs', 'unrelatedOption']) {
      assert.throws(() => checkOptions('f', { mode: 'auto', [name]: 1 }, KNOWN), (e: unknown) =>
        e instanceof BpfArgumentError && e.message === `options: unknown option '${name}' of f (known: mode, cpus, logger, watchCpusMs)`, name);
    }
    assert.throws(() => checkOptions('f', { a: 1 }, []), /unknown option 'a' of f \(it takes none\)/);
  });

  it('rejects what is not a plain object', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'null'], [[], 'an array'], ['mode', 'string mode'], [5, 'number 5'], [() => {}, 'a function'],
      [new Map(), 'an instance of Map'], [new (class Opts { mode = 'legacy'; })(), 'an instance of Opts'],
    ];
    for (const [value, got] of cases) {
      assert.throws(() => checkOptions('f', value, KNOWN), (e: unknown) =>
        e instanceof BpfArgumentError && e.message === `options: f takes a plain object of options, got ${got}`, got);
    }
  });

  it('looks at own enumerable string names only', () => {
    const o: Record<string | symbol, unknown> = { mode: 'auto', [Symbol('tag')]: 1 };
    Object.defineProperty(o, 'hidden', { value: 1, enumerable: false });
    checkOptions('f', o, KNOWN);
  });

  it('rejects an object inheriting from another (its inherited names would go unchecked)', () => {
    assert.throws(() => checkOptions('f', Object.create({ mdoe: 1 }), KNOWN), /f takes a plain object of options, got an object inheriting from another/);
  });

  it('throws what `fail` makes of the message', () => {
    class MyError extends Error {}
    assert.throws(() => checkOptions('f', { mdoe: 1 }, KNOWN, (m) => new MyError(m)), (e: unknown) =>
      e instanceof MyError && e.message === "unknown option 'mdoe' of f (did you mean 'mode'? known: mode, cpus, logger, watchCpusMs)");
  });

  it('measures distance with swaps of neighbours counting one', () => {
    assert.equal(editDistance('mdoe', 'mode'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(nearest('cpuz', ['cpus', 'mode']), 'cpus');
    assert.equal(nearest('zz', ['cpu']), undefined);
  });

  it('optionNames returns the names as given', () => {
    interface Opts { a?: number; b?: string }
    assert.deepEqual(optionNames<Opts>()('b', 'a'), ['b', 'a']);
  });
});

/** One public entry point that takes an options object. */
interface Entry {
  what: string;
  /** Tells two entries with the same `what` apart. */
  label?: string;
  /** Calls it with `options` (synchronously, or resolving to a settled promise). */
  call(options: unknown): unknown;
  known: string[];
  typo: [string, string];
  /** Every known name, with valid values. */
  all: Record<string, unknown>;
  /** The first libbpf call once the options pass (undefined: it succeeds). */
  reaches: string | undefined;
  argument?: string;
}

const ENTRIES: Entry[] = [
  {
    what: 'BpfObject.open', call: (o) => BpfObject.open(OBJECT, o as object), known: ['objectName', 'btfCustomPath', 'logLevel', 'checkStructure'],
    typo: ['objectname', 'objectName'], all: { objectName: 'x', btfCustomPath: BTF, logLevel: 1 }, reaches: undefined,
  },
  {
    what: 'BpfObject.open', label: 'OpenBpfObject.open of a Buffer', call: (o) => OpenBpfObject.open(objectBytes, o as object), known: ['objectName', 'btfCustomPath', 'logLevel', 'checkStructure'],
    typo: ['logLvel', 'logLevel'], all: { objectName: 'x', btfCustomPath: BTF, logLevel: 2 }, reaches: undefined,
  },
  {
    what: 'BpfProgram.testRun', call: (o) => loaded.program('raw_sum').testRun(o as object),
    known: ['ctxIn', 'dataIn', 'repeat', 'ctxOutSize', 'dataOutSize', 'cpu'], typo: ['ctx_in', 'ctxIn'],
    all: { ctxIn: Buffer.alloc(8), dataIn: Buffer.alloc(4), repeat: 1, ctxOutSize: 8, dataOutSize: 8, cpu: 0 }, reaches: 'progTestRun',
  },
  {
    what: 'BpfProgram.testRun', label: 'BpfProgram.testRun of a syscall program', call: (o) => loaded.program('whoami').testRun(o as object),
    known: ['ctxIn', 'dataIn', 'repeat', 'ctxOutSize', 'dataOutSize', 'cpu'], typo: ['ctxin', 'ctxIn'],
    all: { ctxIn: Buffer.alloc(8) }, reaches: 'progTestRun',
  },
  {
    what: 'runOnCpus', call: (o) => runOnCpus(loaded.program('raw_sum'), [0], undefined, o as object), known: ['ctxOutSize'],
    typo: ['ctxOutsize', 'ctxOutSize'], all: { ctxOutSize: 8 }, reaches: 'progRunOnCpus',
  },
  {
    what: 'PerfBuffer', call: (o) => new PerfBuffer(loaded.map('perf_events'), undefined, o as object), known: ['pagesPerCpu', 'onLost', 'highWaterMark'],
    typo: ['pagesPerCPU', 'pagesPerCpu'], all: { pagesPerCpu: 8, onLost: () => {}, highWaterMark: 16 }, reaches: 'mapFd',
  },
  {
    what: 'RingBuffer', call: (o) => new RingBuffer(loaded.map('events'), undefined, o as object), known: ['highWaterMark', 'delivery'],
    typo: ['highWatermark', 'highWaterMark'], all: { highWaterMark: 16, delivery: 'records' }, reaches: 'mapFd',
  },
  {
    what: 'perfEventOpen', call: (o) => perfEventOpen({ type: 1, config: 0 }, o as object), known: ['pid', 'cpu'],
    typo: ['cpus', 'cpu'], all: { pid: -1, cpu: 0 }, reaches: 'perfEventOpen',
  },
  {
    what: 'perfEventOpen attr', call: (o) => perfEventOpen(o as { type: number; config: number }),
    known: ['type', 'config', 'samplePeriod', 'sampleFreq', 'wakeupEvents', 'disabled'], typo: ['sample_period', 'samplePeriod'],
    all: { type: 1, config: 0, samplePeriod: 1000n, sampleFreq: 0, wakeupEvents: 1, disabled: true }, reaches: 'perfEventOpen', argument: 'attr',
  },
];

/** Runs `call`, turning a rejected promise into a throw, so sync and async entry points test alike. */
async function outcome(entry: Entry, options: unknown): Promise<unknown> {
  try {
    const r = entry.call(options);
    if (r instanceof Promise) await r;
    else (r as { close?: () => void } | undefined)?.close?.();
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('every options object of the public API', () => {
  for (const entry of ENTRIES) {
    const [typo, meant] = entry.typo;
    const argument = entry.argument ?? 'options';
    const known = `known: ${entry.known.join(', ')}`;
    const name = entry.label ?? entry.what;

    it(`${name}: a typo is rejected with the nearest known name, before libbpf`, async () => {
      const e = await outcome(entry, { ...entry.all, [typo]: entry.all[meant] ?? 1 });
      assert.ok(optionError(entry.what, new RegExp(`unknown option '${typo}' of ${escape(entry.what)} \\(did you mean '${meant}'\\? ${escape(known)}\\)$`), argument)(e), String(e));
      assert.deepEqual(libbpfCalls(), []);
    });

    it(`${name}: an unrelated name is rejected with the known names`, async () => {
      const e = await outcome(entry, { ...entry.all, unrelatedThing: true });
      assert.ok(optionError(entry.what, new RegExp(`unknown option 'unrelatedThing' of ${escape(entry.what)} \\(${escape(known)}\\)$`), argument)(e), String(e));
      assert.deepEqual(libbpfCalls(), []);
    });

    it(`${name}: options that are not a plain object are rejected`, async () => {
      for (const bad of [null, [], 'fast', new Date(0)]) {
        const e = await outcome(entry, bad);
        // perfEventOpen refused a non-object attr before it checked names, in its own words.
        const message = argument === 'attr' ? /takes a plain object of options, got |expected a perf_event_attr object/ : /takes a plain object of options, got /;
        assert.ok(e instanceof BpfArgumentError && e.argument === argument && message.test(e.message), `${String(bad)}: ${String(e)}`);
      }
      assert.deepEqual(libbpfCalls(), []);
    });

    it(`${name}: every known name is accepted`, async () => {
      const e = await outcome(entry, entry.all);
      if (entry.reaches === undefined) assert.equal(e, undefined);
      else assert.ok(e instanceof UnexpectedNativeCall && e.message.includes(`${entry.reaches}()`), String(e));
      assert.deepEqual(libbpfCalls(), [entry.reaches ?? 'NativeObject']);
    });
  }

  it('undefined options take the defaults', async () => {
    for (const entry of ENTRIES.filter((x) => x.argument === undefined)) {
      const e = await outcome(entry, undefined);
      if (entry.reaches === undefined) assert.equal(e, undefined, entry.what);
      else assert.ok(e instanceof UnexpectedNativeCall, `${entry.what}: ${String(e)}`);
      fake.reset();
    }
  });
});
