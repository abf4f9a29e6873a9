// `sync-timer collect` as a user runs it; its files read back by DuckDB and checked against
// the timer's own counters by tick identity (the summary's per-CPU windows).
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { collect, type CollectSummary } from '../../src/cli/collect';
import { parseCollectArgs } from '../../src/cli/collect-args';
import { COLUMNS } from '../../src/cli/collect-schema';
import { fdCount, requireRoot } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
const DUCKDB_TYPE = { INT64: 'BIGINT', INT32: 'INTEGER', STRING: 'VARCHAR' } as const;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'collect-test-'));
}

function readSummary(dir: string): CollectSummary {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('-summary.json'));
  assert.equal(files.length, 1, `one summary file in ${dir}: ${files.join(', ')}`);
  return JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as CollectSummary;
}

async function rows(db: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/**
 * The identity checks shared by both formats, on a DuckDB relation `samples`. Per CPU:
 * every step between consecutive rows skips exactly the grid points the timer counted as
 * missed plus the ticks the subscriber counted as unseen; and in the window the summary
 * takes from the timer's own counters, the rows are exactly the ticks the timer fired
 * there less the unseen ones (by tick index: no duplicates, none outside the window's grid).
 */
async function checkAgainstTimer(db: DuckDBConnection, s: CollectSummary, t: { diagnostic(m: string): void }): Promise<void> {
  const steps = await rows(db, `SELECT expected_cpu AS cpu, count(*) AS n,
      count(*) FILTER (WHERE tick_index - prev_tick - 1 <> (missed - prev_missed) + (unseen - prev_unseen)) AS unexplained,
      coalesce(sum(unseen - prev_unseen), 0) AS unseen
    FROM (SELECT *, lag(tick_index) OVER w AS prev_tick, lag(missed) OVER w AS prev_missed, lag(unseen) OVER w AS prev_unseen FROM samples
          WINDOW w AS (PARTITION BY expected_cpu ORDER BY tick_index))
    WHERE prev_tick IS NOT NULL GROUP BY 1 ORDER BY 1`);
  assert.deepEqual(steps.map((x) => x.cpu), s.cpus, 'rows from every armed CPU');
  for (const x of steps) assert.equal(x.unexplained, '0', `cpu ${x.cpu}: steps in tick_index that neither missed nor unseen explains`);
  for (const w of s.windows) {
    assert.equal(w.ringDrops, '0', `cpu ${w.cpu}: ring buffer drops`);
    assert.equal(BigInt(w.endTick) - BigInt(w.firstTick), BigInt(w.ticks) + BigInt(w.missed), `cpu ${w.cpu}: the window is ticks + missed grid points`);
    // the collector reads the window after a row from every CPU and closes it before two
    // more, so rows bound it on both sides: the unseen ticks between the last row before
    // and the first row after it are the window's, plus any in those two edge gaps
    const [r] = await rows(db, `WITH c AS (SELECT * FROM samples WHERE expected_cpu = ${w.cpu}),
        inside AS (SELECT * FROM c WHERE tick_index >= ${w.firstTick} AND tick_index < ${w.endTick}),
        before AS (SELECT max_by(unseen, tick_index) AS u, max(tick_index) AS t FROM c WHERE tick_index < ${w.firstTick}),
        after AS (SELECT min_by(unseen, tick_index) AS u, min(tick_index) AS t FROM c WHERE tick_index >= ${w.endTick})
      SELECT (SELECT count(*) FROM inside) AS n, (SELECT count(DISTINCT tick_index) FROM inside) AS d,
        (SELECT u FROM after) - (SELECT u FROM before) AS unseen_between,
        (SELECT t FROM before) AS before_t, (SELECT t FROM after) AS after_t`);
    assert.equal(r.d, r.n, `cpu ${w.cpu}: no tick index twice`);
    assert.ok(r.before_t !== null && r.after_t !== null, `cpu ${w.cpu}: rows before and after the window`);
    const n = BigInt(r.n as string);
    const edges = (BigInt(w.firstTick) - BigInt(r.before_t as string) - 1n) + (BigInt(r.after_t as string) - BigInt(w.endTick));
    const unseenInside = BigInt(r.unseen_between as string);
    assert.ok(n + unseenInside >= BigInt(w.ticks) && n + unseenInside - edges <= BigInt(w.ticks),
      `cpu ${w.cpu}: ${n} rows + ${unseenInside} unseen (edge gaps ${edges}) vs the timer's ${w.ticks} callbacks in [${w.firstTick}, ${w.endTick})`);
    if (edges === 0n) assert.equal(n + unseenInside, BigInt(w.ticks), `cpu ${w.cpu}: rows + unseen = the timer's callbacks`);
    assert.equal(w.rows >= Number(n), true, `cpu ${w.cpu}: the summary's row count covers the window`);
    t.diagnostic(`cpu ${w.cpu}: window [${w.firstTick}, ${w.endTick}): timer ${w.ticks} ticks, ${w.missed} missed; ${n} rows, ${unseenInside} unseen`);
  }
}

describe('sync-timer collect', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  before(async () => {
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
  });
  after(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  it('writes rotated Parquet whose rows DuckDB matches, per CPU, to the ticks the timer fired', async (t) => {
    requireRoot();
    const dir = tempDir();
    try {
      const r = run('collect', '--interval', '1ms', '--duration', '3s', '--out', dir, '--rotate-size', '16KiB', '--row-group', '1000');
      assert.equal(r.status, 0, r.stderr);
      const s = readSummary(dir);
      t.diagnostic(r.stderr.trim().split('\n').at(-1)!);
      assert.equal(s.format, 'parquet');
      assert.equal(s.queueDrops, 0);
      const onDisk = fs.readdirSync(dir).filter((f) => !f.endsWith('-summary.json')).sort();
      assert.deepEqual(onDisk, s.files.map((f) => f.file).sort(), 'the summary lists every file; none is left .partial');
      assert.ok(s.files.length >= 2, `--rotate-size 16KiB rotated: ${s.files.length} files`);
      const glob = `${dir}/*.parquet`;
      await db.run(`CREATE OR REPLACE VIEW samples AS SELECT * FROM read_parquet('${glob}', filename = true)`);

      const described = await rows(db, `DESCRIBE SELECT * EXCLUDE (filename) FROM samples`);
      assert.deepEqual(described.map((d) => [d.column_name, d.column_type]), COLUMNS.map((c) => [c.name, DUCKDB_TYPE[c.type]]), 'the documented schema');
      const perFile = await rows(db, `SELECT filename, count(*) AS n FROM samples GROUP BY 1`);
      for (const f of s.files) assert.equal(perFile.find((p) => path.basename(p.filename as string) === f.file)?.n, String(f.rows), `rows of ${f.file}`);
      assert.equal(perFile.reduce((a, p) => a + Number(p.n), 0), s.rows, 'rows in the files = rows the writer reported');
      const meta = await rows(db, `SELECT DISTINCT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata('${glob}')`);
      const kv = Object.fromEntries(meta.map((m) => [m.key, m.value]));
      assert.equal(kv.interval_ns, '1000000');
      assert.equal(kv.host, os.hostname());
      assert.equal(kv.clock, 'monotonic');

      await checkAgainstTimer(db, s, t);

      const [v] = await rows(db, `SELECT
          count(*) FILTER (WHERE nominal_ns <> tick_index * ${s.intervalNs}) AS off_grid,
          count(*) FILTER (WHERE lateness_ns < 0) AS early,
          count(*) FILTER (WHERE cpu <> expected_cpu) AS migrated,
          count(*) FILTER (WHERE comm = '' OR host <> '${os.hostname()}') AS unnamed,
          count(*) FILTER (WHERE ctx_switches IS NULL) AS no_switches,
          coalesce(sum(ctx_switches), 0) AS switches,
          count(*) FILTER (WHERE nr_running IS NULL) AS no_nr_running,
          count(*) FILTER (WHERE pid = 0 AND comm NOT LIKE 'swapper/%') AS idle_misnamed,
          count(cycles) + count(instructions) + count(llc_misses) + count(cache_references) AS hw_values
        FROM samples`);
      assert.equal(v.off_grid, '0', 'nominal_ns = tick_index * interval');
      assert.equal(v.early, '0', 'the timer never fires before its grid point');
      if (s.mode === 'modern') assert.equal(v.migrated, '0', 'pinned timers do not migrate');
      assert.equal(v.unnamed, '0');
      assert.equal(v.idle_misnamed, '0');
      // a CPU's first row has no previous tick to count switches from
      assert.equal(v.no_switches, String(s.cpus.length), 'ctx_switches is null on each CPU\'s first row only');
      assert.ok(Number(v.switches) > 0, `context switches counted: ${v.switches}`);
      assert.equal(v.no_nr_running, '0', 'nr_running on every row (CONFIG_FAIR_GROUP_SCHED)');
      if (s.hardwareCounters.length === 0) {
        assert.equal(v.hw_values, '0', 'no PMU: every hardware counter column is null');
        assert.match(r.stderr, /hardware counters: none, .* columns are null/);
      } else {
        assert.ok(Number(v.hw_values) > 0, 'hardware counters where a PMU is');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes NDJSON with the same columns and counts, and leaves no fd or thread behind', async (t) => {
    requireRoot();
    const dir = tempDir();
    try {
      const fds = fdCount();
      const logged: string[] = [];
      const s = await collect(parseCollectArgs(['--interval', '10ms', '--duration', '2s', '--out', dir, '--format', 'ndjson']), (l) => logged.push(l));
      assert.equal(fdCount(), fds, 'fds after collect');
      assert.match(logged.at(-1)!, /\d+ rows in 1 file/);
      assert.equal(s.files.length, 1);
      const text = fs.readFileSync(path.join(dir, s.files[0].file), 'utf8');
      assert.ok(text.endsWith('\n'));
      const lines = text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, s.rows);
      for (const l of lines) assert.deepEqual(Object.keys(l), COLUMNS.map((c) => c.name), 'every line has the columns in order');
      await db.run(`CREATE OR REPLACE VIEW samples AS SELECT * FROM read_json('${dir}/*.ndjson', format = 'newline_delimited',
        columns = {${COLUMNS.map((c) => `${c.name}: '${DUCKDB_TYPE[c.type]}'`).join(', ')}})`);
      await checkAgainstTimer(db, s, t);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on Ctrl-C (SIGINT) with complete files, a summary and exit status 0', async () => {
    requireRoot();
    const dir = tempDir();
    try {
      const child = spawn(process.execPath, [BIN, 'collect', '--interval', '1ms', '--duration', '60s', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const started = new Promise<void>((resolve) => child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('Ctrl-C stops')) resolve();
      }));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      await Promise.race([started, exited]);
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
      const s = readSummary(dir);
      assert.ok(s.seconds < 30, `stopped early: ${s.seconds} s`);
      assert.ok(s.rows > 0);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.partial')), [], 'no .partial file left');
      await db.run(`CREATE OR REPLACE VIEW samples AS SELECT * FROM read_parquet('${dir}/*.parquet')`);
      assert.deepEqual(await rows(db, 'SELECT count(*) AS n FROM samples'), [{ n: String(s.rows) }], 'the last file is complete and readable');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad flags with status 2 and a message naming the flag, before loading anything', () => {
    const dir = path.join(tempDir(), 'never');
    const cases: [string[], RegExp][] = [
      [['--ot', dir], /unknown option '--ot'; did you mean --out\?/],
      [['--intervall', '1ms', '--out', dir], /unknown option '--intervall'; did you mean --interval\?/],
      [['--interval', '0', '--out', dir], /--interval 0: .*below the minimum/],
      [['--interval', 'fast', '--out', dir], /--interval: cannot read 'fast'/],
      [['--duration', '5s'], /--out DIR is required/],
      [['--out', dir, '--format', 'csv'], /--format: expected parquet or ndjson, got 'csv'/],
      [['--out', dir, '--rotate-size', 'big'], /--rotate-size: cannot read 'big'/],
    ];
    for (const [args, message] of cases) {
      const r = run('collect', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.equal(fs.existsSync(dir), false, 'nothing created');
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });
});
