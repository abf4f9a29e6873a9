// The subscriber helpers' fast path (a plain read of the bit before the atomic test-and-clear)
// still hands each subscriber every tick exactly once: sync_timer_take_tick() and
// sync_timer_check_and_reset() record the tick_index of each tick they take, an observer that
// never touches a bit records each new tick_index it sees on the CPU, and per CPU the three
// lists of tick indexes must be the same (no tick lost, none taken twice, none invented).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfObject, RingBuffer } from '@bpf-sync-timer/libbpf';
import { bpfCflags, SyncTimer } from '../../src/index';
import { requireRoot, sleep } from './helpers';

const SOURCE = path.resolve(__dirname, '..', '..', '..', 'test', 'kernel', 'fast_path.bpf.c');
const TARGET_ARCH = ({ x64: 'x86', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
const WHO = ['observer', 'take_tick', 'check_and_reset'];

let tmp: string;
let object: string;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-timer-fast-path-'));
  object = path.join(tmp, 'fast_path.bpf.o');
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim() || `${os.machine()}-linux-gnu`;
  const r = spawnSync('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${TARGET_ARCH}`,
    '-I', `/usr/include/${multiarch}`, ...bpfCflags(), '-c', SOURCE, '-o', object], { encoding: 'utf8' });
  assert.equal(r.status, 0, `clang fast_path.bpf.c: ${r.error?.message ?? r.stderr}`);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Per CPU, per recorder, the tick indexes in the order they were recorded. */
type Seen = Map<number, bigint[][]>;

async function collect(intervalNs: number, ms: number): Promise<{ seen: Seen; cpus: number[]; lost: bigint }> {
  requireRoot();
  const timer = await SyncTimer.start(intervalNs);
  let loaded: BpfObject | undefined;
  try {
    const open = BpfObject.open(object);
    open.map('sync_timer_bitmap').reuseFd(timer.borrowedMapFd());
    open.rodata.set('take_id', BigInt(timer.assignId()));
    open.rodata.set('reset_id', BigInt(timer.assignId()));
    loaded = open.load();
    // the observer first, so it is in the tracepoint's array before either subscriber
    for (const name of ['observe', 'take', 'reset']) loaded.program(name).attach();
    await sleep(ms);
    const cpus = [...timer.cpus];
    // no tick after this: every record of the last one is in the ring
    timer.close();
    const seen: Seen = new Map(cpus.map((c) => [c, [[], [], []]]));
    const ring = new RingBuffer(loaded.map('seen'), (b) => seen.get(b.readUInt32LE(4))?.[b.readUInt32LE(0)].push(b.readBigUInt64LE(8)));
    ring.consume();
    ring.close();
    const lost = loaded.map('lost').lookupPerCpu(0)!.reduce((a, b) => a + b.readBigUInt64LE(0), 0n);
    return { seen, cpus, lost };
  } finally {
    loaded?.close();
    timer.close();
  }
}

// `minTicks` (a quarter of the grid points) only proves the window held ticks to compare: how
// many the timer fires is the machine's business (this VM's host can hold a CPU for a while),
// what the subscribers took against what the observer saw is this test's.
function assertSameTicks({ seen, cpus, lost }: Awaited<ReturnType<typeof collect>>, minTicks: number): void {
  assert.equal(lost, 0n, 'records the ring had no room for');
  for (const cpu of cpus) {
    const lists = seen.get(cpu)!;
    // The programs were attached one after another while the timer ran: start where all three are
    // attached (the last one's first tick), end at the last tick (all run on it: the timer is closed).
    const start = lists.reduce((m, l) => (l.length && l[0] > m ? l[0] : m), 0n);
    const [observed, taken, reset] = lists.map((l) => l.filter((i) => i >= start));
    assert.ok(observed.length >= minTicks, `CPU ${cpu}: the observer saw ${observed.length} ticks, expected at least ${minTicks}`);
    for (let i = 1; i < observed.length; i++) assert.ok(observed[i] > observed[i - 1], `CPU ${cpu}: tick index went back (${observed[i - 1]} then ${observed[i]})`);
    for (const [k, list] of [[1, taken], [2, reset]] as const) {
      assert.deepEqual(list, observed, `CPU ${cpu}: ${WHO[k]} took other ticks than the observer saw (${list.length} vs ${observed.length})`);
    }
  }
}

describe('the helpers fast path hands every tick to each subscriber exactly once', () => {
  it('take_tick and check_and_reset take the very ticks the observer sees, per CPU, at 1 ms for 1 s', async () => {
    assertSameTicks(await collect(1_000_000, 1000), 250);
  });

  it('and at 100 µs for 500 ms', async () => {
    assertSameTicks(await collect(100_000, 500), 1250);
  });
});
