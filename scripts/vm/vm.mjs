// Runs one command in a throw-away qemu guest booted on a Debian kernel (host.mjs FLAVOURS), with
// the host's root filesystem as its own (read-only, writes land in a tmpfs overlay). See README.md.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { VmSetupError, cacheDir, ensureBusybox, ensureKernel, ensureQemu } from './host.mjs';
import { cpio, dir, ensureBaseInitramfs, file } from './initramfs.mjs';

/** Exit codes of the runner itself (the command's own code is passed through otherwise). */
export const EXIT_TIMEOUT = 124;
export const EXIT_VM_ERROR = 125;
export const EXIT_INTERRUPTED = 130;

/** Host variables copied into the guest when set; everything else starts clean. */
const PASSED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'CI', 'NO_COLOR', 'FORCE_COLOR'];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const KVM_PROBE_TIMEOUT_S = 15;
/** A boot is declared stuck after this much console silence, or this long without starting. */
const BOOT_SILENCE_S = 30;
const BOOT_LIMIT_S = 120;
const MAX_BOOT_RETRIES = 2;

const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Boots a guest, runs `command` (an argv array) in `cwd` as root, streams its stdout and stderr
 * and resolves with `{ code, timedOut, error, bootMs, totalMs, bootRetries, accel, kernel }`. `code` is the
 * command's exit code, EXIT_TIMEOUT after a timeout, EXIT_VM_ERROR when the VM failed.
 */
export async function runVm(opts) {
  const o = {
    kernel: '6.1', cpus: 4, mem: '2G', timeoutS: 300, cwd: process.cwd(), env: {}, accel: 'auto',
    tcg: process.env.VMRUN_TCG ?? 'single',
    verbose: false, stdout: process.stdout, stderr: process.stderr, refresh: false, ...opts,
  };
  const log = o.log ?? ((m) => o.stderr.write(`vm: ${m}\n`));
  if (!Array.isArray(o.command) || o.command.length === 0) throw new VmSetupError('no command given');
  o.cwd = resolve(o.cwd);
  if (!['single', 'multi'].includes(o.tcg)) throw new VmSetupError(`tcg threading is single or multi, not '${o.tcg}'`);
  ensureQemu(log);
  const kernel = ensureKernel(o.kernel, log, { refresh: o.refresh });
  const base = ensureBaseInitramfs(kernel, ensureBusybox(log), log);
  const accel = o.accel === 'auto' ? await pickAccel(kernel, base, log) : o.accel;
  return boot({ ...o, log, kernel, base, accel });
}

/** The guest environment: a clean one, as a login would give, plus what the caller asked for. */
function guestEnv(o) {
  const env = { HOME: '/root', TERM: 'dumb', LANG: 'C.UTF-8', PATH: DEFAULT_PATH };
  for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  Object.assign(env, { VMRUN_GUEST: '1', VMRUN_KERNEL: o.kernel.flavour, VMRUN_ACCEL: o.accel }, o.env);
  return env;
}

function jobScript(o, nonce) {
  const env = Object.entries(guestEnv(o)).map(([k, v]) => `${k}=${v}`);
  const argv = ['/usr/bin/env', '-i', ...env, '/bin/sh', '-c', 'cd -- "$1" || exit 125; shift; exec "$@"', 'vmrun', o.cwd, ...o.command];
  return [
    `VMRUN_NONCE=${nonce}`,
    `VMRUN_CWD=${quote(o.cwd)}`,
    `VMRUN_MODULES=${quote(o.kernel.modulesDir)}`,
    `VMRUN_LOGLEVEL=${o.verbose ? 7 : 5}`,
    `set -- ${argv.map(quote).join(' ')}`,
    '',
  ].join('\n');
}

function qemuArgs(o, initrd, sockets) {
  const kvm = o.accel === 'kvm';
  const append = [
    // The whole boot log goes to the console (costs no measurable time): the runner keeps its
    // tail for failure reports and shows it all only with --verbose.
    'console=ttyS0', 'rdinit=/init', 'panic=-1', 'loglevel=7',
    // Under emulation the speculative-execution mitigations cost much and protect nothing here.
    'mitigations=off',
    ...(kvm ? [] : ['tsc=reliable']),
    ...(process.env.VMRUN_APPEND ? [process.env.VMRUN_APPEND] : []),
  ].join(' ');
  // Each serial port is a unix socket the runner listens on (qemu connects at start-up).
  const port = (id) => ['-chardev', `socket,id=${id},path=${sockets[id]}`, '-serial', `chardev:${id}`];
  return [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    // TCG: 'single' runs all vCPUs round-robin on one host thread. 'multi' (a thread per vCPU)
    // hangs qemu 7.2 guests when the kernel patches its own text while other vCPUs run it
    // (static keys, static calls: every tracepoint attach): a vCPU keeps executing a stale
    // translated int3 forever. See README.md, "Known limits".
    '-machine', 'pc', '-accel', kvm ? 'kvm' : `tcg,thread=${o.tcg}`, '-cpu', kvm ? 'host' : 'max',
    '-smp', String(o.cpus), '-m', String(o.mem),
    '-kernel', o.kernel.vmlinux ?? o.kernel.vmlinuz, '-initrd', initrd, '-append', append,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    ...port('con'), ...port('out'), ...port('err'), ...port('ctl'),
    // Escape hatch for experiments (e.g. a monitor socket); split on spaces.
    ...(process.env.VMRUN_QEMU_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
}

/** Calls onLine for each complete line of a stream (and the unterminated rest at its end). */
function lines(stream, onLine) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop();
    for (const l of parts) onLine(l.replace(/\r$/, ''));
  });
  stream.on('end', () => { if (rest) onLine(rest); });
}

