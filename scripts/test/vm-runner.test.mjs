// Tests of the VM runner (scripts/vm/run.sh) through its command line, as the kernel-matrix
// suite uses it. Each boot costs 6-12 s under TCG, so one boot per kernel runs a script that
// prints several facts at once (6.1, 6.1-rt, and 7.2-rt for the split, compressed packaging).
// Needs root (or a user that can install qemu) and Debian's apt repositories on the first run;
// it fails rather than skips without them.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { aptEnv } from '../vm/host.mjs';

const RUN = resolve(dirname(fileURLToPath(import.meta.url)), '../vm/run.sh');
const MIRROR = resolve(dirname(fileURLToPath(import.meta.url)), '../roots/debian-mirror.sh');
// The first run on a fresh machine also downloads a kernel (~70 MB) and probes KVM.
const BOOT_TEST_TIMEOUT_MS = 10 * 60 * 1000;

/** Runs the runner; resolves with its exit code, stdout, stderr and wall time. */
function vm(args, opts = {}) {
  return new Promise((done, fail) => {
    const t0 = Date.now();
    const child = spawn(RUN, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** `key=value` lines of the guest's report, as an object. */
function facts(stdout) {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

const REPORT = [
  'echo kernel=$(uname -r)',
  'echo online=$(cat /sys/devices/system/cpu/online)',
  'echo nproc=$(nproc)',
  'echo realtime=$(cat /sys/kernel/realtime 2>/dev/null || echo 0)',
  'echo cwd=$(pwd)',
  'echo guest=$VMRUN_GUEST',
  '[ -p /proc/self/fd/1 ] && echo stdout=pipe',
  `node -e "console.log('node_proc_version=' + require('fs').readFileSync('/proc/version', 'utf8').split(' ')[2])"`,
  'bpftool map create /sys/fs/bpf/vmrun_smoke type array key 4 value 4 entries 1 name vmrun_smoke && echo bpf_map=created',
  'bpftool map show pinned /sys/fs/bpf/vmrun_smoke >/dev/null && echo bpf_show=ok',
  'bpftool prog list >/dev/null && echo bpftool_prog_list=ok',
  'touch written-in-guest && echo overlay_write=ok',
  'echo to-stderr >&2',
  'exit 3',
].join('\n');

test('6.1 guest: exit code, stdout, stderr, kernel, 4 CPUs, node and BPF inside', { timeout: BOOT_TEST_TIMEOUT_MS }, async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'vmrun-test-'));
  try {
    const r = await vm(['--kernel', '6.1', '--cpus', '4', '--timeout', '300', '--timing', '--', 'sh', '-c', REPORT], { cwd });
    const f = facts(r.stdout);
    assert.equal(r.code, 3, `the command's exit code 3 passes through\n${r.stderr}`);
    assert.match(f.kernel, /^6\.1\.0-\d+-amd64$/);
    assert.equal(f.online, '0-3');
    assert.equal(f.nproc, '4');
    assert.equal(f.realtime, '0');
    assert.equal(f.cwd, cwd, 'the command runs in the caller\'s directory');
    assert.equal(f.guest, '1');
    assert.equal(f.stdout, 'pipe', 'the command\'s stdout is a pipe, as under CI');
    assert.equal(f.node_proc_version, f.kernel, 'the host\'s node runs inside the guest');
    assert.equal(f.bpf_map, 'created');
    assert.equal(f.bpf_show, 'ok');
    assert.equal(f.bpftool_prog_list, 'ok');
    assert.equal(f.overlay_write, 'ok');
    assert.match(r.stderr, /^to-stderr$/m, 'stderr comes back on stderr');
    assert.doesNotMatch(r.stdout, /to-stderr/);
    assert.match(r.stderr, /timing: kernel 6\.1\.0-\d+-amd64, (tcg|kvm), boot-to-command [\d.]+ s, total [\d.]+ s/);
    // The guest's writes land in its tmpfs overlay, never on the host.
    assert.equal(existsSync(join(cwd, 'written-in-guest')), false);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('6.1-rt guest: /sys/kernel/realtime is 1', { timeout: BOOT_TEST_TIMEOUT_MS }, async () => {
  const r = await vm(['--kernel', '6.1-rt', '--cpus', '2', '--', 'sh', '-c', 'echo kernel=$(uname -r); echo realtime=$(cat /sys/kernel/realtime)']);
  const f = facts(r.stdout);
  assert.equal(r.code, 0, r.stderr);
  assert.match(f.kernel, /^6\.1\.0-\d+-rt-amd64$/);
  assert.equal(f.realtime, '1');
});

test('7.2-rt guest (split packaging, zstd kernel, xz modules): PREEMPT_RT, its modules at /lib/modules', { timeout: BOOT_TEST_TIMEOUT_MS }, async () => {
  const script = [
    'echo kernel=$(uname -r)',
    'echo version=$(uname -v)',
    'echo xz_modules=$(find /lib/modules/$(uname -r)/kernel/fs -name "*.ko.xz" | wc -l)',
    'grep -q " /sys/fs/bpf " /proc/mounts && echo bpffs=mounted',
  ].join('\n');
  const r = await vm(['--kernel', '7.2-rt', '--cpus', '2', '--', 'sh', '-c', script]);
  const f = facts(r.stdout);
  assert.equal(r.code, 0, r.stderr);
  assert.match(f.kernel, /^7\.2\.\d+\+deb14-rt-amd64$/);
  assert.match(f.version, / PREEMPT_RT /);
  assert.ok(Number(f.xz_modules) > 10, `compressed modules visible in the guest: ${f.xz_modules}`);
  assert.equal(f.bpffs, 'mounted');
});

test('a private apt configuration per suite, on the system\'s mirror, leaving the system\'s apt alone', () => {
  const cache = mkdtempSync(join(tmpdir(), 'vmrun-apt-'));
  const saved = process.env.VMRUN_CACHE_DIR;
  process.env.VMRUN_CACHE_DIR = cache;
  try {
    const env = aptEnv('trixie');
    const dir = join(cache, 'apt', 'trixie');
    assert.equal(env.APT_CONFIG, join(dir, 'apt.conf'));
    const conf = readFileSync(env.APT_CONFIG, 'utf8');
    for (const line of [`Dir::Etc::SourceList "${dir}/sources.list";`, 'Dir::Etc::SourceParts "/nonexistent";',
      `Dir::State::Lists "${dir}/lists";`, `Dir::Cache "${dir}/cache";`, 'APT::Sandbox::User "root";', 'APT::Architectures { "amd64"; };']) {
      assert.ok(conf.split('\n').includes(line), `apt.conf has ${line}:\n${conf}`);
    }
    const mirror = execFileSync('bash', [MIRROR], { encoding: 'utf8' }).trim();
    assert.equal(readFileSync(join(dir, 'sources.list'), 'utf8'),
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} trixie main\n`);
    assert.ok(existsSync(join(dir, 'lists', 'partial')));
    assert.equal(aptEnv('bookworm'), process.env, 'the host\'s own suite uses the system\'s apt');
  } finally {
    if (saved === undefined) delete process.env.VMRUN_CACHE_DIR; else process.env.VMRUN_CACHE_DIR = saved;
    rmSync(cache, { recursive: true, force: true });
  }
});

test('a timeout kills the guest and is reported with exit code 124', { timeout: BOOT_TEST_TIMEOUT_MS }, async () => {
  const r = await vm(['--timeout', '5', '--', 'sleep', '600']);
  assert.equal(r.code, 124);
  assert.match(r.stderr, /vm: timed out after 5 s/);
  assert.ok(r.ms < 60_000, `the runner returned ${r.ms} ms after a 5 s timeout`);
});

test('usage errors exit 2 without booting', async () => {
  const noCommand = await vm(['--kernel', '6.1']);
  assert.equal(noCommand.code, 2);
  assert.match(noCommand.stderr, /no command given/);
  const badKernel = await vm(['--kernel', '5.4', '--', 'true']);
  assert.equal(badKernel.code, 2);
  assert.match(badKernel.stderr, /unknown kernel '5\.4'/);
});
