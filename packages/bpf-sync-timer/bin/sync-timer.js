#!/usr/bin/env node
// The `sync-timer` command's entry, committed so npm links it even before dist/ is built
// (npm links a bin only if its target exists at install time).
'use strict';
const path = require('node:path');

const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(entry)) {
    process.stderr.write('sync-timer: this checkout is not built yet (dist/ is missing): run `npm run build` ' +
      '(or `sudo npm start`) at the repository root first.\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`sync-timer: ${(e && e.stack) || e}\n`);
  process.exitCode = 1;
});
