#!/usr/bin/env node
// Builds the addon from source: first the pinned libbpf release (deps/libbpf.json) as a
// static, position-independent library, then the addon with node-gyp, linked against it.
// Only libelf and zlib stay shared. Used by the repository's build, by the prebuild, and as
// the install fallback when no prebuild fits.
//   node scripts/build-native.js [--quiet] [--libbpf-only]
//     --libbpf-only   only build-libbpf/root/{lib/libbpf.a,include} (for C peers in bench/)
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pinnedTarball, PinError } = require('./bpf-headers');

const pkg = path.resolve(__dirname, '..');
const quiet = process.argv.includes('--quiet');
const libbpfOnly = process.argv.includes('--libbpf-only');
const unknown = process.argv.slice(2).filter((a) => a !== '--quiet' && a !== '--libbpf-only');
if (unknown.length) fail(`unknown option ${unknown[0]} (known: --quiet, --libbpf-only)`);

function fail(message) {
  console.error(`build-native: ${message}`);
  process.exit(1);
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function headerExists(name) {
  const r = spawnSync('sh', ['-c', `echo '#include <${name}>' | cc -E -x c - >/dev/null 2>&1`]);
  return r.status === 0;
}

/** Everything the source build needs, as Debian package names, for one clear sentence. */
function missingTools() {
  const missing = [];
  if (!has('cc')) missing.push('gcc');
  if (!has('c++') && !has('g++')) missing.push('g++');
  if (!has('make')) missing.push('make');
  if (!has('python3')) missing.push('python3');
  if (has('cc')) {
    if (!headerExists('libelf.h')) missing.push('libelf-dev');
    if (!headerExists('zlib.h')) missing.push('zlib1g-dev');
  } else {
    missing.push('libelf-dev', 'zlib1g-dev');
  }
  return missing;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit', encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    if (quiet && r.stderr) process.stderr.write(r.stderr.slice(-4000));
    fail(`${path.basename(cmd)} ${args.slice(0, 2).join(' ')} failed (exit ${r.status ?? r.signal}).`);
  }
}

/** Builds libbpf.a (PIC) and its headers into build-libbpf/, once per pinned tarball. */
function buildLibbpf() {
  let pinned;
  try {
    pinned = pinnedTarball();
  } catch (e) {
    if (e instanceof PinError) fail(e.message);
    throw e;
  }
  const { pin, tarball } = pinned;
  const out = path.join(pkg, 'build-libbpf');
  const stamp = path.join(out, 'root', 'BUILT');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === pin.sha256) return;
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  run('tar', ['xzf', tarball, '-C', out]);
  const src = path.join(out, pin.topDir, 'src');
  const jobs = String(Math.max(1, require('node:os').availableParallelism?.() ?? 2));
  run('make', ['-C', src, `-j${jobs}`, 'BUILD_STATIC_ONLY=1', `OBJDIR=${path.join(out, 'obj')}`,
    `DESTDIR=${path.join(out, 'root')}`, 'PREFIX=', 'LIBSUBDIR=lib', 'CFLAGS=-g -O2 -fPIC -Wall', 'install']);
  fs.writeFileSync(stamp, pin.sha256);
}

/** The headers of the running Node when the system has them, so no download is needed. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return undefined;
}

function nodeGyp() {
  const candidates = [];
  try {
    const npm = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    candidates.push(path.resolve(path.dirname(npm), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {}
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch {}
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) fail('node-gyp not found (it ships with npm); install npm or node-gyp.');
  return found;
}

const missing = missingTools();
if (missing.length) {
  fail(`building the addon from source needs ${missing.join(', ')}: on Debian/Ubuntu run ` +
    `\`apt-get install -y ${missing.join(' ')}\`, then \`npm rebuild @bpf-sync-timer/libbpf\`.`);
}
buildLibbpf();
if (libbpfOnly) process.exit(0);
const args = [nodeGyp(), 'rebuild'];
const dir = nodeDir();
if (dir) args.push(`--nodedir=${dir}`);
run(process.execPath, args, { cwd: pkg });
