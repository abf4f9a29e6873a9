// timer_migration handling against a temporary file standing in for the sysctl.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { guardListening, readTimerMigration, recoverStaleTimerMigration, withTimerMigrationDisabled, type AtExit, type SysctlPaths } from '../../src/sysctl';
import { SyncTimerError } from '../../src/errors';

function fake(value: string): SysctlPaths {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-sysctl-'));
  fs.writeFileSync(path.join(dir, 'timer_migration'), value);
  return { sysctl: path.join(dir, 'timer_migration'), stateDir: path.join(dir, 'state') };
}
const quiet = () => {};
/** Records what would be written at teardown; the unit tests need no addon. */
function fakeAtExit(): AtExit & { live: Map<string, string> } {
  const live = new Map<string, string>();
  const f = ((file: string, bytes: string) => {
    live.set(file, bytes);
    return { cancel: () => void live.delete(file) };
  }) as AtExit & { live: Map<string, string> };
  f.live = live;
  return f;
}
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('timer_migration', () => {
  it('is 0 while fn runs, with a state file, and restored after', async () => {
    const p = fake('1\n');
    const seen = await withTimerMigrationDisabled(async () => ({ v: readTimerMigration(p), files: fs.readdirSync(p.stateDir) }), quiet, p, fakeAtExit());
    assert.deepEqual(seen, { v: 0, files: [`timer_migration.${process.pid}.json`] });
    assert.equal(readTimerMigration(p), 1);
    assert.deepEqual(fs.readdirSync(p.stateDir), []);
  });

  it('is restored when fn throws', async () => {
    const p = fake('1');
    await assert.rejects(withTimerMigrationDisabled(async () => { throw new Error('boom'); }, quiet, p, fakeAtExit()), /boom/);
    assert.equal(readTimerMigration(p), 1);
  });

  it('is not touched when already 0 or missing', async () => {
    const p = fake('0');
    await withTimerMigrationDisabled(async () => undefined, quiet, p, fakeAtExit());
    assert.equal(fs.existsSync(p.stateDir), false);
    const missing = { sysctl: '/nonexistent/timer_migration', stateDir: p.stateDir };
    assert.equal(readTimerMigration(missing), undefined);
    assert.equal(await withTimerMigrationDisabled(async () => 7, quiet, missing, fakeAtExit()), 7);
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

  it('registers the restore for teardown while changed (a terminated Worker), and cancels it after', async () => {
    const p = fake('1');
    const atExit = fakeAtExit();
    const during = await withTimerMigrationDisabled(async () => new Map(atExit.live), quiet, p, atExit);
    assert.equal(during.get(p.sysctl), '1\n');
    const file = path.join(p.stateDir, `timer_migration.${process.pid}.json`);
    const marked = JSON.parse(during.get(file)!) as { value: number; pid: number; restored: boolean };
    assert.deepEqual([marked.value, marked.pid, marked.restored], [1, process.pid, true]);
    assert.equal(atExit.live.size, 0, 'cancelled once restored');
  });

  it('a throwing logger neither hides fn\'s error nor keeps the signal listeners', async () => {
    const p = fake('1');
    await nextTurn(); // the guard of the tests before goes one turn after their restore
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('exit')];
    const throwing = () => { throw new Error('logger broke'); };
    await assert.rejects(withTimerMigrationDisabled(async () => { throw new Error('the real failure'); }, throwing, p, fakeAtExit()), /the real failure/);
    assert.equal(readTimerMigration(p), 1);
    assert.equal(await withTimerMigrationDisabled(async () => 'done', throwing, p, fakeAtExit()), 'done');
    await nextTurn();
    assert.equal(guardListening(), false);
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM'), process.listenerCount('exit')], before);
  });

  it('an empty or corrupt state file (an old interrupted write) is removed with a clear warning', () => {
    const p = fake('0');
    fs.mkdirSync(p.stateDir);
    const dead = spawnSync('true').pid!;
    fs.writeFileSync(path.join(p.stateDir, `timer_migration.${dead}.json`), '');
    fs.writeFileSync(path.join(p.stateDir, `timer_migration.${dead}.json.tmp`), '{"val');
    const logs: string[] = [];
    assert.equal(recoverStaleTimerMigration((_l, m) => logs.push(m), p), 0);
    assert.deepEqual(fs.readdirSync(p.stateDir), []);
    assert.equal(logs.length, 1);
    assert.match(logs[0], /the file is empty; removed it/);
    assert.doesNotMatch(logs[0], /Unexpected end of JSON/);
    assert.equal(readTimerMigration(p), 0, 'left as it is');
  });

  it('a state file a worker\'s teardown marked restored is removed without a write', () => {
    const p = fake('1');
    fs.mkdirSync(p.stateDir);
    fs.writeFileSync(path.join(p.stateDir, `timer_migration.${process.pid}.t3.json`), JSON.stringify({ value: 0, pid: process.pid, restored: true }));
    assert.equal(recoverStaleTimerMigration(quiet, p), 0);
    assert.deepEqual(fs.readdirSync(p.stateDir), []);
    assert.equal(readTimerMigration(p), 1);
  });
});

describe('timer_migration and the process ending', () => {
  const SYSCTL_JS = path.resolve(__dirname, '..', '..', 'src', 'sysctl.js');
  /** Runs `body` (JS, with `paths` and `arm(fn)` in scope) in a child; returns it with the fake sysctl. */
  function child(body: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; value: number | undefined; files: string[] } {
    const p = fake('1\n');
    const script = `
      const { withTimerMigrationDisabled } = require(${JSON.stringify(SYSCTL_JS)});
      const paths = ${JSON.stringify(p)};
      const atExit = () => ({ cancel() {} });
      const arm = (fn) => withTimerMigrationDisabled(fn, () => {}, paths, atExit);
      ${body}`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, value: readTimerMigration(p), files: fs.existsSync(p.stateDir) ? fs.readdirSync(p.stateDir) : [] };
  }

  it('SIGTERM caught during the last await of arming is not swallowed: 20 of 20 children die of it, restored', () => {
    for (let i = 0; i < 20; i++) {
      // The signal is pending when arming's promise settles: the finally runs before the
      // event loop dispatches it.
      const r = child(`
        arm(async () => { process.kill(process.pid, 'SIGTERM'); }).then(() => setTimeout(() => { console.log('still running'); process.exit(0); }, 2000));`);
      assert.equal(r.signal, 'SIGTERM', `run ${i}: status ${r.status}, stdout ${r.stdout}, stderr ${r.stderr}`);
      assert.equal(r.value, 1, `run ${i}: restored`);
      assert.deepEqual(r.files, []);
    }
  });

  it('SIGINT with a listener of the process\'s own: restored, the listener gets it, the process lives on', () => {
    const r = child(`
      process.on('SIGINT', () => { console.log('own listener'); });
      arm(async () => { process.kill(process.pid, 'SIGINT'); await new Promise((r) => setTimeout(r, 50)); return 'armed'; })
        .then((v) => setTimeout(() => { console.log(v, process.listenerCount('SIGINT')); }, 10));`);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.stdout, 'own listener\narmed 1\n');
    assert.equal(r.value, 1);
  });

  it('process.exit() during arming restores it (exit listener)', () => {
    const r = child(`arm(async () => { process.exit(5); });`);
    assert.equal(r.status, 5, r.stderr);
    assert.equal(r.value, 1);
    assert.deepEqual(r.files, []);
  });

  it('a signal during the state-file write cannot leave an empty file: written to a temp file, then renamed', () => {
    const r = child(`
      const fs = require('fs');
      const write = fs.writeFileSync;
      fs.writeFileSync = function (file, data) {
        if (String(file).endsWith('.json')) throw new Error('state file written in place: ' + file);
        return write.apply(this, arguments);
      };
      arm(async () => 'ok').then((v) => console.log(v));`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  });
});

