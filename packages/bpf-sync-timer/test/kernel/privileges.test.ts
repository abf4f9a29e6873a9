// SyncTimer.start with too few privileges, in children that dropped them (setpriv): the
// error is one sentence naming what is missing, and nothing is changed.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { requireRoot } from './helpers';

const INDEX = path.resolve(__dirname, '..', '..', 'src', 'index.js');
const SYSCTL = '/proc/sys/kernel/timer_migration';

/** Runs SyncTimer.start(1 ms, {mode}) as uid 65534 with `caps` (setpriv names); returns {code, message}. */
function startAs(caps: string[], mode: string): { code: string; message: string } {
  const script = `require(${JSON.stringify(INDEX)}).SyncTimer.start(1e6, { mode: ${JSON.stringify(mode)}, logger: () => {} })
    .then((t) => { t.close(); console.log(JSON.stringify({ code: 'STARTED', message: t.mode })); },
          (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
  const capArgs = caps.length ? [`--inh-caps=${caps.map((c) => `+${c}`).join(',')}`, `--ambient-caps=${caps.map((c) => `+${c}`).join(',')}`] : ['--inh-caps=-all'];
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, '--', process.execPath, '-e', script],
    { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_DEBUG: '' } });
  assert.equal(r.error, undefined, `setpriv (util-linux) is needed for this test: ${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { code: string; message: string };
}

describe('SyncTimer.start without the privileges it needs', () => {
  it('no capabilities: LOAD_FAILED in one sentence naming CAP_BPF, without libbpf\'s lines', () => {
    requireRoot();
    const e = startAs([], 'auto');
    assert.equal(e.code, 'LOAD_FAILED');
    assert.match(e.message, /^loading the timer needs CAP_BPF \(or CAP_SYS_ADMIN\), which this process \(uid 65534\) lacks: run it as root/);
    assert.doesNotMatch(e.message, /libbpf|\|/);
    assert.ok(e.message.length < 260, `${e.message.length} chars`);
  });

  it('capabilities but not root, legacy mode: PERMISSION_DENIED naming the sysctl before anything is loaded', () => {
    requireRoot();
    const before = fs.readFileSync(SYSCTL, 'utf8');
    const e = startAs(['bpf', 'perfmon', 'sys_admin'], 'legacy');
    assert.equal(e.code, 'PERMISSION_DENIED');
    assert.equal(e.message, `mode 'legacy' sets kernel.timer_migration to 0 while arming, and this process (uid 65534) cannot write ${SYSCTL}: EACCES; ` +
      "run it as root, or use mode 'modern' (Linux 6.7+) or 'thread'");
    assert.equal(fs.readFileSync(SYSCTL, 'utf8'), before);
  });

  it('CAP_BPF alone is enough for the timer itself (modern mode)', () => {
    requireRoot();
    assert.deepEqual(startAs(['bpf'], 'modern'), { code: 'STARTED', message: 'modern' });
  });
});
