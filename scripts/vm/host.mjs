// Everything the runner needs from the host, fetched once and cached: qemu (installed with apt,
// the one host change besides the cache), and the guest kernels and a static busybox (fetched
// with `apt-get download` and unpacked into the cache, never installed on the host).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Guest kernel flavours: the Debian 12 package name pattern (N = the ABI number). */
export const FLAVOURS = {
  '6.1': /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/,
  '6.1-rt': /^linux-image-6\.1\.0-(\d+)-rt-amd64-unsigned$/,
};

/** Module directories no guest of ours loads from; dropping them saves ~60% of the cache. */
const PRUNED_MODULE_DIRS = [
  'sound', 'drivers/gpu', 'drivers/media', 'drivers/net/wireless', 'drivers/net/ethernet',
  'drivers/infiniband', 'drivers/scsi', 'drivers/usb', 'drivers/iio', 'drivers/staging',
  'drivers/hwmon', 'drivers/hid', 'drivers/input', 'drivers/comedi', 'drivers/bluetooth',
  'drivers/isdn', 'drivers/mtd', 'drivers/mmc', 'drivers/target', 'drivers/video',
  'net/wireless', 'net/mac80211', 'net/bluetooth',
];

export class VmSetupError extends Error {}

/** Where kernels, busybox and initramfs images live between runs. */
export function cacheDir() {
  if (process.env.VMRUN_CACHE_DIR) return process.env.VMRUN_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'bpf-sync-timer-vm');
  if (process.getuid?.() === 0) return '/var/cache/bpf-sync-timer-vm';
  return join(homedir(), '.cache', 'bpf-sync-timer-vm');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new VmSetupError(`${cmd} could not be started: ${r.error.message}`);
  return r;
}

function mustRun(cmd, args, what, opts) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) {
    throw new VmSetupError(`${what} failed (${cmd} ${args.join(' ')} exited ${r.status}):\n${(r.stderr || '').trim()}`);
  }
  return r;
}

function onPath(name) {
  return run('sh', ['-c', `command -v ${name}`]).status === 0;
}

let aptUpdated = false;
function aptUpdate(log) {
  if (aptUpdated) return;
  log('apt-get update');
  mustRun('apt-get', ['update', '-qq'], 'apt-get update');
  aptUpdated = true;
}

