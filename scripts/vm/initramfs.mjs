// The guest's initramfs: a static busybox, our /init, and the few modules needed to reach the
// host's root over 9p. Built in JS (newc cpio is a trivial format) so the host needs no cpio or
// depmod. The image is built once per kernel and cached; each run appends a tiny second archive
// with its job (the kernel unpacks concatenated archives in order). Modules compressed by the
// kernel's packaging (.ko.xz, .ko.zst; Debian 13 and later) are shipped decompressed, so that
// busybox insmod loads them whatever the guest kernel's own decompression support.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { VmSetupError, cacheDir, ensureTool } from './host.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const INIT_SCRIPT = join(HERE, 'guest-init.sh');

/** What the guest needs before it can mount the host's root: virtio PCI, 9p over virtio, overlayfs. */
const ROOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** Writes newc ("070701") cpio archives. Entries: {name, mode, data?, rdev?: [major, minor]}. */
export function cpio(entries) {
  const parts = [];
  let ino = 1;
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = ({ name, mode, data = Buffer.alloc(0), rdev = [0, 0] }) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
  };
  for (const e of entries) add(e);
  add({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

export const dir = (name) => ({ name, mode: S_IFDIR | 0o755 });
export const file = (name, data, perm = 0o644) => ({ name, mode: S_IFREG | perm, data: Buffer.from(data) });
const chr = (name, major, minor) => ({ name, mode: S_IFCHR | 0o600, rdev: [major, minor] });

/** Module file suffixes and how to get the ELF out of each (tool, Debian package). */
const MODULE_SUFFIXES = [
  { suffix: '.ko' },
  { suffix: '.ko.xz', tool: 'xz', pkg: 'xz-utils' },
  { suffix: '.ko.zst', tool: 'zstd', pkg: 'zstd' },
  { suffix: '.ko.gz' },
];

/** A module's ELF bytes, decompressed when the file is compressed. */
export function readModule(path, log = () => {}) {
  const raw = readFileSync(path);
  if (path.endsWith('.ko')) return raw;
  if (path.endsWith('.ko.gz')) return gunzipSync(raw);
  const { tool, pkg } = MODULE_SUFFIXES.find((m) => path.endsWith(m.suffix));
  ensureTool(tool, pkg, log, `to decompress the guest kernel's ${path.slice(path.lastIndexOf('.'))} modules`);
  const r = spawnSync(tool, ['-dcq'], { input: raw, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new VmSetupError(`${tool} -d failed on ${path}: ${r.stderr}`);
  return r.stdout;
}

/** The `key=value` strings of a kernel module's .modinfo ELF section (`ko`: a path or the ELF bytes). */
export function modinfo(ko) {
  const buf = Buffer.isBuffer(ko) ? ko : readModule(ko);
  const what = Buffer.isBuffer(ko) ? 'module' : ko;
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) throw new Error(`${what}: not a 64-bit ELF file`);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const section = (i) => {
    const o = shoff + i * shentsize;
    return { name: buf.readUInt32LE(o), off: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = buf.indexOf(0, strtab.off + s.name);
    if (buf.toString('latin1', strtab.off + s.name, nameEnd) === '.modinfo') {
      return buf.toString('latin1', s.off, s.off + s.size).split('\0').filter(Boolean);
    }
  }
  return [];
}

const moduleName = (file) => file.replace(/-/g, '_');

/** Every module file under dir, by module name (the kernel treats '-' and '_' alike). */
function indexModules(dir, out = new Map()) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { indexModules(p, out); continue; }
    const m = MODULE_SUFFIXES.find((s) => e.name.endsWith(s.suffix));
    if (m) out.set(moduleName(e.name.slice(0, -m.suffix.length)), p);
  }
  return out;
}

/** Names of the modules built into the kernel (modules.builtin: `kernel/.../name.ko` lines). */
function builtinModules(modulesDir) {
  const file = join(modulesDir, 'modules.builtin');
  if (!existsSync(file)) return new Set();
  return new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map((l) => moduleName(l.slice(l.lastIndexOf('/') + 1).replace(/\.ko$/, ''))));
}

/**
 * `wanted` and everything they depend on, dependencies first (the order insmod needs), each
 * with its ELF bytes decompressed. Modules built into this kernel are left out: nothing to load.
 */
export function moduleClosure(modulesDir, wanted, log) {
  const index = indexModules(join(modulesDir, 'kernel'));
  const builtin = builtinModules(modulesDir);
  const order = [];
  const seen = new Set();
  const visit = (name) => {
    const key = moduleName(name);
    if (seen.has(key)) return;
    seen.add(key);
    const path = index.get(key);
    if (!path) {
      if (builtin.has(key)) return;
      throw new VmSetupError(`module ${name} is neither under ${modulesDir}/kernel nor listed in its modules.builtin`);
    }
    const data = readModule(path, log);
    const deps = modinfo(data).find((kv) => kv.startsWith('depends='))?.slice(8) ?? '';
    for (const d of deps.split(',').filter(Boolean)) visit(d);
    order.push({ name: key, path, data });
  };
  for (const w of wanted) visit(w);
  return order;
}

/**
 * The cached base initramfs for a kernel. Its name carries a hash of everything that goes in
 * (an unpacked kernel never changes in place: a newer one is a new directory), so editing
 * guest-init.sh or updating busybox rebuilds it on the next run. The modules are read and
 * decompressed only when it is built.
 */
export function ensureBaseInitramfs(kernel, busybox, log) {
  const init = readFileSync(INIT_SCRIPT);
  const hash = createHash('sha256');
  hash.update(init);
  hash.update(`${statSync(busybox).size}:${statSync(busybox).mtimeMs}`);
  hash.update(`${kernel.modulesDir}:${ROOT_MODULES.join(',')}`);
  const out = join(cacheDir(), 'initramfs', `${kernel.kver}-${hash.digest('hex').slice(0, 12)}.cpio`);
  if (existsSync(out)) return out;

  const mods = moduleClosure(kernel.modulesDir, ROOT_MODULES, log);
  const entries = [
    ...['bin', 'dev', 'proc', 'sys', 'modules', 'job', 'lower', 'rw', 'newroot'].map(dir),
    chr('dev/console', 5, 1),
    chr('dev/null', 1, 3),
    file('bin/busybox', readFileSync(busybox), 0o755),
    file('init', init, 0o755),
    file('modules/order', mods.map((m) => m.name).join('\n') + '\n'),
    ...mods.map((m) => file(`modules/${m.name}.ko`, m.data)),
  ];
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, cpio(entries));
  renameSync(tmp, out);
  log?.(`initramfs for ${kernel.kver}: modules ${mods.map((m) => m.name).join(', ') || 'none'} (the others built in)`);
  return out;
}
