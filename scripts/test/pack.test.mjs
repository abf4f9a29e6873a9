// What npm publishes: the timer package must carry the compiled BPF objects and the
// headers (users need no clang for the timer), and no tests.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

function packed(workspace) {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '-w', workspace], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out)[0].files.map((f) => f.path);
}

test('bpf-sync-timer packs the compiled timer, the probe, the headers and its README', () => {
  const files = packed('bpf-sync-timer');
  for (const f of ['dist/bpf/sync_timer.bpf.o', 'dist/bpf/tick_probe.bpf.o', 'include/sync_timer_bitmap.bpf.h', 'include/sync_timer.bpf.h', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'README.md']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.ok(!files.some((f) => f.includes('/test/')), 'tests are not published');
});

test('@bpf-sync-timer/libbpf packs the native sources and the build script, not the build output', () => {
  const files = packed('@bpf-sync-timer/libbpf');
  for (const f of ['binding.gyp', 'native/addon.cc', 'scripts/build-native.js', 'dist/src/index.js']) assert.ok(files.includes(f), `${f} missing`);
  assert.ok(!files.some((f) => f.startsWith('build/') || f.includes('/test/')), 'no build output or tests');
});
