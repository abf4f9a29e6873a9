#!/usr/bin/env node
// The `bpf-skel` command's entry, committed so npm links it even before dist/ is built
// (npm links a bin only if its target exists at install time). Loads no native addon.
'use strict';
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'src', 'skel', 'cli.js');
let cli;
try {
  cli = require(entry);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(entry)) {
    process.stderr.write('bpf-skel: this checkout is not built yet (dist/ is missing): run `npm run build` at the repository root first.\n');
    process.exit(1);
  }
  throw e;
}
try {
  process.exitCode = cli.main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bpf-skel: ${(e && e.stack) || e}\n`);
  process.exitCode = 1;
}
