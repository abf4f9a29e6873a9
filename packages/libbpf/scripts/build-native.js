#!/usr/bin/env node
// Builds the addon with node-gyp against the headers of the running Node when the
// system has them (Debian's nodejs ships them under /usr/include/node), so no header
// download is needed on machines without internet access.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return undefined;
}

function nodeGyp() {
  const candidates = [];
  try {
    const npm = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    candidates.push(path.resolve(path.dirname(npm), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {}
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch {}
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) {
    console.error('build-native: node-gyp not found (it ships with npm); install npm or node-gyp.');
    process.exit(1);
  }
  return found;
}

const args = [nodeGyp(), 'rebuild'];
const dir = nodeDir();
if (dir) args.push(`--nodedir=${dir}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
if (r.status !== 0) {
  console.error('build-native: the addon did not build. It needs g++, make, python3 and libbpf-dev (>= 1.0): ' +
    'on Debian/Ubuntu run `apt-get install -y g++ make python3 libbpf-dev libelf-dev zlib1g-dev`.');
  process.exit(r.status ?? 1);
}
