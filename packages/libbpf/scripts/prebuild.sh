#!/usr/bin/env bash
# Builds the prebuilt addon shipped in prebuilds/linux-x64/ inside a Debian 11 root
# (glibc 2.31), so the one N-API binary runs on Debian 11+, Ubuntu 20.04+ and Node 20+:
# pinned libbpf linked in statically, libelf and zlib shared. Writes manifest.json beside
# it (glibc needed, libbpf release, the sha256 of the sources it was built from).
# Run as root after changing anything under native/, binding.gyp or deps/: `npm run prebuild`.
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$pkg/../.." && pwd)
[ "$(uname -m)" = x86_64 ] || { echo "prebuild: builds linux-x64 only, this is $(uname -m)." >&2; exit 1; }
root=$("$repo/scripts/roots/make-root.sh" bullseye build)
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
cp -a "$pkg/binding.gyp" "$pkg/native" "$pkg/deps" "$pkg/scripts" "$pkg/package.json" "$stage/"
addon_api=$(cd "$pkg" && node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))")
mkdir -p "$stage/node_modules"
cp -a "$addon_api" "$stage/node_modules/node-addon-api"
echo "prebuild: building in $root (Debian 11)" >&2
"$repo/scripts/roots/enter.sh" "$root" --bind "$stage:/build" -- sh -c '
  set -e
  cd /build
  node scripts/build-native.js --quiet
  strip --strip-debug build/Release/bpf_native.node
  objdump -T build/Release/bpf_native.node | grep -o "GLIBC_[0-9.]*" | sed s/GLIBC_// | sort -uV | tail -1 > build/glibc
  gcc -dumpfullversion > build/gcc
'
out="$pkg/prebuilds/linux-x64"
mkdir -p "$out"
cp "$stage/build/Release/bpf_native.node" "$out/node.napi.glibc.node"
GLIBC=$(cat "$stage/build/glibc") GCC=$(cat "$stage/build/gcc") HASH=$(node "$pkg/scripts/source-hash.js") \
LIBBPF=$(node -p "require('$pkg/deps/libbpf.json').version") node -e '
  const m = {
    file: "node.napi.glibc.node", platform: "linux", arch: "x64", napi: 8,
    glibc: process.env.GLIBC, libbpf: process.env.LIBBPF, sharedLibraries: ["libelf.so.1", "libz.so.1"],
    builtIn: `Debian 11 (bullseye) root, gcc ${process.env.GCC}`, sourceHash: process.env.HASH,
  };
  require("fs").writeFileSync(process.argv[1], JSON.stringify(m, null, 2) + "\n");
' "$out/manifest.json"
cat "$out/manifest.json"
ls -la "$out"
