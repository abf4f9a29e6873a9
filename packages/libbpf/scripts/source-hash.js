// The sha256 of everything that goes into the addon binary: native sources, binding.gyp,
// the libbpf pin and the build script. A prebuild records it, and a unit test fails when
// the committed prebuild was built from other sources (run `npm run prebuild` then).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');

/** Relative paths of the addon's inputs, sorted. */
function addonInputs() {
  const native = fs.readdirSync(path.join(pkg, 'native')).filter((f) => /\.(cc|h)$/.test(f)).map((f) => `native/${f}`);
  return [...native, 'binding.gyp', 'deps/libbpf.json', 'scripts/build-native.js', 'scripts/bpf-headers.js'].sort();
}

/** Hex sha256 over the inputs' names and bytes. */
function sourceHash() {
  const h = crypto.createHash('sha256');
  for (const rel of addonInputs()) {
    h.update(`${rel}\0`);
    h.update(fs.readFileSync(path.join(pkg, rel)));
    h.update('\0');
  }
  return h.digest('hex');
}

module.exports = { addonInputs, sourceHash };
if (require.main === module) console.log(sourceHash());
