// The clean-room install lane: both packages are packed as `npm publish` would pack them
// (prepack builds what they need) and installed with npm into an empty project inside
// minimal Debian 11 and Debian 12 roots that have no compiler, make, Python, libbpf or clang
// (scripts/roots; cached between runs). There an ES module consumer starts the timer, loads
// a subscriber compiled on this host and counts ticks per CPU; a strict TypeScript consumer
// (nodenext) type-checks; `npx sync-timer` answers; and a machine the prebuild does not fit
// gets one sentence saying why and what the source build lacks. Needs root (chroot); fails,
// never skips, without it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const here = join(root, 'scripts', 'test', 'install');
const SUBSCRIBER = join(root, 'examples', 'seed', 'obj', 'seed000.bpf.o');
const ROOTS = process.env.BPF_SYNC_TIMER_ROOTS ?? '/var/cache/bpf-sync-timer-roots';
const NPM_CACHE = join(ROOTS, 'npm-cache');
// The strict consumer's compiler: the versions this repository builds with.
const TS_DEPS = ['typescript@~5.9.0', '@types/node@^20.0.0'];

let work;
let tarballs;

before(() => {
  assert.equal(process.getuid(), 0, 'the install lane needs root (debootstrap, chroot): run it with sudo');
  work = mkdtempSync(join(tmpdir(), 'bst-install-'));
  const out = join(work, 'pkgs');
  mkdirSync(out);
  execFileSync('npm', ['pack', '--silent', '-w', '@bpf-sync-timer/libbpf', '-w', 'bpf-sync-timer', '--pack-destination', out],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  tarballs = readdirSync(out).filter((f) => f.endsWith('.tgz')).sort();
  assert.equal(tarballs.length, 2, `npm pack made ${tarballs.join(', ')}`);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a shell script in the root with the project bound at /project; returns its result. */
function inRoot(rootDir, project, script, { timeout = 240_000 } = {}) {
  const r = spawnSync(join(root, 'scripts', 'roots', 'enter.sh'),
    [rootDir, '--bind', `${project}:/project`, '--bind', `${NPM_CACHE}:/npm-cache`, '--env', 'npm_config_cache=/npm-cache',
      '--env', 'npm_config_update_notifier=false', '--env', 'npm_config_fund=false', '--env', 'npm_config_audit=false',
      '--', 'bash', '-c', `set -euo pipefail; cd /project; ${script}`],
    { encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

function ok(r, what) {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code} ${r.error ?? ''}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

for (const suite of ['bullseye', 'bookworm']) {
  describe(`clean ${suite} root without a toolchain`, { timeout: 15 * 60_000 }, () => {
    let rootDir;
    let project;

    before(() => {
      mkdirSync(NPM_CACHE, { recursive: true });
      rootDir = execFileSync(join(root, 'scripts', 'roots', 'make-root.sh'), [suite, 'min'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
      project = join(work, suite);
      mkdirSync(join(project, 'pkgs'), { recursive: true });
      for (const t of tarballs) cpSync(join(work, 'pkgs', t), join(project, 'pkgs', t));
      for (const f of ['consumer.mjs', 'consumer.mts', 'tsconfig.json']) cpSync(join(here, f), join(project, f));
      cpSync(SUBSCRIBER, join(project, 'subscriber.bpf.o'));
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'collector', private: true, type: 'module' }, null, 2));
    });

    test('has no compiler, make, Python, libbpf or clang', () => {
      const r = ok(inRoot(rootDir, project, 'for t in cc gcc g++ make python3 clang; do command -v $t || true; done; ls /usr/lib/*/libbpf.so* 2>/dev/null || true'), 'probe');
      assert.equal(r.stdout.trim(), '', `the root has ${r.stdout.trim()}`);
    });

    test('npm install takes the prebuilt addon, builds nothing', () => {
      // npm 11 runs no dependency install scripts unless allowed, npm 10 runs ours: either way
      // the prebuild serves and nothing is compiled.
      const r = ok(inRoot(rootDir, project, `npm install --no-progress ${tarballs.map((t) => `./pkgs/${t}`).join(' ')} 2>&1; ` +
        'ls -d node_modules/@bpf-sync-timer/libbpf/build 2>/dev/null || echo "no build directory"'), 'npm install');
      assert.doesNotMatch(r.stdout, /building it from source|gyp (info|ERR)/i, r.stdout);
      assert.match(r.stdout, /^no build directory$/m, r.stdout);
    });

    test('an ES module consumer starts the timer, loads a host-compiled subscriber and counts ticks on every CPU', () => {
      const r = ok(inRoot(rootDir, project, 'node consumer.mjs subscriber.bpf.o 1000'), 'consumer.mjs');
      const out = JSON.parse(r.stdout.trim().split('\n').pop());
      assert.equal(out.libbpf, '1.7.0');
      assert.equal(out.mode, 'modern');
      assert.equal(out.includeDir, '/project/node_modules/bpf-sync-timer/include');
      for (const i of out.internals) assert.deepEqual(i, { spec: i.spec, importable: false, code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
      assert.ok(out.cpus.length >= 1);
      for (const c of out.cpus) {
        // ~1,000 ticks in 1 s at 1 ms; the window is loose (a chroot on a shared machine), the
        // identity bounds are not: the subscriber saw each tick only after the timer counted it.
        assert.ok(c.before >= 800 && c.before <= 1200, `CPU ${c.cpu}: ${c.before} ticks in about 1 s`);
        assert.ok(c.hits <= c.after, `CPU ${c.cpu}: ${c.hits} hits > ${c.after} timer ticks`);
        assert.ok(c.hits >= c.before * 0.98 - 2, `CPU ${c.cpu}: ${c.hits} hits for ${c.before} ticks`);
        assert.equal(c.wrongCpu, 0);
      }
    });

    test('a strict TypeScript consumer (nodenext) type-checks against the installed packages', () => {
      ok(inRoot(rootDir, project, `npm install --no-progress --no-save ${TS_DEPS.join(' ')} >/dev/null 2>&1 && npx tsc -p tsconfig.json`), 'tsc');
    });

    test('npx sync-timer answers include-dir, cflags, --help and doctor', () => {
      const r = ok(inRoot(rootDir, project, 'npx sync-timer include-dir; npx sync-timer cflags; npx sync-timer --help | head -1; npx sync-timer doctor; ' +
        'ls node_modules/@bpf-sync-timer/libbpf/include/bpf'), 'npx sync-timer');
      const lines = r.stdout.split('\n');
      assert.equal(lines[0], '/project/node_modules/bpf-sync-timer/include');
      assert.equal(lines[1], '-I /project/node_modules/bpf-sync-timer/include -I /project/node_modules/@bpf-sync-timer/libbpf/include');
      assert.match(lines[2], /^usage: sync-timer/);
      for (const h of ['bpf_helpers.h', 'bpf_helper_defs.h', 'bpf_tracing.h', 'bpf_core_read.h', 'bpf_endian.h']) assert.ok(lines.includes(h), `${h} in the installed libbpf package`);
      assert.match(r.stdout, /libbpf\s+1\.7\.0/);
    });

    test('where no prebuild fits, install says why in one sentence and names what the source build lacks', () => {
      const r = inRoot(rootDir, project, 'cd node_modules/@bpf-sync-timer/libbpf && rm -rf prebuilds && { node scripts/install.js && echo "exit 0" || echo "exit $?"; }; ' +
        'cd /project && node -e "require(\'@bpf-sync-timer/libbpf\')" 2>&1 | grep -m1 "^Error: " || true');
      assert.match(r.stderr, /no prebuilt addon ships for linux-x64; building it from source/);
      assert.match(r.stderr, /needs gcc, g\+\+, make, python3, libelf-dev, zlib1g-dev: on Debian\/Ubuntu run `apt-get install -y gcc g\+\+ make python3 libelf-dev zlib1g-dev`/);
      assert.match(r.stdout, /^exit 1$/m);
      assert.match(r.stdout, /the native addon is missing: no prebuilt addon ships for linux-x64, and none was built from source; build it from source with `npm rebuild @bpf-sync-timer\/libbpf` or `node \/project\/node_modules\/@bpf-sync-timer\/libbpf\/scripts\/build-native.js`/);
    });
  });
}
