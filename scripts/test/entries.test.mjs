// The packages' entry points as a user meets them: the ES module entry exports exactly what
// the CommonJS one does (same objects, not copies), internals cannot be imported, and the
// committed `sync-timer` shim runs from this checkout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));

for (const name of ['@bpf-sync-timer/libbpf', 'bpf-sync-timer']) {
  test(`${name}: import and require give the same exports`, async () => {
    const esm = await import(name);
    const cjs = require(name);
    assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).filter((k) => k !== '__esModule').sort());
    for (const k of Object.keys(esm)) assert.equal(esm[k], cjs[k], k);
  });

  test(`${name}: internal modules are not importable`, async () => {
    await assert.rejects(import(`${name}/dist/src/errors.js`), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
    assert.throws(() => require(`${name}/dist/src/errors`), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
    assert.equal(require(`${name}/package.json`).name, name);
  });
}

test('bpf-sync-timer/metrics: import and require give the same exports, and neither loads prom-client or @opentelemetry/api', async () => {
  const esm = await import('bpf-sync-timer/metrics');
  const cjs = require('bpf-sync-timer/metrics');
  assert.deepEqual(Object.keys(esm).sort(), ['registerOpenTelemetry', 'registerPrometheus']);
  for (const k of Object.keys(esm)) assert.equal(esm[k], cjs[k], k);
  const loaded = Object.keys(require.cache).filter((f) => /node_modules\/(prom-client|@opentelemetry)\//.test(f));
  assert.deepEqual(loaded, [], 'optional peers are loaded only when used');
});

test('npx sync-timer include-dir answers from this checkout', () => {
  const out = execFileSync('npx', ['--no-install', 'sync-timer', 'include-dir'], { cwd: root, encoding: 'utf8' });
  assert.equal(out.trim(), join(root, 'packages', 'bpf-sync-timer', 'include'));
});

test('npx sync-timer doctor answers from this checkout, with the pinned libbpf', () => {
  const out = execFileSync('npx', ['--no-install', 'sync-timer', 'doctor', '--json'], { cwd: root, encoding: 'utf8' });
  const checks = JSON.parse(out);
  assert.ok(checks.every((c) => c.ok), out);
  assert.equal(checks.find((c) => c.name === 'libbpf').detail, '1.7.0');
});
