#!/usr/bin/env node
// npm install script: keep the prebuilt addon when it fits and loads; otherwise say why in
// one sentence and build from source (scripts/build-native.js names what is missing).
// Package managers that skip install scripts (pnpm, bun) still get the prebuild; on a
// machine it does not fit, the loader's error says to run this build.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { prebuildFit } = require('./prebuild-fit');

const pkg = path.resolve(__dirname, '..');
const inRepo = fs.existsSync(path.join(pkg, 'test'));
const fit = prebuildFit(inRepo ? { sourceHash: require('./source-hash').sourceHash() } : {});
let reason = fit.reason;
if (fit.fits) {
  try {
    require(fit.file);
    process.exit(0);
  } catch (e) {
    const msg = String(e.message).split('\n')[0];
    if (/lib(elf|z)\.so/.test(msg)) {
      console.error(`@bpf-sync-timer/libbpf: the prebuilt addon cannot load (${msg}): install libelf1 and zlib1g (apt-get install -y libelf1 zlib1g).`);
      process.exit(1);
    }
    reason = `the prebuilt addon does not load here (${msg})`;
  }
}
console.error(`@bpf-sync-timer/libbpf: ${reason}; building it from source (about a minute).`);
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js'), '--quiet'], { stdio: 'inherit', cwd: pkg });
process.exit(r.status ?? 1);
