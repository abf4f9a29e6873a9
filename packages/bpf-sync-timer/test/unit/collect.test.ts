// `sync-timer collect` without a kernel: flags, the row codec, the sinks (read back by
// DuckDB), the batching writer's bounded queue, and the README's schema table.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { collect_sample } from '../../src/abi/collect.skel';
import { nearestFlag, parseBytes, parseCollectArgs, resolveParquetWriter } from '../../src/cli/collect-args';
import { COLUMNS, decodeRow, rowToNdjson, SAMPLE_CPU_OFFSET, SAMPLE_SIZE, SAMPLE_TICK_OFFSET, type Row } from '../../src/cli/collect-schema';
import { NdjsonSink, ParquetSink, type ParquetModule, type SinkOptions } from '../../src/cli/collect-sinks';
import { BatchWriter } from '../../src/cli/collect-writer';
import { UsageError } from '../../src/cli/units';

const NONE = 0xffff_ffff_ffff_ffffn;
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'collect-unit-'));
  dirs.push(d);
  return d;
}

/** A raw sample as collect.bpf.c writes it. */
function sample(tick: number, cpu: number, over: Partial<Record<string, unknown>> = {}): Buffer {
  return collect_sample.encode({
    tick_index: BigInt(tick), nominal_ns: BigInt(tick) * 1_000_000n, fired_ns: BigInt(tick) * 1_000_000n + 25_000n, missed: 0n, unseen: 0n,
    ctx_switches: 3n, oncpu_ns: 1234n, task_runtime_ns: 99n, hw: [NONE, NONE, NONE, NONE], cpu, expected_cpu: cpu, pid: 42, tid: 43,
    nr_running: 2, reserved: 0, comm: 'worker', ...over,
  } as Parameters<typeof collect_sample.encode>[0]);
}

function sinkOptions(dir: string, over: Partial<SinkOptions> = {}): SinkOptions {
  return { dir, prefix: 'h-20260101T000000Z', rotateBytes: 1 << 30, rotateMs: 3_600_000, rowGroupRows: 100, metadata: { host: 'h' }, ...over };
}

const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => decodeRow(sample(1000 + i, i % 2), 0, 'h'));

async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

