// The headers compile with every clang (14 or newer) on this machine, against uapi headers only
// and after a vmlinux.h of the running kernel (`bpftool btf dump ... format c`) with no system
// headers at all; the vmlinux build then subscribes and takes every tick.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '@bpf-sync-timer/libbpf';
import { bpfCflags, SyncTimer } from '../../src/index';
import { requireRoot, sleep } from './helpers';

const PACKAGE = path.resolve(__dirname, '..', '..', '..');
const SOURCE = path.join(PACKAGE, 'test', 'fixtures', 'headers', 'subscribe_headers.bpf.c');
const TARGET_ARCH = ({ x64: 'x86', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
const FLAGS = ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', '-mcpu=v3', `-D__TARGET_ARCH_${TARGET_ARCH}`];

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return { status: r.error ? -1 : r.status, stdout: r.stdout ?? '', stderr: r.error ? r.error.message : r.stderr ?? '' };
}

/** A program on PATH (or in the sbin directories root's PATH has), by its real path. */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Every distinct clang on this machine with its major version. */
function clangs(): { path: string; major: number }[] {
  const found = new Map<string, number>();
  for (const name of ['clang', ...Array.from({ length: 12 }, (_, i) => `clang-${i + 14}`)]) {
    const p = which(name);
    if (!p || found.has(p)) continue;
    const major = Number(/clang version (\d+)/.exec(run(p, ['--version']).stdout)?.[1]);
    if (major) found.set(p, major);
  }
  return [...found].map(([p, major]) => ({ path: p, major }));
}

let tmp: string;
let compilers: { path: string; major: number }[];

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-timer-headers-'));
  compilers = clangs();
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function compile(clang: string, extra: string[], out: string): void {
  // The flags users get from `sync-timer cflags`: our headers and the pinned libbpf's bpf/*.h.
  const r = run(clang, [...FLAGS, ...extra, ...bpfCflags(), '-c', SOURCE, '-o', out]);
  assert.equal(r.status, 0, `${path.basename(clang)} ${extra.join(' ')}:\n${r.stderr}`);
}

describe('the subscriber headers', () => {
  it('need clang 14 or newer, which is installed', () => {
    assert.ok(compilers.length > 0, 'no clang found: apt-get install clang');
    assert.ok(compilers.some((c) => c.major >= 14), `clangs found: ${compilers.map((c) => `${c.path} (${c.major})`).join(', ')}`);
  });

  it('compile against uapi headers only (no vmlinux.h), with every clang >= 14', () => {
    const multiarch = run('gcc', ['-print-multiarch']).stdout.trim() || `${os.machine()}-linux-gnu`;
    for (const c of compilers.filter((x) => x.major >= 14)) {
      compile(c.path, ['-DUAPI_ONLY', '-I', `/usr/include/${multiarch}`], path.join(tmp, `uapi-${c.major}.bpf.o`));
    }
  });

  it("compile after the running kernel's vmlinux.h with no system headers (-nostdinc), with every clang >= 14", () => {
    const bpftool = which('bpftool');
    assert.ok(bpftool, 'bpftool is needed to generate vmlinux.h: apt-get install bpftool');
    const dump = run(bpftool, ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c']);
    assert.equal(dump.status, 0, `bpftool btf dump: ${dump.stderr}`);
    assert.match(dump.stdout, /#define __VMLINUX_H__/);
    fs.writeFileSync(path.join(tmp, 'vmlinux.h'), dump.stdout);
    // Only the shipped libbpf headers (bpf/bpf_helpers.h, from bpfCflags) are reachable besides
    // vmlinux.h, so an include of a uapi header in the vmlinux case would fail here (and would
    // redefine types).
    assert.ok(fs.existsSync(path.join(bpfCflags()[3], 'bpf', 'bpf_helpers.h')), `bpf/bpf_helpers.h in ${bpfCflags()[3]}: run npm run build`);
    for (const c of compilers.filter((x) => x.major >= 14)) {
      compile(c.path, ['-nostdinc', '-I', tmp], path.join(tmp, `vmlinux-${c.major}.bpf.o`));
    }
  });

  it('the vmlinux.h build subscribes and takes every tick on every CPU (1 ms, 500 ms)', async (t) => {
    requireRoot();
    const built = fs.readdirSync(tmp).find((f) => f.startsWith('vmlinux-') && f.endsWith('.bpf.o'));
    assert.ok(built, 'the vmlinux.h build above produced an object');
    const timer = await SyncTimer.start(1_000_000);
    try {
      const sub = timer.subscribe(BpfObject.open(path.join(tmp, built)));
      assert.equal(sub.idSection, '.rodata');
      const hits = () => sub.object.map('hits').lookupPerCpu(0)!.map((b) => b.readBigUInt64LE(0));
      const cpus = [...timer.cpus];
      // Timer stats before the subscriber's counters, at both ends: at the start that can only
      // make hits smaller; at the end the ticks between the two reads (one, or more when this
      // thread is held up in between) can make them larger.
      const s0 = timer.stats();
      const h0 = hits();
      await sleep(500);
      const t1 = process.hrtime.bigint();
      const s1 = timer.stats();
      const h1 = hits();
      const late = BigInt(Math.ceil(Number(process.hrtime.bigint() - t1) / 1_000_000)) + 1n;
      for (const [i, cpu] of cpus.entries()) {
        const ticks = s1[i].ticks - s0[i].ticks;
        const taken = h1[cpu] - h0[cpu];
        t.diagnostic(`CPU ${cpu}: ${taken} hits, ${ticks} ticks`);
        assert.ok(ticks >= 450n, `CPU ${cpu}: ${ticks} ticks in 500 ms at 1 ms`);
        assert.ok(taken <= ticks + late && taken + ticks / 100n + 1n >= ticks, `CPU ${cpu}: ${taken} hits vs ${ticks} ticks (+${late} between the reads)`);
      }
      sub.close();
      assert.deepEqual(timer.assignedIds, []);
    } finally {
      timer.close();
    }
  });
});
