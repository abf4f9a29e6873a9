// Everything the runner needs from the host, fetched once and cached: qemu (installed with apt,
// the one host change besides the cache), and the guest kernels and a static busybox (fetched
// with `apt-get download` and unpacked into the cache, never installed on the host). Kernels of
// Debian suites other than the host's come through a private apt configuration per suite in the
// cache (APT_CONFIG), so the system's apt sources are never touched.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Prints the archive URI the system's apt already uses (no mirror is named in this repository). */
const MIRROR_SCRIPT = join(HERE, '..', 'roots', 'debian-mirror.sh');
/** The host's own suite: its kernels come through the system's apt configuration. */
const HOST_SUITE = 'bookworm';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * Guest kernel flavours: the Debian suite that has them and the name pattern of the package
 * holding the kernel image. Group 1 orders the candidates (its numbers compared in turn, the
 * newest first). Names of the form `linux-binary-unsigned-<kver>` (Debian 14's packaging, 7.x)
 * hold only the image; its modules come in `linux-modules-<kver>` and its config and
 * modules.builtin in `linux-base-<kver>`, fetched with it.
 */
export const FLAVOURS = {
  '5.10': { suite: 'bullseye', image: /^linux-image-5\.10\.0-(\d+)-amd64-unsigned$/ },
  '6.1': { suite: 'bookworm', image: /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/ },
  '6.1-rt': { suite: 'bookworm', image: /^linux-image-6\.1\.0-(\d+)-rt-amd64-unsigned$/ },
  '6.12': { suite: 'trixie', image: /^linux-image-6\.12\.(\d+)\+deb13-amd64-unsigned$/ },
  '6.12-rt': { suite: 'trixie', image: /^linux-image-6\.12\.(\d+)\+deb13-rt-amd64-unsigned$/ },
  '7.2': { suite: 'sid', image: /^linux-binary-unsigned-7\.2\.(\d+)\+deb14-amd64$/ },
  '7.2-rt': { suite: 'sid', image: /^linux-binary-unsigned-7\.2\.(\d+)\+deb14-rt-amd64$/ },
  // Whatever experimental carries (7.3 release candidates at the time of writing).
  experimental: { suite: 'experimental', image: /^linux-binary-unsigned-(\d+\.\d+(?:\.\d+)?(?:\+deb\d+)?)-amd64$/ },
  'experimental-rt': { suite: 'experimental', image: /^linux-binary-unsigned-(\d+\.\d+(?:\.\d+)?(?:\+deb\d+)?)-rt-amd64$/ },
};

const SPLIT_IMAGE_PREFIX = 'linux-binary-unsigned-';

/** Module directories no guest of ours loads from; dropping them saves ~60% of the cache. */
const PRUNED_MODULE_DIRS = [
  'sound', 'drivers/gpu', 'drivers/media', 'drivers/net/wireless', 'drivers/net/ethernet',
  'drivers/infiniband', 'drivers/scsi', 'drivers/usb', 'drivers/iio', 'drivers/staging',
  'drivers/hwmon', 'drivers/hid', 'drivers/input', 'drivers/comedi', 'drivers/bluetooth',
  'drivers/isdn', 'drivers/mtd', 'drivers/mmc', 'drivers/target', 'drivers/video',
  'drivers/accel', 'net/wireless', 'net/mac80211', 'net/bluetooth',
];

export class VmSetupError extends Error {}

/** No package of the flavour in the cache nor in apt's lists (e.g. experimental between releases). */
export class KernelNotOfferedError extends VmSetupError {}

/** Where kernels, busybox, initramfs images and the private apt configurations live between runs. */
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

/** Writes a file through a temporary name and a rename, so a reader never sees half of it. */
function writeAtomic(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

let mirror;
function debianMirror() {
  mirror ??= mustRun('bash', [MIRROR_SCRIPT], 'finding the system\'s Debian mirror').stdout.trim();
  return mirror;
}

/**
 * The environment for apt commands on `suite`: the system's for the host's suite, else
 * APT_CONFIG pointing at cacheDir()/apt/<suite>/apt.conf, with its own sources.list, package
 * lists and apt cache there (the system's dpkg status is only read).
 */
export function aptEnv(suite) {
  if (suite === HOST_SUITE) return process.env;
  const dir = join(cacheDir(), 'apt', suite);
  for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
  const conf = [
    `Dir::Etc::SourceList "${join(dir, 'sources.list')}";`,
    'Dir::Etc::SourceParts "/nonexistent";',
    `Dir::State::Lists "${join(dir, 'lists')}";`,
    `Dir::Cache "${join(dir, 'cache')}";`,
    'APT::Sandbox::User "root";',
    'APT::Architectures { "amd64"; };',
    '',
  ].join('\n');
  const sources = `deb [signed-by=${KEYRING}] ${debianMirror()} ${suite} main\n`;
  for (const [name, text] of [['apt.conf', conf], ['sources.list', sources]]) {
    const p = join(dir, name);
    if (!existsSync(p) || readFileSync(p, 'utf8') !== text) writeAtomic(p, text);
  }
  return { ...process.env, APT_CONFIG: join(dir, 'apt.conf') };
}

const aptUpdated = new Set();
function aptUpdate(suite, log) {
  if (aptUpdated.has(suite)) return;
  log(`apt-get update${suite === HOST_SUITE ? '' : ` (${suite}, private lists in ${join(cacheDir(), 'apt', suite)})`}`);
  mustRun('apt-get', ['update', '-qq'], `apt-get update (${suite})`, { env: aptEnv(suite) });
  aptUpdated.add(suite);
}

/** Installs a Debian package providing `cmd` if `cmd` is missing (idempotent). */
export function ensureTool(cmd, pkg, log, why) {
  if (onPath(cmd)) return;
  if (process.getuid?.() !== 0) {
    throw new VmSetupError(`${cmd} is missing${why ? ` (${why})` : ''}; install it with: sudo apt-get install ${pkg}`);
  }
  const install = () => run('apt-get', ['install', '-y', '-qq', '--no-install-recommends',
    '-o', 'DPkg::Lock::Timeout=300', pkg], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  log(`apt-get install ${pkg}${why ? ` (${why})` : ''}`);
  let r = install();
  if (r.status !== 0) { aptUpdate(HOST_SUITE, log); r = install(); }
  if (r.status !== 0) throw new VmSetupError(`apt-get install ${pkg} failed:\n${r.stderr.trim()}`);
}

/** Installs qemu from Debian if it is missing (idempotent: a no-op once it is there). */
export function ensureQemu(log) {
  ensureTool('qemu-system-x86_64', 'qemu-system-x86', log);
}

/** Orders package names matching `re` newest first, by the numbers in group 1. */
function newestFirst(names, re) {
  const key = (n) => (re.exec(n)[1].match(/\d+/g) ?? []).map(Number);
  return names.sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
      if ((kb[i] ?? -1) !== (ka[i] ?? -1)) return (kb[i] ?? -1) - (ka[i] ?? -1);
    }
    return 0;
  });
}

