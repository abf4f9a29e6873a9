// `npm run test:unit` as an unprivileged user (nobody), on a copy of this built checkout that
// the user can read but not write: the unit lane needs neither root nor a writable tree.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOBODY = 65534;

test('npm run test:unit passes as user nobody', { timeout: 5 * 60_000 }, () => {
  assert.equal(process.getuid(), 0, 'switching to user nobody needs root: run it with sudo');
  const dir = mkdtempSync(join(tmpdir(), 'bst-unit-'));
  try {
    const tree = join(dir, 'tree');
    cpSync(root, tree, { recursive: true, filter: (src) => !/\/(\.git|bench\/out)(\/|$)/.test(src) });
    spawnSync('chmod', ['-R', 'a+rX,go-w', dir]);
    chmodSync(dir, 0o755);
    const home = join(dir, 'home');
    mkdirSync(home);
    spawnSync('chown', [`${NOBODY}:${NOBODY}`, home]);
    const r = spawnSync('npm', ['run', 'test:unit'], {
      cwd: tree, uid: NOBODY, gid: NOBODY, encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home, npm_config_cache: join(home, '.npm'), LANG: 'C.UTF-8' },
    });
    const out = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, out.slice(-4000));
    const pass = Number(/^# pass (\d+)$/m.exec(out)?.[1]);
    assert.ok(pass >= 50, `ran ${pass} unit tests:\n${out.slice(-2000)}`);
    assert.match(out, /^# fail 0$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
