// The code cache (src/code-cache.ts): a package's modules load through it with the same
// results as through Node's loader; the second process takes its compiled code from the
// first one's file; a file it cannot trust (another owner's, writable by others, damaged,
// made from other bytes or under another command line) is not used; it never breaks a load.
// Each case runs fresh Node processes over a small package written to a temporary directory.
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CODE_CACHE = path.resolve(__dirname, '../../src/code-cache.js');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'libbpf-code-cache-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let packages = 0;

/** A package: index.js (useCodeCache, then its API), a.js, sub/b.js; its directory. */
function writePackage(files: Record<string, string> = {}): string {
  const dir = path.join(root, `pkg${++packages}`);
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  const all: Record<string, string> = {
    'index.js': `'use strict';
const cc = require(${JSON.stringify(CODE_CACHE)});
cc.useCodeCache(module);
const a = require('./a');
exports.answer = a.answer;
exports.where = a.where;
exports.stats = () => cc.codeCacheStats(module);
exports.checkpoint = () => cc.codeCacheCheckpoint();
`,
    'a.js': `'use strict';
const b = require('./sub/b');
exports.answer = (x) => b.twice(x) + 1;
exports.where = () => ({ file: __filename, dir: __dirname, resolved: require.resolve('./sub/b'), parentIsA: b.parentIsA() });
`,
    'sub/b.js': `'use strict';
exports.twice = (x) => 2 * x;
exports.parentIsA = () => module.parent && module.parent.filename.endsWith('a.js');
`,
    ...files,
  };
  for (const [name, text] of Object.entries(all)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

interface Run {
  status: number | null;
  out: { answer?: number; stats: { file?: string; hits: number; misses: number }; where?: Record<string, unknown>; error?: string };
  stderr: string;
}

/** Loads the package in a fresh process (`script` runs after, with `pkg` in scope); its report. */
function run(dir: string, cache: string, options: { script?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Run {
  const program = `
let pkg, out = {};
try {
  pkg = require(${JSON.stringify(path.join(dir, 'index.js'))});
  out.answer = pkg.answer(20);
  out.where = pkg.where();
  ${options.script ?? ''}
} catch (e) { out.error = String(e && e.message); }
out.stats = pkg ? pkg.stats() : { hits: 0, misses: 0 };
process.stdout.write(JSON.stringify(out));
`;
  const r = spawnSync(process.execPath, [...(options.args ?? []), '-e', program], {
    env: { ...process.env, BPF_SYNC_TIMER_CODE_CACHE: cache, ...options.env }, encoding: 'utf8',
  });
  return { status: r.status, out: JSON.parse(r.stdout || '{}'), stderr: r.stderr };
}

function cacheFiles(cache: string): string[] {
  return fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith('.v8cache')) : [];
}

describe('useCodeCache', () => {
  it('loads the modules as Node does, and the next process from the cache', () => {
    const dir = writePackage();
    const cache = path.join(root, 'cache1');
    const first = run(dir, cache);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.out.answer, 41);
    assert.deepEqual(first.out.where, { file: path.join(dir, 'a.js'), dir, resolved: path.join(dir, 'sub/b.js'), parentIsA: true });
    assert.deepEqual({ hits: first.out.stats.hits, misses: first.out.stats.misses }, { hits: 0, misses: 2 }, 'a.js and sub/b.js compiled');
    assert.equal(cacheFiles(cache).length, 1, 'one file, written at exit');
    const mode = fs.statSync(path.join(cache, cacheFiles(cache)[0])).mode & 0o777;
    assert.equal(mode, 0o600);
    assert.equal(fs.statSync(cache).mode & 0o777, 0o700);
    const second = run(dir, cache);
    assert.equal(second.out.answer, 41);
    assert.deepEqual(second.out.where, first.out.where);
    assert.deepEqual({ hits: second.out.stats.hits, misses: second.out.stats.misses }, { hits: 2, misses: 0 });
  });

  it('does not use data made from other bytes, even of the same length', () => {
    const dir = writePackage();
    const cache = path.join(root, 'cache2');
    run(dir, cache);
    const b = path.join(dir, 'sub/b.js');
    fs.writeFileSync(b, fs.readFileSync(b, 'utf8').replace('2 * x', '3 * x'));
    const changed = run(dir, cache);
    assert.equal(changed.out.answer, 61, 'the new source runs');
    assert.deepEqual({ hits: changed.out.stats.hits, misses: changed.out.stats.misses }, { hits: 1, misses: 1 });
    const again = run(dir, cache);
    assert.equal(again.out.answer, 61);
    assert.equal(again.out.stats.hits, 2, 'the file was written again');
  });

  it('ignores a file writable by others, a damaged file and one of another command line', () => {
    const dir = writePackage();
    const cache = path.join(root, 'cache3');
    run(dir, cache);
    const [name] = cacheFiles(cache);
    const file = path.join(cache, name);
    fs.chmodSync(file, 0o666);
    const shared = run(dir, cache);
    assert.equal(shared.out.answer, 41);
    assert.equal(shared.out.stats.hits, 0, 'a file others could have written is not trusted');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'and is replaced by one of ours');
    for (const damage of [Buffer.alloc(0), Buffer.from('BSTV8CC1'), Buffer.concat([fs.readFileSync(file).subarray(0, 40), Buffer.alloc(100, 0xff)])]) {
      fs.writeFileSync(file, damage, { mode: 0o600 });
      const r = run(dir, cache);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.out.answer, 41);
      assert.equal(r.out.stats.hits, 0);
    }
    const other = run(dir, cache, { args: ['--stack-size=900'] });
    assert.equal(other.out.answer, 41);
    assert.equal(other.out.stats.hits, 0, 'another command line has a file of its own');
    assert.equal(cacheFiles(cache).length, 2);
  });

  it('writes at a checkpoint, before an exit a signal would skip', () => {
    const dir = writePackage();
    const cache = path.join(root, 'cache4');
    const killed = run(dir, cache, { script: "pkg.checkpoint(); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);" });
    assert.equal(killed.status, null, 'killed');
    assert.equal(cacheFiles(cache).length, 1);
    assert.equal(run(dir, cache).out.stats.hits, 2, 'the code of `node -e` is not part of the key');
  });

  it('keeps at most 32 files, dropping the least recently written', () => {
    const dir = writePackage();
    const cache = path.join(root, 'cache7');
    fs.mkdirSync(cache, { mode: 0o700 });
    const old = Date.now() / 1000 - 3600;
    for (let i = 0; i < 40; i++) {
      const f = path.join(cache, `old${String(i).padStart(2, '0')}.v8cache`);
      fs.writeFileSync(f, 'x', { mode: 0o600 });
      fs.utimesSync(f, old + i, old + i);
    }
    const r = run(dir, cache);
    assert.equal(r.out.answer, 41);
    const left = cacheFiles(cache);
    assert.equal(left.length, 32);
    assert.ok(left.includes(path.basename(r.out.stats.file!)), 'the file just written is kept');
    assert.ok(!left.includes('old00.v8cache') && left.includes('old39.v8cache'), 'the oldest went first');
  });

  it('is off with BPF_SYNC_TIMER_CODE_CACHE=0, under source maps, and without a usable directory', () => {
    const dir = writePackage();
    const off = run(dir, '0');
    assert.equal(off.out.answer, 41);
    assert.equal(off.out.stats.file, undefined);
    const cache = path.join(root, 'cache5');
    const maps = run(dir, cache, { args: ['--enable-source-maps'] });
    assert.equal(maps.out.answer, 41);
    assert.equal(maps.out.stats.file, undefined, 'Node maps stack traces only of modules its own loader compiled');
    assert.deepEqual(cacheFiles(cache), []);
    const blocker = path.join(root, 'not-a-directory');
    fs.writeFileSync(blocker, '');
    const nowhere = run(dir, path.join(blocker, 'cache'));
    assert.equal(nowhere.status, 0, nowhere.stderr);
    assert.equal(nowhere.out.answer, 41);
    assert.equal(run(dir, 'relative/dir').out.stats.file, undefined, 'a relative directory is refused');
  });

  it('keeps Node semantics: a module that throws is not cached, a cycle sees partial exports', () => {
    const dir = writePackage({
      'a.js': `'use strict';
exports.early = 'a';
const b = require('./sub/b');
exports.answer = () => b.seen;
exports.where = () => { try { require('./bad'); } catch (e) { return { first: e.message, again: (() => { try { require('./bad'); } catch (e2) { return e2.message; } })() }; } };
`,
      'sub/b.js': `'use strict';
exports.seen = require('../a').early;
`,
      'bad.js': `'use strict';
globalThis.badRuns = (globalThis.badRuns || 0) + 1;
throw new Error('bad ' + globalThis.badRuns);
`,
    });
    const cache = path.join(root, 'cache6');
    for (let i = 0; i < 2; i++) {
      const r = run(dir, cache);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.out.answer as unknown, 'a');
      assert.deepEqual(r.out.where, { first: 'bad 1', again: 'bad 2' }, 'run again, as by Node');
    }
  });
});
