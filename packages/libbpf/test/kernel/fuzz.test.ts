// Fuzz: thousands of damaged copies of real BPF objects (byte flips, truncations, section
// headers, BTF and BTF.ext records, relocations and symbols) go through open (by Buffer and
// by path), globals and load in child processes. No input may crash or hang a child, and
// every failure must be a typed error of the binding with a readable message.
//
// Environment: BPF_FUZZ_SEED (a number, or "random"), BPF_FUZZ_COUNT (objects, default
// 10000), BPF_FUZZ_ONLY (comma-separated item indices, to replay some), BPF_FUZZ_BATCH,
// BPF_FUZZ_JOBS, BPF_FUZZ_OUT (where failing inputs are saved).
import { it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BatchEnd, ItemResult } from '../support/fuzz-child';
import { mapObject, MUTATION_KINDS, mutate, planItem, type MutationKind } from '../support/fuzz-mutate';
import { fixture, requireRoot } from './helpers';

requireRoot();

const CHILD = path.resolve(__dirname, '../support/fuzz-child.js');
const SYNC_TIMER = path.resolve(__dirname, '../../../../bpf-sync-timer/dist/bpf/sync_timer.bpf.o');
const FIXTURES = ['basic', 'bad', 'events', 'probes', 'second', 'skel_kinds'];

const DEFAULT_SEED = 0x5eed_0010;
const SEED = process.env.BPF_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 32)
  : Number(process.env.BPF_FUZZ_SEED ?? DEFAULT_SEED) >>> 0;
const COUNT = Number(process.env.BPF_FUZZ_COUNT ?? 10_000);
const ONLY = process.env.BPF_FUZZ_ONLY?.split(',').map(Number);
const BATCH = Number(process.env.BPF_FUZZ_BATCH ?? 500);
const JOBS = Number(process.env.BPF_FUZZ_JOBS ?? Math.max(1, os.availableParallelism()));
/** A batch gets this long before it counts as hung; a single item gets ITEM_TIMEOUT_MS. */
const BATCH_TIMEOUT_MS = 90_000;
const ITEM_TIMEOUT_MS = 20_000;
const MAX_SAVED = 40;

interface ChildRun {
  results: ItemResult[];
  end: BatchEnd | undefined;
  signal: NodeJS.Signals | null;
  status: number | null;
  timedOut: boolean;
  stderr: string;
}

function runChild(bases: string[], indices: number[], tmpDir: string, timeoutMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const spec = JSON.stringify({ seed: SEED, bases, indices, tmpDir });
    const child = spawn(process.execPath, [CHILD, spec], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { results: [], end: undefined, signal: null, status: null, timedOut: false, stderr: '' };
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        const v = JSON.parse(l) as ItemResult | BatchEnd;
        if ('done' in v) run.end = v;
        else run.results.push(v);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (run.stderr = (run.stderr + chunk).slice(-4000)));
    const timer = setTimeout(() => {
      run.timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      Object.assign(run, { status, signal });
      resolve(run);
    });
  });
}

