// Whether the shipped prebuilt addon fits this machine, and if not, one sentence why.
// Used by the install script (to decide on a source build) and by the loader (to explain a
// failure). Plain JavaScript: it runs at install time, before any TypeScript is compiled.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');

/** The manifest of the prebuild for this platform and architecture, or undefined. */
function manifest() {
  const file = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'manifest.json');
  try {
    return { ...JSON.parse(fs.readFileSync(file, 'utf8')), dir: path.dirname(file) };
  } catch {
    return undefined;
  }
}

/** The running glibc version ("2.36"), or undefined on musl and other libcs. */
function glibcVersion() {
  const header = process.report?.getReport?.().header;
  return header?.glibcVersionRuntime;
}

function older(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  }
  return false;
}

/**
 * `{ fits: true, file, manifest }` when the prebuild can serve this machine, else
 * `{ fits: false, reason }`. With `sourceHash`, a prebuild built from other sources does
 * not fit either (the repository's own checkout after a native change).
 */
function prebuildFit({ sourceHash } = {}) {
  const m = manifest();
  if (!m) return { fits: false, reason: `no prebuilt addon ships for ${process.platform}-${process.arch}` };
  const glibc = glibcVersion();
  if (!glibc) return { fits: false, reason: 'the prebuilt addon needs glibc and this system uses another C library (musl?)' };
  if (older(glibc, m.glibc)) return { fits: false, reason: `the prebuilt addon needs glibc ${m.glibc} or newer and this system has ${glibc}` };
  if (sourceHash && sourceHash !== m.sourceHash) return { fits: false, reason: 'the prebuilt addon was built from other native sources than these' };
  return { fits: true, file: path.join(m.dir, m.file), manifest: m };
}

module.exports = { prebuildFit, glibcVersion, manifest };
