// The sync-timer benchmark's report: a --quick run (every method, a few seconds) must
// produce report.md, results.json and an HTML report whose plots are really drawn. The
// HTML is rendered to PNG by headless Chromium (Debian's chromium package) and the
// picture is checked: big enough, not blank, and the methods' plot colours present.
// Needs root, like the kernel tests; fails (never skips) without it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { README_END, README_START, replaceReadmeSection } from '../../bench/sync-timer/lib/report.mjs';
import { fitPhase } from '../../bench/sync-timer/lib/analyze.mjs';
import { phasesOf, summarizeStartup } from '../../bench/sync-timer/lib/startup.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';

test('the README section is replaced between its markers only', () => {
  const readme = `# x\nbefore\n${README_START}\nold table\n${README_END}\nafter ${README_START.length}\n`;
  const next = replaceReadmeSection(readme, '| a |\n|---|\n| 1 |');
  assert.equal(next, `# x\nbefore\n${README_START}\n| a |\n|---|\n| 1 |\n${README_END}\nafter ${README_START.length}\n`);
  assert.throws(() => replaceReadmeSection('no markers', 'x'), /no <!-- bench:sync-timer:start -->/);
  const real = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.ok(real.includes(README_START) && real.includes(README_END), 'README.md keeps the benchmark markers');
});

test('a perf_event phase is fitted to the earliest sample of its cluster, across the wrap', () => {
  const T = 1_000_000;
  // samples 990..1010 µs after grid points (wrapping past T), one late outlier
  const times = [];
  for (let k = 0; k < 200; k++) times.push(k * T + 990_000 + (k % 21) * 1000);
  times.push(500 * T + 400_000);
  const phase = fitPhase(times, T);
  assert.ok(Math.abs(phase - 990_000) < 1, `phase ${phase}`);
});

test('start-up phases come from the marks, and the ratio compares like with like', () => {
  // marks in ns after the call; the first ticks per CPU likewise
  const p = phasesOf({ openStart: 100_000, opened: 300_000, loadStart: 350_000, loaded: 2_350_000, armStart: 2_450_000, returned: 3_000_000 }, [2_900_000, 2_800_000]);
  assert.deepEqual(p, { beforeOpen: 0.1, open: 0.2, globals: 0.05, load: 2, beforeArm: 0.1, armToTick: 0.45, totalMs: 2.9, returnedMs: 3 });
  const run = (totals) => totals.map((t) => ({ ...p, totalMs: t }));
  const s = summarizeStartup({ intervalNs: 100_000, c: run([2, 3, 9]), cWarm: run([1, 2, 2]), nodeCold: run([5, 6, 7]), nodeWarm: run([3, 2.5, 30]), nodeEager: run([4, 4, 4]), requireMs: [30, 31, 32] });
  // medians, so one disturbed start on either side moves nothing
  assert.equal(s.startup_node_over_c, 3 / 2, 'second start: TS ÷ C');
  assert.equal(s.startup_first_node_over_c, 6 / 3, 'first start: TS ÷ C');
  assert.equal(s.startup_first_eager_node_over_c, 4 / 3);
  assert.equal(s.requireMs, 31);
  assert.deepEqual(s.spreadMs.c, [2, 9]);
});

function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return;
  // the bench's own test needs it; install it the way the README's bootstrap installs packages
  spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'ignore', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
}

