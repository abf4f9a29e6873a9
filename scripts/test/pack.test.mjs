// What npm publishes (prepack builds it, so this holds from a clean clone): the timer
// package carries the compiled BPF objects, the headers, the bin shim and both entry points
// (users need no clang for the timer); the binding carries the prebuilt addon with its
// manifest, the pinned libbpf tarball and the sources for the fallback build; neither
// carries tests or build output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function packed(workspace) {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '-w', workspace], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out)[0].files.map((f) => f.path);
}

const COMMON = ['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts'];

test('bpf-sync-timer packs the compiled timer, the probe, the headers, the bin shim and both entries', () => {
  const files = packed('bpf-sync-timer');
  for (const f of [...COMMON, 'bin/sync-timer.js', 'dist/bpf/sync_timer.bpf.o', 'dist/bpf/tick_probe.bpf.o', 'include/sync_timer_bitmap.bpf.h', 'include/sync_timer.bpf.h', 'dist/src/cli/main.js',
    'bpf/sync_timer_lateness.h', 'dist/src/metrics/index.js', 'dist/src/metrics/index.d.ts', 'dist/esm/metrics.mjs', 'dist/esm/metrics.d.mts']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.includes('test/')), 'tests are not published');
});

test('@bpf-sync-timer/libbpf packs the prebuild, the pinned libbpf, its BPF-side headers and the fallback build, not build output', () => {
  const files = packed('@bpf-sync-timer/libbpf');
  const pin = JSON.parse(readFileSync(join(root, 'packages/libbpf/deps/libbpf.json'), 'utf8'));
  for (const f of [...COMMON, 'prebuilds/linux-x64/node.napi.glibc.node', 'prebuilds/linux-x64/manifest.json', `deps/${pin.tarball}`,
    'deps/libbpf.json', 'deps/LICENSE.libbpf.BSD-2-Clause', 'binding.gyp', 'native/addon.cc', 'scripts/install.js', 'scripts/build-native.js', 'scripts/bpf-headers.js', 'scripts/prebuild-fit.js',
    'include/bpf/bpf_helpers.h', 'include/bpf/bpf_helper_defs.h', 'include/bpf/bpf_tracing.h', 'include/bpf/bpf_core_read.h', 'include/bpf/bpf_endian.h']) {
    assert.ok(files.includes(f), `${f} missing`);
  }
  assert.ok(!files.some((f) => /^(build|build-libbpf)\//.test(f) || f.includes('test/')), 'no build output or tests');
});

test('the packages export their entries and package.json only, with types for import and require', () => {
  for (const dir of ['packages/libbpf', 'packages/bpf-sync-timer']) {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(pkg.exports).sort(), dir === 'packages/bpf-sync-timer' ? ['.', './metrics', './package.json'] : ['.', './package.json'], dir);
    assert.deepEqual(pkg.exports['.'].import, { types: './dist/esm/index.d.mts', default: './dist/esm/index.mjs' });
    assert.deepEqual(pkg.exports['.'].require, { types: './dist/src/index.d.ts', default: './dist/src/index.js' });
    for (const k of ['repository', 'homepage', 'bugs', 'keywords', 'engines', 'license']) assert.ok(pkg[k], `${dir}: ${k}`);
    assert.deepEqual(pkg.os, ['linux']);
    assert.ok(pkg.scripts.prepack, `${dir}: prepack`);
  }
});
