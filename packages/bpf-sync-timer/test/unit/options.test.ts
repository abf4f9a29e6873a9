// SyncTimer.start and initSyncTimerProgram reject option names they do not know with
// INVALID_OPTION, naming the nearest known one, before anything is loaded (design item 10).
// The binding runs over its fake addon (test/support/fake-native in @bpf-sync-timer/libbpf),
// installed before the binding's entry is imported: it scripts no object, so any load would
// fail, and it records every call, so a rejection is seen to come before libbpf.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { SyncTimerError } from '../../src/errors';

interface FakeNative {
  calls: Array<{ op: string }>;
  reset(): void;
}
const libbpfRoot = path.dirname(require.resolve('@bpf-sync-timer/libbpf/package.json'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { installFakeNative } = require(path.join(libbpfRoot, 'dist', 'test', 'support', 'fake-native.js')) as {
  installFakeNative(options: { libbpfRelease: string }): FakeNative;
};
const fake = installFakeNative({ libbpfRelease: '1.7.0' });
// After the fake: the binding's entry asks the addon for its version when it is imported.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { SyncTimer, initSyncTimerProgram } = require('../../src/sync-timer') as typeof import('../../src/sync-timer');
beforeEach(() => fake.reset());

/** Calls that reach past the binding's entry (the addon's registration at import is not one). */
function addonCalls(): string[] {
  return fake.calls.map((c) => c.op).filter((op) => op !== 'drainLog');
}

function invalidOption(message: RegExp) {
  return (e: unknown) => e instanceof SyncTimerError && e.code === 'INVALID_OPTION' && message.test(e.message);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const notAProgramLoader = { testRun() {} } as never;

interface Entry {
  what: string;
  call(options: unknown): Promise<unknown>;
  known: string[];
  typos: Array<[string, string]>;
  all: Record<string, unknown>;
  /** How it fails once the options pass: no object and no kernel are scripted. */
  beyond(e: unknown): boolean;
}

const failedToLoad = (e: unknown) => e instanceof SyncTimerError && (e.code === 'OPEN_FAILED' || e.code === 'UNSUPPORTED_KERNEL');
// initSyncTimerProgram takes a loaded program, so its next step is choosing CPUs: the
// addon's threadAffinity, which the fake refuses.
const choseCpus = (e: unknown) => (e instanceof Error && /threadAffinity\(\) was called/.test(e.message)) ||
  (e instanceof SyncTimerError && e.code === 'UNSUPPORTED_KERNEL');

const ENTRIES: Entry[] = [
  {
    what: 'SyncTimer.start', call: (o) => SyncTimer.start(1_000_000, o as object), known: ['mode', 'cpus', 'logger', 'clock', 'watchCpusMs', 'latenessHistogram', 'threadPriority'],
    typos: [['mdoe', 'mode'], ['cpu', 'cpus'], ['Logger', 'logger'], ['clok', 'clock'], ['watchCpuMs', 'watchCpusMs'], ['watch_cpus_ms', 'watchCpusMs'], ['latenessHistogramm', 'latenessHistogram'], ['threadPriorty', 'threadPriority']],
    all: { mode: 'modern', cpus: [0], logger: () => {}, clock: 'monotonic', watchCpusMs: false, latenessHistogram: false, threadPriority: 10 }, beyond: failedToLoad,
  },
  {
    what: 'initSyncTimerProgram', call: (o) => initSyncTimerProgram(notAProgramLoader, o as object), known: ['mode', 'cpus', 'logger', 'clock', 'statesMap'],
    typos: [['mdoe', 'mode'], ['stateMap', 'statesMap'], ['statesmap', 'statesMap']],
    all: { mode: 'modern', cpus: [0], logger: () => {}, clock: 'monotonic', statesMap: {} }, beyond: choseCpus,
  },
];

describe('options of the sync timer', () => {
  it("SyncTimer.start(1e6, { mdoe: 'legacy' }) says which option was meant", async () => {
    await assert.rejects(SyncTimer.start(1e6, { mdoe: 'legacy' } as object), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'INVALID_OPTION' &&
      e.message === "unknown option 'mdoe' of SyncTimer.start (did you mean 'mode'? known: mode, cpus, logger, clock, watchCpusMs, latenessHistogram, threadPriority)");
    assert.deepEqual(addonCalls(), []);
  });

  it('SyncTimer.start rejects an unknown name before any load, where a load would fail', async () => {
    // The same call with the option spelt right goes on to load, and fails there.
    // (modern: legacy and intermediate check their sysctl access first, which differs as root and as a user)
    await assert.rejects(SyncTimer.start(1e6, { mode: 'modern', watchCpusMs: false }), failedToLoad);
    fake.reset();
    await assert.rejects(SyncTimer.start(1e6, { mdoe: 'legacy', watchCpusMs: false } as object), invalidOption(/'mdoe'/));
    assert.deepEqual(addonCalls(), [], 'nothing was opened or loaded');
  });

  it('SyncTimer.start rejects a latenessHistogram that is not a boolean, before any load', async () => {
    for (const bad of [1, 'yes', null]) {
      await assert.rejects(SyncTimer.start(1e6, { latenessHistogram: bad } as object), invalidOption(/^options\.latenessHistogram must be true or false/), String(bad));
    }
    assert.deepEqual(addonCalls(), []);
  });

  it('SyncTimer.start rejects a clock other than monotonic or realtime, before any load', async () => {
    for (const bad of ['tai', 'REALTIME', 1, null]) {
      await assert.rejects(SyncTimer.start(1e6, { clock: bad } as object), invalidOption(/^options\.clock must be 'monotonic' or 'realtime', got /), String(bad));
    }
    assert.deepEqual(addonCalls(), []);
  });

  it("SyncTimer.start refuses clock 'realtime' in legacy mode with CLOCK_UNSUPPORTED saying why, before any load", async () => {
    await assert.rejects(SyncTimer.start(1e6, { clock: 'realtime', mode: 'legacy' }), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'CLOCK_UNSUPPORTED' &&
      /legacy mode cannot align ticks to CLOCK_REALTIME: .*before 6\.4.*bpf_ktime_get_tai_ns.*; use mode 'modern' \(Linux 6\.7\), 'intermediate' \(6\.4\), 'thread' or 'auto'$/.test(e.message));
    assert.deepEqual(addonCalls(), []);
  });

  it('the interval is still checked first', async () => {
    await assert.rejects(SyncTimer.start(1, { mdoe: 'legacy' } as object), (e: unknown) => e instanceof SyncTimerError && e.code === 'INTERVAL_TOO_SMALL');
  });

  for (const entry of ENTRIES) {
    const known = `known: ${entry.known.join(', ')}`;

    it(`${entry.what}: a typo is rejected with the nearest known name, before anything is loaded`, async () => {
      for (const [typo, meant] of entry.typos) {
        await assert.rejects(entry.call({ ...entry.all, [typo]: entry.all[meant] }),
          invalidOption(new RegExp(`^unknown option '${typo}' of ${entry.what} \\(did you mean '${meant}'\\? ${escape(known)}\\)$`)), typo);
      }
      assert.deepEqual(addonCalls(), []);
    });

    it(`${entry.what}: an unrelated name is rejected with the known names`, async () => {
      for (const name of ['x', 'intervalNs', 'somethingElse']) {
        await assert.rejects(entry.call({ [name]: 1 }), invalidOption(new RegExp(`^unknown option '${name}' of ${entry.what} \\(${escape(known)}\\)$`)), name);
      }
      assert.deepEqual(addonCalls(), []);
    });

    it(`${entry.what}: options that are not a plain object are rejected`, async () => {
      for (const bad of [null, [], 'legacy', 5, new Map()]) {
        await assert.rejects(entry.call(bad), invalidOption(new RegExp(`^${entry.what} takes a plain object of options, got `)), String(bad));
      }
      assert.deepEqual(addonCalls(), []);
    });

    it(`${entry.what}: every known name is accepted (it goes on, and fails past the options for want of a kernel)`, async () => {
      for (const options of [entry.all, {}, undefined]) await assert.rejects(entry.call(options), entry.beyond, JSON.stringify(options));
    });
  }
});
