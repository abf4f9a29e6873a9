// `sync-timer include-dir` and help run without the native addon: the CLI is run with a
// preload that makes loading the binding or any .node file throw, so an eager import of
// '@bpf-sync-timer/libbpf' (or of a module that imports it) fails these tests.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

const PACKAGE = path.resolve(__dirname, '..', '..', '..');
const ENTRIES = {
  'dist/src/cli/main.js': path.join(PACKAGE, 'dist', 'src', 'cli', 'main.js'),
  'bin/sync-timer.js': path.join(PACKAGE, 'bin', 'sync-timer.js'),
};

const PRELOAD = `'use strict';
const Module = require('node:module');
const load = Module._load;
const refuse = (what) => { throw new Error('no-addon preload: refused to load ' + what); };
Module._load = function (request, parent, isMain) {
  if (/@bpf-sync-timer\\/libbpf|node-gyp-build/.test(request)) refuse(request);
  let file;
  try { file = Module._resolveFilename(request, parent, isMain); } catch { file = request; }
  if (file.endsWith('.node') || file.includes('/packages/libbpf/')) refuse(file);
  return load.apply(this, arguments);
};
process.dlopen = () => refuse('a native addon (process.dlopen)');
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sync-timer-no-addon-'));
const preload = path.join(dir, 'no-addon.js');
fs.writeFileSync(preload, PRELOAD);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(entry: string, ...args: string[]) {
  return spawnSync(process.execPath, ['--require', preload, entry, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
}

describe('the CLI without the native addon', () => {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    it(`${name} include-dir prints the header directory`, () => {
      const r = run(entry, 'include-dir');
      assert.equal(r.status, 0, r.stderr);
      const dir = r.stdout.trim();
      assert.equal(dir, path.join(PACKAGE, 'include'));
      assert.ok(fs.existsSync(path.join(dir, 'sync_timer_bitmap.bpf.h')) && fs.existsSync(path.join(dir, 'sync_timer.bpf.h')));
    });

    it(`${name} cflags points at our headers and the pinned libbpf's bpf/bpf_helpers.h`, () => {
      const r = run(entry, 'cflags');
      assert.equal(r.status, 0, r.stderr);
      const flags = r.stdout.trim().split(' ');
      assert.equal(flags.length, 4, r.stdout);
      assert.deepEqual([flags[0], flags[2]], ['-I', '-I']);
      assert.equal(flags[1], path.join(PACKAGE, 'include'));
      assert.ok(fs.existsSync(path.join(flags[3], 'bpf', 'bpf_helpers.h')), `${flags[3]}/bpf/bpf_helpers.h`);
      assert.equal(fs.readFileSync(path.join(flags[3], 'bpf', 'LIBBPF_VERSION'), 'utf8').split(' ')[0], '1.7.0');
    });

    it(`${name} help, --help and -h print the usage (status 0); no command prints it with status 2`, () => {
      for (const args of [['help'], ['--help'], ['-h'], []]) {
        const r = run(entry, ...args);
        assert.equal(r.status, args.length ? 0 : 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, /^usage: sync-timer <command>/, args.join(' '));
        assert.match(r.stdout, /include-dir/);
      }
    });
  }

  it('rejects unknown options and arguments with a message and status 2, before anything loads', () => {
    for (const [args, message] of [
      [['include-dir', '--bogus'], /^sync-timer: Unknown option '--bogus'/],
      [['include-dir', 'extra'], /^sync-timer: .*'extra'/],
      [['cflags', '--bogus'], /^sync-timer: Unknown option '--bogus'/],
      [['--bogus'], /^sync-timer: unknown option '--bogus'/],
      [['frobnicate'], /^sync-timer: unknown command 'frobnicate'/],
      [['monitor', '--bogus'], /^sync-timer: Unknown option '--bogus'/],
      [['monitor', '--clock', 'tai'], /^sync-timer: --clock: expected monotonic or realtime, got 'tai'/],
      [['doctor', '--bogus'], /^sync-timer: Unknown option '--bogus'/],
    ] as const) {
      const r = run(ENTRIES['dist/src/cli/main.js'], ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /no-addon preload/, args.join(' '));
    }
  });

  it('the preload does refuse the addon: doctor, which needs it, fails under it', () => {
    const r = run(ENTRIES['dist/src/cli/main.js'], 'doctor');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no-addon preload: refused to load/);
  });
});