/** Names of the kernel packages apt offers for a flavour, newest first. */
function aptCandidates({ suite, image }, log) {
  const search = () => run('apt-cache', ['search', '--names-only', '^linux-(image|binary-unsigned)-'], { env: aptEnv(suite) }).stdout
    .split('\n').map((l) => l.split(' - ')[0].trim()).filter((n) => image.test(n));
  let names = search();
  if (names.length === 0) { aptUpdate(suite, log); names = search(); }
  return newestFirst(names, image);
}

/** The packages that make up one kernel: the image package and, in the split packaging, its companions. */
function kernelPackages(pkg) {
  if (!pkg.startsWith(SPLIT_IMAGE_PREFIX)) return [pkg];
  const kver = pkg.slice(SPLIT_IMAGE_PREFIX.length);
  return [pkg, `linux-modules-${kver}`, `linux-base-${kver}`];
}

/**
 * Downloads Debian packages and unpacks them together into `dest` without installing them. The
 * unpacking happens in a scratch dir renamed into place at the end, so a concurrent or
 * interrupted run never sees half a tree.
 */
function fetchDebs(pkgs, dest, { env = process.env, suite = HOST_SUITE, log, prune }) {
  const root = dirname(dest);
  mkdirSync(root, { recursive: true });
  const scratch = mkdtempSync(join(root, '.tmp-'));
  try {
    log(`apt-get download ${pkgs.join(' ')}${suite === HOST_SUITE ? '' : ` (${suite})`}`);
    let r = run('apt-get', ['download', ...pkgs], { cwd: scratch, env });
    if (r.status !== 0) { aptUpdate(suite, log); r = run('apt-get', ['download', ...pkgs], { cwd: scratch, env }); }
    if (r.status !== 0) throw new VmSetupError(`apt-get download ${pkgs.join(' ')} failed:\n${r.stderr.trim()}`);
    const debs = readdirSync(scratch).filter((f) => f.endsWith('.deb'));
    if (debs.length !== pkgs.length) throw new VmSetupError(`apt-get download ${pkgs.join(' ')} produced ${debs.length} .deb file(s)`);
    const tree = join(scratch, 'tree');
    for (const deb of debs) mustRun('dpkg-deb', ['-x', join(scratch, deb), tree], `unpacking ${deb}`);
    prune?.(tree);
    writeFileSync(join(tree, '.deb-name'), `${debs.join('\n')}\n`);
    try {
      renameSync(tree, dest);
    } catch (e) {
      if (!existsSync(dest)) throw e; // another run finished first: keep theirs
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `lib/modules` (Debian ≤ 12) or `usr/lib/modules` (Debian 13 and later) of an unpacked kernel. */
function modulesRoot(tree) {
  const root = ['usr/lib/modules', 'lib/modules'].map((p) => join(tree, p)).find((p) => existsSync(p));
  if (!root) throw new VmSetupError(`no lib/modules or usr/lib/modules in ${tree}`);
  return root;
}

function pruneModules(tree) {
  const mods = modulesRoot(tree);
  for (const kver of readdirSync(mods)) {
    for (const d of PRUNED_MODULE_DIRS) rmSync(join(mods, kver, 'kernel', d), { recursive: true, force: true });
  }
}

/** Cached kernels of the host's suite lived in kernels/ directly before there were other suites. */
function adoptOldLayout(flavour, dir) {
  const old = join(cacheDir(), 'kernels');
  if (flavour.suite !== HOST_SUITE || !existsSync(old)) return;
  for (const n of readdirSync(old).filter((n) => flavour.image.test(n))) {
    mkdirSync(dir, { recursive: true });
    try { renameSync(join(old, n), join(dir, n)); } catch { /* another run moved it */ }
  }
}

/**
 * The unpacked kernel for a flavour: the newest one already in the cache (so runs work offline
 * and stay on one kernel), else the newest apt offers, downloaded now. `refresh` updates apt's
 * lists and downloads a newer kernel if there is one. Throws KernelNotOfferedError when neither
 * the cache nor apt has one.
 */
export function ensureKernel(name, log, { refresh = false } = {}) {
  const flavour = FLAVOURS[name];
  if (!flavour) throw new VmSetupError(`unknown kernel '${name}'; choose one of: ${Object.keys(FLAVOURS).join(', ')}`);
  const { suite, image } = flavour;
  const dir = join(cacheDir(), 'kernels', suite);
  adoptOldLayout(flavour, dir);
  const cached = existsSync(dir) ? newestFirst(readdirSync(dir).filter((n) => image.test(n)), image) : [];
  let pkg = cached[0];
  if (!pkg || refresh) {
    // The private lists are only ever updated by us; the system's are the system's business.
    if (refresh && suite !== HOST_SUITE) aptUpdate(suite, log);
    const offered = aptCandidates(flavour, log);
    if (offered.length === 0 && !pkg) {
      throw new KernelNotOfferedError(`apt offers no package matching ${image.source} in Debian ${suite} (main)`);
    }
    if (offered[0]) pkg = offered[0];
  }
  const env = aptEnv(suite);
  const fetch = (p) => fetchDebs(kernelPackages(p), join(dir, p), { env, suite, log, prune: pruneModules });
  if (!existsSync(join(dir, pkg))) {
    try {
      fetch(pkg);
    } catch (e) {
      // Stale package lists name a kernel the mirror has dropped: refresh them and take the newest.
      aptUpdate(suite, log);
      const newest = aptCandidates(flavour, log)[0];
      if (!newest || newest === pkg) throw e;
      pkg = newest;
      if (!existsSync(join(dir, pkg))) fetch(pkg);
    }
  }
  return kernelFiles(name, pkg, join(dir, pkg), log);
}

/** Where an unpacked kernel keeps its image and modules (three layouts, see README.md). */
function kernelFiles(flavour, pkg, dest, log) {
  const mods = modulesRoot(dest);
  const kver = readdirSync(mods)[0];
  const modulesDir = join(mods, kver);
  const vmlinuz = [join(dest, 'boot', `vmlinuz-${kver}`), join(modulesDir, 'vmlinuz'), join(modulesDir, 'vmlinuz.unsigned')]
    .find((p) => existsSync(p));
  if (!vmlinuz) throw new VmSetupError(`no kernel image (boot/vmlinuz-${kver} or ${modulesDir}/vmlinuz*) in ${dest}`);
  return {
    flavour,
    pkg,
    kver,
    root: dest,
    vmlinuz,
    vmlinux: ensureVmlinux(vmlinuz, join(dirname(vmlinuz), `vmlinux-${kver}`), log),
    modulesDir,
  };
}

/** bzImage payload compressions we can unpack: magic, the tool and its arguments. */
const PAYLOADS = [
  { magic: 'fd377a585a00', tool: 'xz', args: ['-dc', '--single-stream'], trailer: 0 },
  // The kernel appends the uncompressed size (4 bytes) after the zstd frame; zstd would read it as a frame.
  { magic: '28b52ffd', tool: 'zstd', args: ['-dcq'], trailer: 4 },
];

/**
 * The uncompressed kernel ELF, unpacked from the bzImage once. qemu boots it straight into its
 * PVH entry point, skipping the firmware's real-mode loader and the decompression, which under
 * emulation take ~3 s of every boot. Null (boot the bzImage) when the payload's compression is
 * unknown, its tool missing, or the ELF lacks the PVH entry note.
 */
function ensureVmlinux(vmlinuz, out, log) {
  if (existsSync(out)) return out;
  const image = readFileSync(vmlinuz);
  // x86 boot protocol: the compressed payload's place is in the setup header.
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const payload = image.subarray(start, start + image.readUInt32LE(0x24c));
  const kind = PAYLOADS.find((k) => payload.subarray(0, k.magic.length / 2).equals(Buffer.from(k.magic, 'hex')));
  const fallback = (why) => { log(`${why}; booting the compressed kernel (about 3 s slower per boot)`); return null; };
  if (!kind) return fallback(`unknown compression of ${vmlinuz} (magic ${payload.subarray(0, 6).toString('hex')})`);
  const r = spawnSync(kind.tool, kind.args, { input: payload.subarray(0, payload.length - kind.trailer), maxBuffer: 1 << 30 });
  if (r.status !== 0 || !r.stdout?.subarray(0, 4).equals(Buffer.from('7f454c46', 'hex'))) {
    return fallback(`${kind.tool} is missing or failed on ${vmlinuz}`);
  }
  if (!hasPvhNote(r.stdout)) return fallback(`${vmlinuz} has no PVH entry point (CONFIG_PVH)`);
  writeAtomic(out, r.stdout);
  return out;
}

/** True when a 64-bit ELF has the Xen PHYS32_ENTRY note (type 18) qemu needs to boot it directly. */
function hasPvhNote(elf) {
  if (elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    const ph = phoff + i * phentsize;
    if (elf.readUInt32LE(ph) !== 4) continue; // PT_NOTE
    let o = Number(elf.readBigUInt64LE(ph + 8));
    const end = o + Number(elf.readBigUInt64LE(ph + 0x20));
    while (o + 12 <= end) {
      const [namesz, descsz, type] = [elf.readUInt32LE(o), elf.readUInt32LE(o + 4), elf.readUInt32LE(o + 8)];
      const name = elf.toString('latin1', o + 12, o + 12 + namesz).replace(/\0+$/, '');
      if (name === 'Xen' && type === 18) return true;
      o += 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4;
    }
  }
  return false;
}

/** A static busybox for the initramfs, unpacked from Debian's busybox-static package. */
export function ensureBusybox(log) {
  const dir = join(cacheDir(), 'busybox-static');
  if (!existsSync(dir)) fetchDebs(['busybox-static'], dir, { log });
  const bin = ['bin/busybox', 'usr/bin/busybox'].map((p) => join(dir, p)).find((p) => existsSync(p));
  if (!bin) throw new VmSetupError(`no busybox binary inside ${dir}`);
  return bin;
}