/** How a child ended, when it did not end well. */
function death(run: ChildRun): string | undefined {
  if (run.timedOut) return 'hang';
  if (run.signal) return `crash (${run.signal})`;
  if (run.status !== 0 || !run.end) return `exit ${run.status}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  return undefined;
}

interface Culprit {
  index: number;
  kind: MutationKind;
  base: string;
  byPath: boolean;
  how: string;
  file: string;
}

it(`fuzz: ${ONLY ? ONLY.length : COUNT} mutated objects through open, globals and load: no crash, no hang, only typed errors with readable messages`, async (t) => {
  assert.ok(fs.existsSync(SYNC_TIMER), `${SYNC_TIMER} is missing: run bash scripts/build.sh`);
  const bases = [...FIXTURES.map((n) => fixture(n)), SYNC_TIMER];
  const pristine = bases.map((b) => fs.readFileSync(b));
  const maps = pristine.map((b) => mapObject(b));
  const outDir = process.env.BPF_FUZZ_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), `bpf-fuzz-${SEED}-`));
  fs.mkdirSync(outDir, { recursive: true });
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpf-fuzz-paths-'));
  t.diagnostic(`seed ${SEED} (replay: BPF_FUZZ_SEED=${SEED}); inputs of failures are saved under ${outDir}`);

  const indices = ONLY ?? Array.from({ length: COUNT }, (_, i) => i);
  const batches: number[][] = [];
  for (let i = 0; i < indices.length; i += BATCH) batches.push(indices.slice(i, i + BATCH));

  const results = new Map<number, ItemResult>();
  const culprits: Culprit[] = [];
  const leaks: string[] = [];
  const unexplained: string[] = [];
  const save = (index: number, how: string): void => {
    const item = planItem(index, bases.length);
    const name = `seed${SEED}-item${index}-${item.kind}-${path.basename(bases[item.base], '.bpf.o')}.bpf.o`;
    const file = path.join(outDir, name);
    if (culprits.length < MAX_SAVED) fs.writeFileSync(file, mutate(SEED, item, pristine[item.base], maps[item.base]));
    culprits.push({ index, kind: item.kind, base: path.basename(bases[item.base]), byPath: item.byPath, how, file });
  };

  const started = process.hrtime.bigint();
  const runBatch = async (batch: number[]): Promise<void> => {
    const run = await runChild(bases, batch, tmpDir, BATCH_TIMEOUT_MS);
    for (const r of run.results) results.set(r.index, r);
    if (run.end && run.end.fdsAfter !== run.end.fdsBefore) leaks.push(`batch from ${batch[0]}: ${run.end.fdsBefore} fds -> ${run.end.fdsAfter}`);
    const how = death(run);
    if (!how) return;
    // One child per remaining item names the culprit (a crash may hit the item after it).
    const done = new Set(run.results.map((r) => r.index));
    let found = false;
    for (const index of batch.filter((i) => !done.has(i))) {
      const single = await runChild(bases, [index], tmpDir, ITEM_TIMEOUT_MS);
      for (const r of single.results) results.set(r.index, r);
      const singleHow = death(single);
      if (singleHow) {
        found = true;
        save(index, `${singleHow}${single.stderr ? `; stderr: ${single.stderr.trim().slice(-300)}` : ''}`);
      }
    }
    if (!found) unexplained.push(`batch from ${batch[0]} ended in ${how}, but no item of it fails alone`);
  };
  const queue = [...batches];
  await Promise.all(Array.from({ length: JOBS }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) await runBatch(b);
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  fs.rmSync(tmpDir, { recursive: true, force: true });

  const bad = [...results.values()].flatMap((r) => r.failures.filter((f) => f.bad).map((f) => ({ index: r.index, ...f })));
  for (const b of bad.slice(0, MAX_SAVED)) if (!culprits.some((c) => c.index === b.index)) save(b.index, `bad error: ${b.bad}`);
  const summary = summarize(indices, results, bases.length, culprits, bad.length, seconds);
  fs.writeFileSync(path.join(outDir, 'summary.json'),
    `${JSON.stringify({ seed: SEED, jobs: JOBS, batch: BATCH, ...summary, badKinds: badKinds(bad), culprits }, null, 2)}\n`);
  for (const line of report(summary)) t.diagnostic(line);
  if (culprits.length === 0) fs.rmSync(outDir, { recursive: true, force: true });

  const crashes = culprits.filter((c) => !c.how.startsWith('hang') && !c.how.startsWith('bad'));
  const hangs = culprits.filter((c) => c.how.startsWith('hang'));
  const replay = (cs: Culprit[]) => cs.slice(0, 10).map((c) => `  item ${c.index} (${c.kind} of ${c.base}${c.byPath ? ', by path' : ''}): ${c.how}\n    replay: node ${CHILD} '${JSON.stringify({ files: [c.file] })}'`).join('\n');
  assert.deepEqual(crashes, [], `${crashes.length} inputs crashed a child:\n${replay(crashes)}`);
  assert.deepEqual(hangs, [], `${hangs.length} inputs hung a child:\n${replay(hangs)}`);
  assert.deepEqual(unexplained, []);
  assert.equal(results.size, indices.length, 'every item reported an outcome');
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} failures were not typed or not readable (inputs under ${outDir})`);
  assert.deepEqual(leaks, [], 'a batch left fds open');
  // The damage must leave enough objects intact for the later phases to be exercised at all.
  if (!ONLY) {
    assert.ok(summary.openOk > indices.length / 10, `only ${summary.openOk} objects opened`);
    assert.ok(summary.loadOk > indices.length / 20, `only ${summary.loadOk} objects loaded`);
  }
});

interface Summary {
  objects: number;
  seconds: number;
  openOk: number;
  loadOk: number;
  crashes: number;
  hangs: number;
  badErrors: number;
  byKind: Record<string, { objects: number; openOk: number; loadOk: number }>;
  /** Failures by phase and class, e.g. `open BtfParseError`. */
  failures: Record<string, number>;
}

function summarize(indices: number[], results: Map<number, ItemResult>, bases: number, culprits: Culprit[], badErrors: number, seconds: number): Summary {
  const byKind = Object.fromEntries(MUTATION_KINDS.map((k) => [k, { objects: 0, openOk: 0, loadOk: 0 }]));
  const failures: Record<string, number> = {};
  let openOk = 0;
  let loadOk = 0;
  for (const index of indices) {
    const k = byKind[planItem(index, bases).kind];
    k.objects++;
    const r = results.get(index);
    if (!r) continue;
    if (r.openOk) { openOk++; k.openOk++; }
    if (r.loadOk) { loadOk++; k.loadOk++; }
    for (const f of r.failures) failures[`${f.stage} ${f.cls}`] = (failures[`${f.stage} ${f.cls}`] ?? 0) + 1;
  }
  return {
    objects: indices.length, seconds: Math.round(seconds * 10) / 10, openOk, loadOk, badErrors,
    crashes: culprits.filter((c) => !c.how.startsWith('hang') && !c.how.startsWith('bad')).length,
    hangs: culprits.filter((c) => c.how.startsWith('hang')).length, byKind, failures,
  };
}

function report(s: Summary): string[] {
  const kinds = Object.entries(s.byKind).map(([k, v]) => `${k} ${v.objects} (open ${v.openOk}, load ${v.loadOk})`).join('; ');
  const failures = Object.entries(s.failures).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join('; ');
  return [`${s.objects} objects in ${s.seconds} s: open ok ${s.openOk}, load ok ${s.loadOk}, crashes ${s.crashes}, hangs ${s.hangs}, ` +
    `bad errors ${s.badErrors}`, `by kind: ${kinds}`, `failures by phase and class: ${failures}`];
}

/** Bad errors grouped by their message with the numbers blanked: how many, and one item to replay. */
function badKinds(bad: Array<{ index: number; cls: string; message: string }>): Record<string, { count: number; item: number }> {
  const out: Record<string, { count: number; item: number }> = {};
  for (const b of bad) {
    const key = `${b.cls}: ${b.message.replace(/\d+/g, 'N').slice(0, 160)}`;
    out[key] ??= { count: 0, item: b.index };
    out[key].count++;
  }
  return out;
}
