#!/usr/bin/env node
// The pinned libbpf release (deps/libbpf.json): its tarball, checked against the pinned
// sha256, and the BPF-side headers (bpf_helpers.h and the ones it pulls in) unpacked from it
// into include/bpf/, so BPF programs compile with `-I <package>/include` against the same
// libbpf the addon links, with no libbpf-dev on the machine.
//   node scripts/bpf-headers.js        unpacks include/bpf/ when missing or from another pin
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');

/** What a BPF program includes as <bpf/...>; the rest of libbpf's headers are user-space API. */
const BPF_SIDE_HEADERS = ['bpf_helpers.h', 'bpf_helper_defs.h', 'bpf_tracing.h', 'bpf_core_read.h', 'bpf_endian.h', 'usdt.bpf.h'];

/** The directory to pass to clang as -I: it holds bpf/bpf_helpers.h and the others. */
const INCLUDE_DIR = path.join(pkg, 'include');

class PinError extends Error {}

/** The pin and the path of its tarball, after checking the tarball's sha256. */
function pinnedTarball() {
  const pin = JSON.parse(fs.readFileSync(path.join(pkg, 'deps', 'libbpf.json'), 'utf8'));
  const tarball = path.join(pkg, 'deps', pin.tarball);
  if (!fs.existsSync(tarball)) throw new PinError(`${tarball} is missing; run scripts/fetch-libbpf.sh.`);
  const got = crypto.createHash('sha256').update(fs.readFileSync(tarball)).digest('hex');
  if (got !== pin.sha256) throw new PinError(`${pin.tarball} has sha256 ${got}, not the pinned ${pin.sha256}; refusing to use it.`);
  return { pin, tarball };
}

/** Unpacks the BPF-side headers into include/bpf/ unless the ones there are from this pin. */
function extractBpfHeaders() {
  const { pin, tarball } = pinnedTarball();
  const dir = path.join(INCLUDE_DIR, 'bpf');
  const stamp = path.join(dir, 'LIBBPF_VERSION');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === `${pin.version} ${pin.sha256}`) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const members = BPF_SIDE_HEADERS.map((h) => `${pin.topDir}/src/${h}`);
  const r = spawnSync('tar', ['xzf', tarball, '-C', dir, '--strip-components=2', ...members], { encoding: 'utf8' });
  if (r.status !== 0) throw new PinError(`tar could not unpack the headers from ${pin.tarball}: ${(r.stderr || r.error?.message || '').trim()}`);
  fs.writeFileSync(stamp, `${pin.version} ${pin.sha256}\n`);
  return dir;
}

module.exports = { pinnedTarball, extractBpfHeaders, PinError, INCLUDE_DIR, BPF_SIDE_HEADERS };

if (require.main === module) {
  const unknown = process.argv.slice(2);
  if (unknown.length) {
    console.error(`bpf-headers: unknown argument ${unknown[0]} (it takes none)`);
    process.exit(1);
  }
  try {
    extractBpfHeaders();
  } catch (e) {
    if (!(e instanceof PinError)) throw e;
    console.error(`bpf-headers: ${e.message}`);
    process.exit(1);
  }
}