/**
 * One listening unix socket per serial port. `attach(name, socket)` is called when qemu connects;
 * `closed()` resolves once every connected socket has been fully read.
 */
async function serialSockets(work, names, attach) {
  const paths = {};
  const servers = [];
  const done = [];
  for (const name of names) {
    paths[name] = join(work, `${name}.sock`);
    const server = createServer((sock) => {
      done.push(new Promise((resolve) => sock.on('close', resolve)));
      attach(name, sock);
      server.close();
    });
    servers.push(server);
    await new Promise((resolve, reject) => server.once('error', reject).listen(paths[name], resolve));
  }
  return {
    paths,
    closed: () => Promise.all(done),
    close: () => servers.forEach((s) => s.close()),
  };
}

/** qemu, made to die with us if we are killed (util-linux setpriv sets the parent-death signal). */
function spawnQemu(args) {
  const setpriv = spawnSync('sh', ['-c', 'command -v setpriv']).status === 0;
  const [cmd, argv] = setpriv
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args]]
    : ['qemu-system-x86_64', args];
  return spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Boots until the command has started, retrying a boot that stalls (rare under TCG: a vCPU
 * that never answers an IPI during kernel init). Retrying is safe because the command has not
 * run yet; once it has, only the timeout ends a hung guest.
 */
async function boot(o) {
  const t0 = Date.now();
  for (let attempt = 0; ; attempt++) {
    const budgetMs = o.timeoutS * 1000 - (Date.now() - t0);
    const r = await bootOnce(o, budgetMs);
    const { stalled, tail, lastLine, ...result } = r;
    Object.assign(result, { totalMs: Date.now() - t0, bootRetries: attempt });
    if (!stalled) return result;
    if (attempt === MAX_BOOT_RETRIES) {
      return { ...result, code: EXIT_VM_ERROR, error: `the guest's boot stalled ${attempt + 1} times (${stalled}); giving up${tail}` };
    }
    o.log(`the guest's boot stalled (${stalled}; last console line: ${lastLine}); booting again (${attempt + 1}/${MAX_BOOT_RETRIES})`);
  }
}