/** Decodes an 8-bit RGB/RGBA, non-interlaced PNG into { width, height, channels, pixels }. */
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  let o = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat = [];
  while (o < buf.length) {
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    const data = buf.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = { 2: 3, 6: 4 }[data[9]];
      assert.ok(channels, `colour type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? out[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      let p;
      switch (filter) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: {
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`PNG filter ${filter}`);
      }
      out[i] = (line[i] + p) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

test('the quick benchmark writes a report whose plots render', { timeout: 300_000 }, () => {
  assert.equal(process.getuid(), 0, 'the benchmark needs root (BPF, perf events, bpf_stats): run the tests with sudo');
  ensureChromium();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-timer-bench-'));
  const statsBefore = fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8');
  const readmeBefore = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  try {
    const started = Date.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bench/sync-timer/run.mjs'), '--quick', '--no-readme', '--out', out], { cwd: root, encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, `the quick bench failed (${r.status ?? r.signal}):\n${r.stderr}`);
    assert.ok(Date.now() - started < 120_000, 'the quick profile stays quick');

    // nothing left behind
    assert.equal(fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8'), statsBefore, 'kernel.bpf_stats_enabled restored');
    assert.equal(fs.readFileSync(path.join(root, 'README.md'), 'utf8'), readmeBefore, '--no-readme leaves README.md alone');
    const left = spawnSync('pgrep', ['-f', 'bench/out/sync-timer/bin/'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '', `bench processes left running: ${left}`);

    // results: every method measured, the sync timer delivering
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    const methods = new Set(results.configurations.map((c) => c.method));
    for (const m of ['sync', 'sync-c', 'perf', 'user', 'sync-timed']) assert.ok(methods.has(m), `${m} was measured`);
    const sync = results.configurations.find((c) => c.method === 'sync' && c.load === 'idle' && c.subscribers === 1);
    for (const d of sync.m.deliveryPerCpu) assert.ok(d.med > 0.8, `sync timer delivery ${d.med}`); // a sanity check: performance is the report's job
    assert.ok(sync.m.sub0Ns.med > 0 && Number.isFinite(sync.m.pathNs.med), 'costs measured');
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    for (const h of ['## Aims', '## Timing, 1 subscriber', '## Cost against subscribers', '## Start-up']) assert.ok(md.includes(h), `report.md has ${h}`);
    // start-up: the ratio in the JSON, from phases measured on every side
    assert.ok(Number.isFinite(results.startup_node_over_c) && results.startup_node_over_c > 0, `startup_node_over_c ${results.startup_node_over_c}`);
    for (const side of ['c', 'cWarm', 'nodeCold', 'nodeWarm', 'nodeEager']) {
      const st = results.startup[side];
      assert.ok(st.load > 0.1 && st.totalMs >= st.load && st.armToTick > 0, `start-up phases of ${side}: ${JSON.stringify(st)}`);
    }
    assert.match(md, /\| 1 ms \| idle \| perf_event † \|.*×/, 'the timing table has ratios against perf_event');

    // the HTML: self-contained, every plot with its data drawn
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    assert.ok(!/(src|href)="https?:/.test(html), 'no external resources');
    const svgs = [...html.matchAll(/<svg [^>]*data-plot="(\w+)"[\s\S]*?<\/svg>/g)];
    const byKind = (k) => svgs.filter((m) => m[1] === k).map((m) => m[0]);
    assert.equal(byKind('lateness').length, 2, 'a lateness plot per load');
    for (const svg of byKind('lateness')) {
      const series = [...svg.matchAll(/class="series" data-series="[^"]+" data-points="(\d+)"/g)].map((m) => Number(m[1]));
      assert.ok(series.length >= 4 && series.every((n) => n >= 5), `lateness series drawn: ${series}`);
    }
    assert.equal(byKind('raster').length, 2, 'a raster per load');
    for (const svg of byKind('raster')) {
      // perf_event may deliver next to nothing on an idle CPU: only the sync timer's rows must be full
      const rows = [...svg.matchAll(/data-row="([^"]+)" data-ticks="(\d+)"/g)].map((m) => [m[1], Number(m[2])]);
      assert.ok(rows.length >= 8, `raster rows: ${rows}`);
      for (const [row, n] of rows.filter(([r]) => r.startsWith('sync timer (TS)'))) assert.ok(n >= 10, `${row}: ${n} ticks in 12 intervals`);
      assert.ok(rows.reduce((a, [, n]) => a + n, 0) >= 60, `raster ticks drawn: ${rows}`);
    }
    assert.ok(byKind('cost').length >= 2, 'cost plots');
    for (const svg of byKind('cost')) assert.ok((svg.match(/class="point"/g) ?? []).length >= 6, 'cost points drawn');

    // the picture
    const png = path.join(out, 'report.png');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-'));
    try {
      execFileSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, `--screenshot=${png}`, '--window-size=1400,3000', `file://${path.join(out, 'report.html')}`],
      { stdio: 'ignore', timeout: 90_000 });
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
    assert.ok(fs.statSync(png).size > 50_000, `screenshot too small (${fs.statSync(png).size} bytes)`);
    const img = decodePng(fs.readFileSync(png));
    assert.equal(img.width, 1400);
    let ink = 0;
    const colours = new Set();
    const near = { sync: [0x1f, 0x5f, 0xbf], perf: [0xe0, 0x7b, 0x00], user: [0x2e, 0x9e, 0x44] };
    const hits = { sync: 0, perf: 0, user: 0 };
    for (let i = 0; i < img.pixels.length; i += img.channels) {
      const [r, g, b] = [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]];
      if (r < 235 || g < 235 || b < 235) ink++;
      colours.add((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
      for (const [k, [cr, cg, cb]] of Object.entries(near)) if (Math.abs(r - cr) < 12 && Math.abs(g - cg) < 12 && Math.abs(b - cb) < 12) hits[k]++;
    }
    const pixels = img.width * img.height;
    assert.ok(ink / pixels > 0.03, `the page is almost blank (${((ink / pixels) * 100).toFixed(1)}% ink)`);
    assert.ok(colours.size > 40, `too few colours (${colours.size}): plots not rendered?`);
    for (const [k, n] of Object.entries(hits)) assert.ok(n > 200, `the ${k} colour is missing from the rendered plots (${n} pixels)`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
