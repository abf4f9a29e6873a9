#!/usr/bin/env node
// Refuses to pack a prebuilt addon built from other sources than the ones being packed.
'use strict';
const { manifest } = require('./prebuild-fit');
const { sourceHash } = require('./source-hash');

const m = manifest();
const now = sourceHash();
if (!m) {
  console.error(`check-prebuild: no prebuild for ${process.platform}-${process.arch}: run \`npm run build:prebuild -w @bpf-sync-timer/libbpf\` (root).`);
  process.exit(1);
}
if (m.sourceHash !== now) {
  console.error('check-prebuild: prebuilds/linux-x64 was built from other native sources than these: ' +
    'run `npm run build:prebuild -w @bpf-sync-timer/libbpf` (root) and commit the result.');
  process.exit(1);
}
