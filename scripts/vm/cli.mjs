#!/usr/bin/env node
// Command-line front of the VM runner (scripts/vm/run.sh execs this). See README.md.
import { EXIT_VM_ERROR, VmSetupError, runVm } from './vm.mjs';
import { ensureBusybox, ensureKernel, ensureQemu, FLAVOURS } from './host.mjs';
import { ensureBaseInitramfs } from './initramfs.mjs';

const USAGE = `usage: scripts/vm/run.sh [options] -- <command> [args...]

Boots a throw-away qemu guest on a Debian kernel with the host's root filesystem shared read-only
(writes go to a tmpfs overlay and vanish), runs the command as root in the current directory,
streams its stdout/stderr and exits with its exit code.

options:
  --kernel K      guest kernel: ${Object.keys(FLAVOURS).join(' | ')} (default 6.1)
  --cpus N        vCPUs (default 4)
  --mem SIZE      guest memory, qemu syntax (default 2G)
  --timeout S     seconds for boot + command; then qemu is killed and the runner exits 124 (default 300)
  --cwd DIR       directory to run in (default: the current one; same path in the guest)
  --env K=V | K   set a guest variable, or copy K from the host (repeatable)
  --accel A       auto | kvm | tcg (default auto: KVM only if a cached probe shows guests run on it)
  --tcg T         single | multi: emulation threads (default single; multi can hang, see README)
  --refresh       ask apt for a newer kernel package than the cached one
  --prepare       only fetch and build what the runner needs (no command); exits 0 when ready
  --timing        print boot and total times to stderr
  --verbose       show the guest's boot log
exit status: the command's; 124 on timeout; 125 when the VM could not run it; 2 on bad usage.`;

function usage(msg) {
  process.stderr.write(`vm: ${msg}\n\n${USAGE}\n`);
  process.exit(2);
}

function parse(argv) {
  const o = { env: {} };
  const flags = { '--verbose': 'verbose', '--timing': 'timing', '--refresh': 'refresh', '--prepare': 'prepare' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '--') { o.command = argv.slice(i + 1); break; }
    if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    if (flags[a]) { o[flags[a]] = true; continue; }
    let value;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { value = a.slice(eq + 1); a = a.slice(0, eq); }
    const take = () => value ?? (++i < argv.length ? argv[i] : usage(`${a} needs a value`));
    switch (a) {
      case '--kernel': o.kernel = take(); if (!FLAVOURS[o.kernel]) usage(`unknown kernel '${o.kernel}'`); break;
      case '--cpus': o.cpus = Number(take()); if (!Number.isInteger(o.cpus) || o.cpus < 1) usage('--cpus needs a positive integer'); break;
      case '--mem': o.mem = take(); break;
      case '--timeout': o.timeoutS = Number(take()); if (!(o.timeoutS > 0)) usage('--timeout needs a positive number of seconds'); break;
      case '--cwd': o.cwd = take(); break;
      case '--accel': o.accel = take(); if (!['auto', 'kvm', 'tcg'].includes(o.accel)) usage('--accel is auto, kvm or tcg'); break;
      case '--tcg': o.tcg = take(); if (!['single', 'multi'].includes(o.tcg)) usage('--tcg is single or multi'); break;
      case '--env': {
        const kv = take();
        const k = kv.split('=')[0];
        o.env[k] = kv.includes('=') ? kv.slice(k.length + 1) : process.env[k] ?? '';
        break;
      }
      default:
        // A command given without '--' is accepted when it cannot be mistaken for an option.
        if (a.startsWith('-')) usage(`unknown option ${a}`);
        o.command = argv.slice(i);
        i = argv.length;
    }
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const log = (m) => process.stderr.write(`vm: ${m}\n`);
  if (o.prepare) {
    ensureQemu(log);
    const bb = ensureBusybox(log);
    const k = ensureKernel(o.kernel ?? '6.1', log, { refresh: o.refresh });
    ensureBaseInitramfs(k, bb, log);
    log(`ready: ${k.pkg} (${k.kver})`);
    return 0;
  }
  if (!o.command?.length) usage('no command given');
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => ac.abort());
  // A reader that went away (`| head`) ends the run, as SIGPIPE would end a local command.
  for (const s of [process.stdout, process.stderr]) s.on('error', () => ac.abort());
  const r = await runVm({ ...o, signal: ac.signal, log });
  if (r.error) log(r.error);
  if (o.timing) {
    const s = (ms) => (ms == null ? '-' : `${(ms / 1000).toFixed(1)} s`);
    const retries = r.bootRetries ? `, ${r.bootRetries} stalled boot(s) retried` : '';
    log(`timing: kernel ${r.kernel.kver}, ${r.accel}, boot-to-command ${s(r.bootMs)}, total ${s(r.totalMs)}${retries}`);
  }
  return r.code;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => {
    process.stderr.write(`vm: ${e instanceof VmSetupError ? e.message : e.stack}\n`);
    process.exitCode = EXIT_VM_ERROR;
  },
);
