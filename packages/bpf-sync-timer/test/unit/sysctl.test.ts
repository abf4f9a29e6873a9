// timer_migration handling against a temporary file standing in for the sysctl.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { readTimerMigration, recoverStaleTimerMigration, withTimerMigrationDisabled, type SysctlPaths } from '../../src/sysctl';
import { SyncTimerError } from '../../src/errors';

function fake(value: string): SysctlPaths {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-sysctl-'));
  fs.writeFileSync(path.join(dir, 'timer_migration'), value);
  return { sysctl: path.join(dir, 'timer_migration'), stateDir: path.join(dir, 'state') };
}
const quiet = () => {};

describe('timer_migration', () => {
  it('is 0 while fn runs, with a state file, and restored after', async () => {
    const p = fake('1\n');
    const seen = await withTimerMigrationDisabled(async () => ({ v: readTimerMigration(p), files: fs.readdirSync(p.stateDir) }), quiet, p);
    assert.deepEqual(seen, { v: 0, files: [`timer_migration.${process.pid}.json`] });
    assert.equal(readTimerMigration(p), 1);
    assert.deepEqual(fs.readdirSync(p.stateDir), []);
  });

  it('is restored when fn throws', async () => {
    const p = fake('1');
    await assert.rejects(withTimerMigrationDisabled(async () => { throw new Error('boom'); }, quiet, p), /boom/);
    assert.equal(readTimerMigration(p), 1);
  });

  it('is not touched when already 0 or missing', async () => {
    const p = fake('0');
    await withTimerMigrationDisabled(async () => undefined, quiet, p);
    assert.equal(fs.existsSync(p.stateDir), false);
    const missing = { sysctl: '/nonexistent/timer_migration', stateDir: p.stateDir };
    assert.equal(readTimerMigration(missing), undefined);
    assert.equal(await withTimerMigrationDisabled(async () => 7, quiet, missing), 7);
  });

  it('an unparsable value is SYSCTL_PARSE_FAILED', () => {
    assert.throws(() => readTimerMigration(fake('yes')), (e: unknown) => e instanceof SyncTimerError && e.code === 'SYSCTL_PARSE_FAILED');
  });

  it('recovers values left by dead processes and leaves live ones alone', () => {
    const p = fake('0');
    fs.mkdirSync(p.stateDir);
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(path.join(p.stateDir, `timer_migration.${dead}.json`), JSON.stringify({ value: 1 }));
    fs.writeFileSync(path.join(p.stateDir, `timer_migration.${process.ppid}.json`), JSON.stringify({ value: 5 }));
    const logs: string[] = [];
    assert.equal(recoverStaleTimerMigration((_l, m) => logs.push(m), p), 1);
    assert.equal(readTimerMigration(p), 1);
    assert.deepEqual(fs.readdirSync(p.stateDir), [`timer_migration.${process.ppid}.json`]);
    assert.match(logs[0], new RegExp(`process ${dead}`));
  });
});