async function bootOnce(o, budgetMs) {
  const nonce = randomBytes(8).toString('hex');
  const work = mkdtempSync(join(tmpdir(), 'vmrun-'));
  const initrd = join(work, 'initrd.cpio');
  const job = cpio([dir('job'), file('job/job.sh', jobScript(o, nonce))]);
  writeFileSync(initrd, Buffer.concat([readFileSync(o.base), job]));

  const consoleTail = [];
  let started = 0;
  let lastConsoleAt = Date.now();
  let exitCode = null;
  let failure = null;
  let timedOut = false;
  let stalled = null;
  const onConsole = (l) => {
    lastConsoleAt = Date.now();
    consoleTail.push(l);
    if (consoleTail.length > 60) consoleTail.shift();
    if (l.startsWith(`VMRUN-START ${nonce}`)) {
      started = Date.now();
      // qemu has long read the initrd and connected its sockets: nothing of ours to leave behind
      // even if we are SIGKILLed later.
      rmSync(work, { recursive: true, force: true });
      return;
    }
    // After the start marker the console carries only kernel warnings worth seeing (loglevel 5).
    if ((started || o.verbose) && !/reboot: Power down/.test(l)) o.stderr.write(`[vm console] ${l}\n`);
  };
  const onControl = (l) => {
    const m = l.match(/^VMRUN-(EXIT|FAIL) (\w+) (.*)$/);
    if (!m || m[2] !== nonce) return;
    if (m[1] === 'EXIT') exitCode = Number(m[3]);
    else failure = m[3];
  };
  const ports = await serialSockets(work, ['con', 'out', 'err', 'ctl'], (name, sock) => {
    if (name === 'con') lines(sock, onConsole);
    else if (name === 'ctl') lines(sock, onControl);
    else sock.on('data', (b) => (name === 'out' ? o.stdout : o.stderr).write(b));
  });

  const t0 = Date.now();
  const child = spawnQemu(qemuArgs(o, initrd, ports.paths));
  lines(child.stdout, (l) => o.stderr.write(`qemu: ${l}\n`));
  lines(child.stderr, (l) => o.stderr.write(`qemu: ${l}\n`));

  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, Math.max(budgetMs, 0));
  // The boot log flows steadily until the start marker; a long silence means a stuck guest.
  const watchdog = setInterval(() => {
    if (started || stalled) return;
    const now = Date.now();
    if (now - lastConsoleAt > BOOT_SILENCE_S * 1000) stalled = `no console output for ${BOOT_SILENCE_S} s`;
    else if (now - t0 > BOOT_LIMIT_S * 1000) stalled = `the command had not started after ${BOOT_LIMIT_S} s`;
    if (stalled) child.kill('SIGKILL');
  }, 1000);
  const onAbort = () => child.kill('SIGKILL');
  o.signal?.addEventListener('abort', onAbort);
  const [qemuStatus, qemuSignal] = await new Promise((resolve) => {
    child.on('error', (e) => { failure = `qemu could not be started: ${e.message}`; resolve([null, null]); });
    child.on('close', (code, sig) => resolve([code, sig]));
  });
  clearTimeout(timer);
  clearInterval(watchdog);
  o.signal?.removeEventListener('abort', onAbort);
  await ports.closed();
  ports.close();
  rmSync(work, { recursive: true, force: true });

  const tail = consoleTail.length
    ? `\n--- last guest console lines ---\n${consoleTail.join('\n')}\n---`
    : ' (the guest console was silent)';
  const result = { code: exitCode, timedOut, stalled: null, tail, lastLine: consoleTail.at(-1) ?? '(none)', error: null, bootMs: started ? started - t0 : null, accel: o.accel, kernel: o.kernel };
  if (timedOut) {
    result.code = EXIT_TIMEOUT;
    result.error = `timed out after ${o.timeoutS} s (${started ? 'the command was still running' : 'the guest had not started the command yet'}); qemu was killed`;
    if (!started) result.error += tail;
  } else if (stalled && !o.signal?.aborted) {
    result.stalled = stalled;
  } else if (exitCode === null) {
    result.code = o.signal?.aborted ? EXIT_INTERRUPTED : EXIT_VM_ERROR;
    result.error = failure
      ? `the guest could not run the command: ${failure}${tail}`
      : o.signal?.aborted
        ? 'interrupted; qemu was killed'
        : `the guest stopped without reporting an exit code (qemu ${qemuSignal ? `killed by ${qemuSignal}` : `exited ${qemuStatus}`})${tail}`;
  }
  return result;
}

/** True when /dev/kvm can be opened at all; whether guests actually run on it is probed. */
function kvmOpenable() {
  try { accessSync('/dev/kvm', constants.R_OK | constants.W_OK); return true; } catch { return false; }
}

function qemuVersion() {
  return spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '?';
}

/**
 * KVM when a trivial guest really completes on it, else TCG. Nested hypervisors can expose a
 * /dev/kvm on which these kernels stall, so opening it proves nothing; the probe's verdict is
 * cached per host kernel, guest kernel and qemu version.
 */
async function pickAccel(kernel, base, log) {
  if (process.env.VMRUN_ACCEL) return process.env.VMRUN_ACCEL;
  if (!kvmOpenable()) return 'tcg';
  const file = join(cacheDir(), 'accel-probe.json');
  const key = `${release()}|${kernel.pkg}|${qemuVersion()}`;
  let verdicts = {};
  try { verdicts = JSON.parse(readFileSync(file, 'utf8')); } catch { /* first probe */ }
  if (verdicts[key]) return verdicts[key];
  log(`probing whether KVM runs guests here (once; up to ${KVM_PROBE_TIMEOUT_S} s)`);
  const sink = { write() {} };
  const r = await boot({
    kernel, base, accel: 'kvm', tcg: 'single', cpus: 2, mem: '512M', timeoutS: KVM_PROBE_TIMEOUT_S, cwd: '/',
    env: {}, command: ['/bin/true'], verbose: false, stdout: sink, stderr: sink, log,
  });
  verdicts[key] = r.code === 0 ? 'kvm' : 'tcg';
  log(`KVM ${r.code === 0 ? 'works' : 'does not run guests here'}; using ${verdicts[key]}`);
  mkdirSync(cacheDir(), { recursive: true });
  writeFileSync(file, `${JSON.stringify(verdicts, null, 2)}\n`);
  return verdicts[key];
}

export { VmSetupError };