/** Installs qemu from Debian if it is missing (idempotent: a no-op once it is there). */
export function ensureQemu(log) {
  if (onPath('qemu-system-x86_64')) return;
  if (process.getuid?.() !== 0) {
    throw new VmSetupError('qemu-system-x86_64 is missing; install it with: sudo apt-get install qemu-system-x86');
  }
  const install = () => run('apt-get', ['install', '-y', '-qq', '--no-install-recommends',
    '-o', 'DPkg::Lock::Timeout=300', 'qemu-system-x86'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  log('apt-get install qemu-system-x86');
  let r = install();
  if (r.status !== 0) { aptUpdate(log); r = install(); }
  if (r.status !== 0) throw new VmSetupError(`apt-get install qemu-system-x86 failed:\n${r.stderr.trim()}`);
}

/** Names of the packages apt knows that match `re`, newest ABI first. */
function aptCandidates(re, log) {
  const search = () => run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-']).stdout
    .split('\n').map((l) => l.split(' - ')[0].trim()).filter((n) => re.test(n));
  let names = search();
  if (names.length === 0) { aptUpdate(log); names = search(); }
  return names.sort((a, b) => Number(b.match(re)[1]) - Number(a.match(re)[1]));
}

/**
 * Downloads one Debian package and unpacks it into `dest` without installing it. The unpacking
 * happens in a scratch dir renamed into place at the end, so a concurrent or interrupted run never
 * sees half a tree.
 */
function fetchDeb(pkg, dest, log, prune) {
  const root = join(dest, '..');
  mkdirSync(root, { recursive: true });
  const scratch = mkdtempSync(join(root, '.tmp-'));
  try {
    log(`apt-get download ${pkg}`);
    let r = run('apt-get', ['download', pkg], { cwd: scratch });
    if (r.status !== 0) { aptUpdate(log); r = run('apt-get', ['download', pkg], { cwd: scratch }); }
    if (r.status !== 0) throw new VmSetupError(`apt-get download ${pkg} failed:\n${r.stderr.trim()}`);
    const deb = readdirSync(scratch).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmSetupError(`apt-get download ${pkg} produced no .deb`);
    const tree = join(scratch, 'tree');
    mustRun('dpkg-deb', ['-x', join(scratch, deb), tree], `unpacking ${deb}`);
    prune?.(tree);
    writeFileSync(join(tree, '.deb-name'), `${deb}\n`);
    try {
      renameSync(tree, dest);
    } catch (e) {
      if (!existsSync(dest)) throw e; // another run finished first: keep theirs
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function pruneModules(tree) {
  const mods = join(tree, 'lib/modules');
  for (const kver of readdirSync(mods)) {
    for (const d of PRUNED_MODULE_DIRS) rmSync(join(mods, kver, 'kernel', d), { recursive: true, force: true });
  }
}

/**
 * The unpacked kernel package for a flavour: the newest one already in the cache (so runs work
 * offline and stay on one kernel), else the newest apt offers, downloaded now.
 * `refresh` re-asks apt and downloads a newer ABI if there is one.
 */
export function ensureKernel(flavour, log, { refresh = false } = {}) {
  const re = FLAVOURS[flavour];
  if (!re) throw new VmSetupError(`unknown kernel '${flavour}'; choose one of: ${Object.keys(FLAVOURS).join(', ')}`);
  const dir = join(cacheDir(), 'kernels');
  const cached = existsSync(dir)
    ? readdirSync(dir).filter((n) => re.test(n)).sort((a, b) => Number(b.match(re)[1]) - Number(a.match(re)[1]))
    : [];
  let pkg = cached[0];
  if (!pkg || refresh) {
    const offered = aptCandidates(re, log);
    if (offered.length === 0 && !pkg) throw new VmSetupError(`apt offers no package matching ${re.source} (is this Debian 12 with its main repository?)`);
    if (offered[0]) pkg = offered[0];
  }
  if (!existsSync(join(dir, pkg))) {
    try {
      fetchDeb(pkg, join(dir, pkg), log, pruneModules);
    } catch (e) {
      // Stale package lists name an ABI the mirror has dropped: refresh them and take the newest.
      aptUpdate(log);
      const newest = aptCandidates(re, log)[0];
      if (!newest || newest === pkg) throw e;
      pkg = newest;
      if (!existsSync(join(dir, pkg))) fetchDeb(pkg, join(dir, pkg), log, pruneModules);
    }
  }
  const dest = join(dir, pkg);
  const kver = readdirSync(join(dest, 'lib/modules'))[0];
  const vmlinuz = join(dest, 'boot', `vmlinuz-${kver}`);
  return {
    flavour,
    pkg,
    kver,
    root: dest,
    vmlinuz,
    vmlinux: ensureVmlinux(vmlinuz, join(dest, 'boot', `vmlinux-${kver}`), log),
    modulesDir: join(dest, 'lib/modules', kver),
  };
}

/**
 * The uncompressed kernel ELF, unpacked from the bzImage once. qemu boots it straight into its
 * PVH entry point, skipping the firmware's real-mode loader and the xz decompression, which
 * under emulation take ~3 s of every boot. Null (boot the bzImage) when xz is missing.
 */
function ensureVmlinux(vmlinuz, out, log) {
  if (existsSync(out)) return out;
  const image = readFileSync(vmlinuz);
  // x86 boot protocol: the compressed payload's place is in the setup header.
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const payload = image.subarray(start, start + image.readUInt32LE(0x24c));
  if (!payload.subarray(0, 6).equals(Buffer.from('fd377a585a00', 'hex'))) return null;
  const r = spawnSync('xz', ['-dc', '--single-stream'], { input: payload, maxBuffer: 512 << 20 });
  if (r.status !== 0 || !r.stdout?.subarray(0, 4).equals(Buffer.from('7f454c46', 'hex'))) {
    log('xz is missing or failed; booting the compressed kernel (about 3 s slower per boot)');
    return null;
  }
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, r.stdout);
  renameSync(tmp, out);
  return out;
}

/** A static busybox for the initramfs, unpacked from Debian's busybox-static package. */
export function ensureBusybox(log) {
  const dir = join(cacheDir(), 'busybox-static');
  if (!existsSync(dir)) fetchDeb('busybox-static', dir, log);
  const bin = ['bin/busybox', 'usr/bin/busybox'].map((p) => join(dir, p)).find((p) => existsSync(p));
  if (!bin) throw new VmSetupError(`no busybox binary inside ${dir}`);
  return bin;
}