describe('collect flags', () => {
  it('has the documented defaults', () => {
    const o = parseCollectArgs(['--out', '/tmp/x']);
    assert.deepEqual({ ...o, cpus: undefined }, {
      intervalNs: 1_000_000n, durationNs: 10_000_000_000n, out: '/tmp/x', format: 'parquet', cpus: undefined, mode: 'auto',
      rotateBytes: 256 * 1024 * 1024, rotateNs: 3_600_000_000_000n, rowGroupRows: 100_000, queue: 64, hw: true, clock: 'monotonic',
    });
  });

  it('reads units and choices', () => {
    const o = parseCollectArgs(['--out', 'd', '--interval', '100us', '--duration', '2s', '--format', 'ndjson', '--rotate-size', '64MB', '--rotate-time', '5m', '--hw', 'off', '--mode', 'thread']);
    assert.equal(o.intervalNs, 100_000n);
    assert.equal(o.format, 'ndjson');
    assert.equal(o.rotateBytes, 64_000_000);
    assert.equal(o.rotateNs, 300_000_000_000n);
    assert.equal(o.hw, false);
    assert.equal(o.mode, 'thread');
    assert.equal(parseBytes('x', '1.5KiB'), 1536);
  });

  it('refuses bad flags naming the flag, and suggests the nearest name', () => {
    const cases: [string[], RegExp][] = [
      [['--outt', 'd'], /unknown option '--outt'; did you mean --out\?/],
      [['--out', 'd', '--formt', 'ndjson'], /did you mean --format\?/],
      [['--out', 'd', '--zzzzzzzzzz'], /unknown option '--zzzzzzzzzz'$/],
      [[], /--out DIR is required/],
      [['--out', 'd', '--interval', '100ns'], /--interval 100ns: .*below the minimum of 1000 ns/],
      [['--out', 'd', '--interval', '2h'], /--interval: cannot read '2h'/],
      [['--out', 'd', '--duration', '0'], /--duration: must be more than 0/],
      [['--out', 'd', '--format', 'csv'], /expected parquet or ndjson/],
      [['--out', 'd', '--rotate-size', '0'], /--rotate-size: cannot read '0'/],
      [['--out', 'd', '--rotate-time', '10ms'], /--rotate-time: at least 1s/],
      [['--out', 'd', '--queue', '0'], /--queue: expected a whole number from 1/],
      [['--out', 'd', '--hw', 'on'], /--hw: expected auto or off/],
      [['--out', 'd', '--clock', 'tai'], /--clock: expected monotonic or realtime, got 'tai'/],
      [['--out', 'd', 'extra'], /collect: .*positional/i],
    ];
    for (const [args, message] of cases) assert.throws(() => parseCollectArgs(args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(' '));
    assert.equal(nearestFlag('rotate-sise', ['rotate-size', 'rotate-time']), 'rotate-size');
  });
});

describe('collect rows', () => {
  it('decodes a sample: lateness from fired - nominal, "not measured" as null', () => {
    const r = decodeRow(sample(7, 1, { ctx_switches: NONE, oncpu_ns: NONE, nr_running: 0xffff_ffff, hw: [5n, NONE, 7n, NONE] }), 0, 'host1');
    assert.deepEqual(r, {
      tick_index: 7n, cpu: 1, expected_cpu: 1, host: 'host1', nominal_ns: 7_000_000n, lateness_ns: 25_000n, missed: 0n, unseen: 0n,
      ctx_switches: null, oncpu_ns: null, task_runtime_ns: 99n, pid: 42, tid: 43, comm: 'worker', nr_running: null,
      cycles: 5n, instructions: null, llc_misses: 7n, cache_references: null,
    });
    assert.deepEqual(Object.keys(r), COLUMNS.map((c) => c.name), 'rows have the columns in file order');
    assert.equal(sample(1, 9).readUInt32LE(SAMPLE_CPU_OFFSET), 9, 'SAMPLE_CPU_OFFSET finds cpu');
    assert.equal(sample(2 ** 40 + 3, 9).readBigUInt64LE(SAMPLE_TICK_OFFSET), 2n ** 40n + 3n, 'SAMPLE_TICK_OFFSET finds tick_index');
    assert.equal(SAMPLE_SIZE, 136);
  });

  it('writes NDJSON with exact 64-bit numbers', () => {
    const line = rowToNdjson(decodeRow(sample(1, 0, { task_runtime_ns: 2n ** 60n + 1n }), 0, 'h'));
    assert.match(line, /"task_runtime_ns":1152921504606846977,/);
    assert.ok(line.endsWith('}\n'));
    assert.deepEqual(Object.keys(JSON.parse(line)), COLUMNS.map((c) => c.name));
  });
});

describe('collect sinks', () => {
  it('NDJSON rotates by size and renames complete files', () => {
    const dir = tempDir();
    const sink = new NdjsonSink(sinkOptions(dir, { rotateBytes: 4096 }));
    for (let i = 0; i < 10; i++) sink.add(rowsOf(10));
    const files = sink.close();
    assert.ok(files.length >= 3, `${files.length} files`);
    assert.equal(files.reduce((a, f) => a + f.rows, 0), 100);
    assert.deepEqual(fs.readdirSync(dir).sort(), files.map((f) => f.file).sort(), 'no .partial left');
    for (const f of files) assert.equal(fs.readFileSync(path.join(dir, f.file), 'utf8').split('\n').length - 1, f.rows);
    assert.equal(files[0].file, 'h-20260101T000000Z-0001.ndjson');
  });

  it('Parquet: DuckDB reads the schema, the rows, the nulls and the metadata back; rotation by size', async () => {
    const dir = tempDir();
    const parquet = (await import(resolveParquetWriter())) as ParquetModule;
    const sink = new ParquetSink(sinkOptions(dir, { rotateBytes: 2000, rowGroupRows: 50, metadata: { host: 'h', interval_ns: '1000000' } }), parquet);
    for (let i = 0; i < 4; i++) sink.add(rowsOf(50));
    const files = sink.close();
    assert.ok(files.length >= 2, `${files.length} files`);
    const glob = `${dir}/*.parquet`;
    const described = await duck(`DESCRIBE SELECT * FROM read_parquet('${glob}')`);
    assert.deepEqual(described.map((d) => d.column_name), COLUMNS.map((c) => c.name));
    const [r] = await duck(`SELECT count(*) AS n, count(DISTINCT tick_index) AS d, min(tick_index) AS lo, max(tick_index) AS hi,
      count(cycles) AS cycles, min(comm) AS comm, min(lateness_ns) AS late FROM read_parquet('${glob}')`);
    assert.deepEqual(r, { n: '200', d: '50', lo: '1000', hi: '1049', cycles: '0', comm: 'worker', late: '25000' });
    const kv = await duck(`SELECT DISTINCT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${glob}') ORDER BY 1`);
    assert.deepEqual(kv, [{ k: 'host', v: 'h' }, { k: 'interval_ns', v: '1000000' }]);
    const schema = await duck(`SELECT name, repetition_type FROM parquet_schema('${dir}/${files[0].file}') WHERE name <> 'root'`);
    assert.deepEqual(schema.map((s) => [s.name, s.repetition_type]), COLUMNS.map((c) => [c.name, c.nullable ? 'OPTIONAL' : 'REQUIRED']));
    // min/max on the keys, for pruning: a tick_index filter skips the files outside it
    const stats = await duck(`SELECT DISTINCT path_in_schema AS col FROM parquet_metadata('${glob}') WHERE stats_min_value IS NOT NULL ORDER BY 1`);
    assert.deepEqual(stats.map((x) => x.col), ['cpu', 'host', 'nominal_ns', 'tick_index']);
  });
});

describe('collect writer thread', () => {
  const config = (dir: string) => ({ format: 'ndjson' as const, host: 'h', sink: sinkOptions(dir) });

  it('writes every pushed sample, in batches, off this thread', async () => {
    const dir = tempDir();
    const w = await BatchWriter.start(config(dir), { batchRows: 64, maxInFlight: 64 });
    for (let i = 0; i < 1000; i++) w.push(sample(i, 0));
    const s = await w.close();
    assert.deepEqual({ written: s.written, dropped: s.dropped, rows: s.files.map((f) => f.rows) }, { written: 1000, dropped: 0, rows: [1000] });
    const ticks = fs.readFileSync(path.join(dir, s.files[0].file), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Row).tick_index);
    assert.deepEqual(ticks, Array.from({ length: 1000 }, (_, i) => i), 'in order');
    assert.equal(await w.close(), s, 'close is idempotent');
  });

  it('drops and counts the batches beyond its bound instead of queueing them', async () => {
    const dir = tempDir();
    const w = await BatchWriter.start(config(dir), { batchRows: 10, maxInFlight: 1 });
    // nothing is acknowledged while this loop runs (acks arrive on the event loop): batch 1 goes, 2..10 drop
    for (let i = 0; i < 100; i++) w.push(sample(i, 0));
    assert.equal(w.dropped, 90);
    const s = await w.close();
    assert.deepEqual({ written: s.written, dropped: s.dropped }, { written: 10, dropped: 90 });
  });

  it('reports a sink that cannot be opened', async () => {
    await assert.rejects(BatchWriter.start({ format: 'parquet', host: 'h', sink: sinkOptions(tempDir()), parquetEntry: '/nonexistent/hyparquet.js' }, { batchRows: 1, maxInFlight: 1 }),
      /collect: .*nonexistent/);
  });
});

