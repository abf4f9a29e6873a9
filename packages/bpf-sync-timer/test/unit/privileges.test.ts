// The privileges messages: which capability is missing for the timer, in one sentence, and
// what legacy/intermediate mode checks before anything is loaded. Pure: status texts and
// temporary files stand in for /proc.
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { currentPrivileges, missingTimerCapability, privilegeProblem } from '../../src/kernel';
import { checkTimerMigrationAccess } from '../../src/sysctl';
import { SyncTimerError } from '../../src/errors';

const status = (uid: number, capEff: string): string => `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapEff:\t${capEff}\n`;
const NONE = currentPrivileges(status(65534, '0000000000000000'));
const BPF_ONLY = currentPrivileges(status(65534, '0000008000000000')); // bit 39
const SYS_ADMIN = currentPrivileges(status(1000, '0000000000200000')); // bit 21

describe('timer privileges', () => {
  it('reads uid and effective capabilities from /proc/self/status', () => {
    assert.deepEqual(NONE, { uid: 65534, effective: 0n });
    assert.equal(BPF_ONLY.effective, 1n << 39n);
  });

  it('the timer needs CAP_BPF, or CAP_SYS_ADMIN (alone before 5.8)', () => {
    assert.equal(missingTimerCapability(NONE, '6.18.0'), 'CAP_BPF');
    assert.equal(missingTimerCapability(BPF_ONLY, '6.18.0'), undefined);
    assert.equal(missingTimerCapability(SYS_ADMIN, '6.18.0'), undefined);
    assert.equal(missingTimerCapability(BPF_ONLY, '5.4.0'), 'CAP_SYS_ADMIN');
  });

  it('an EPERM load without CAP_BPF is one sentence naming it; other failures keep their own words', () => {
    const m = privilegeProblem(constants.errno.EPERM, false, NONE, '6.18.0')!;
    assert.equal(m, 'loading the timer needs CAP_BPF (or CAP_SYS_ADMIN), which this process (uid 65534) lacks: run it as root (sudo) ' +
      'or grant it (e.g. setcap cap_bpf,cap_perfmon+ep on the node binary; subscribers on tracepoints need CAP_PERFMON as well)');
    assert.equal(m.replace('e.g. ', '').split(/[.!?] /).length, 1, 'one sentence');
    assert.match(privilegeProblem(constants.errno.EACCES, false, NONE, '5.4.0')!, /needs CAP_SYS_ADMIN \(this kernel predates CAP_BPF\)/);
    assert.equal(privilegeProblem(constants.errno.EACCES, true, NONE, '6.18.0'), undefined, 'a verifier refusal is not about privileges');
    assert.equal(privilegeProblem(constants.errno.EPERM, false, BPF_ONLY, '6.18.0'), undefined, 'EPERM with CAP_BPF: another cause');
    assert.equal(privilegeProblem(constants.errno.EINVAL, false, NONE, '6.18.0'), undefined);
  });
});

describe('legacy/intermediate mode privileges, checked up front', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-priv-'));
  const sysctl = path.join(dir, 'timer_migration');

  it('nothing to check when the sysctl is 0 or missing', () => {
    fs.writeFileSync(sysctl, '0\n');
    assert.doesNotThrow(() => checkTimerMigrationAccess('legacy', { sysctl, stateDir: '/nonexistent/x' }));
    assert.doesNotThrow(() => checkTimerMigrationAccess('legacy', { sysctl: '/nonexistent/tm', stateDir: '/nonexistent/x' }));
  });

  it('a state directory that cannot be made is PERMISSION_DENIED naming it and the way out', () => {
    fs.writeFileSync(sysctl, '1\n');
    const blocked = path.join(dir, 'a-file');
    fs.writeFileSync(blocked, '');
    const stateDir = path.join(blocked, 'state');
    assert.throws(() => checkTimerMigrationAccess('intermediate', { sysctl, stateDir }), (e: unknown) =>
      e instanceof SyncTimerError && e.code === 'PERMISSION_DENIED' &&
      e.message.includes(`mode 'intermediate' sets kernel.timer_migration to 0 while arming`) &&
      e.message.includes(`cannot write its state directory ${stateDir} (set another with BPF_SYNC_TIMER_STATE_DIR): ENOTDIR`) &&
      /use mode 'modern' \(Linux 6\.7\+\) or 'thread'$/.test(e.message));
    assert.equal(fs.readFileSync(sysctl, 'utf8'), '1\n', 'the check changes nothing');
  });
});