describe('collect without hyparquet-writer', () => {
  it('says how to install it, exit status 1, before loading anything', () => {
    const dir = tempDir();
    const preload = path.join(dir, 'no-parquet.js');
    fs.writeFileSync(preload, `const M = require('node:module'); const r = M._resolveFilename;
M._resolveFilename = function (req, ...a) { if (req === 'hyparquet-writer') { const e = new Error('Cannot find module ' + req); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, req, ...a); };
process.dlopen = () => { throw new Error('no-parquet preload: the addon must not load'); };`);
    const main = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
    const out = path.join(dir, 'out');
    const r = spawnSync(process.execPath, ['--require', preload, main, 'collect', '--out', out], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--format parquet needs the hyparquet-writer package, an optional peer dependency of bpf-sync-timer: run `npm install hyparquet-writer`.*--format ndjson/);
    assert.equal(fs.existsSync(out), false, 'no output directory made');
  });
});

describe('collect docs', () => {
  it("the README's schema table lists COLUMNS: names, types, nullability, in order", () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('<!-- collect-schema -->'), readme.indexOf('<!-- /collect-schema -->'));
    const table = section.split('\n').filter((l) => /^\| `/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    assert.deepEqual(table.map((c) => [c[1].replace(/`/g, ''), c[2], c[3]]), COLUMNS.map((c) => [c.name, c.type, c.nullable ? 'yes' : 'no']));
  });
});
