#!/usr/bin/env bash
# Fetches the pinned libbpf release tarball (deps/libbpf.json) from Debian's source package
# with apt-get source, through a private apt configuration (its own sources list and lists
# directory; the system's sources are left alone), and checks its sha256. The tarball is
# kept in deps/ and shipped in the npm package, so builds never need the network.
# Only needed to move the pin: change deps/libbpf.json, delete the old tarball, run this.
set -euo pipefail
pkg=$(cd "$(dirname "$0")/.." && pwd)
here=$(cd "$pkg/../.." && pwd)
manifest="$pkg/deps/libbpf.json"
field() { node -p "require('$manifest').$1"; }
version=$(field version); tarball=$(field tarball); sha=$(field sha256)
suite=${LIBBPF_SUITE:-sid}
dest="$pkg/deps/$tarball"
if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then
  echo "fetch-libbpf: $tarball is there and matches its sha256"; exit 0
fi
mirror=$("$here/scripts/roots/debian-mirror.sh")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$work/sources.list"
cat >"$work/apt.conf" <<CONF
Dir::Etc::SourceList "$work/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$work/lists";
Dir::Cache "$work/cache";
APT::Sandbox::User "root";
CONF
export APT_CONFIG="$work/apt.conf"
apt-get update -qq >/dev/null || { echo "fetch-libbpf: apt-get update for $suite sources failed." >&2; exit 1; }
(cd "$work/src" && apt-get source --download-only -qq "libbpf=$version-*" >/dev/null 2>&1) ||
  (cd "$work/src" && apt-get source --download-only -qq libbpf >/dev/null) ||
  { echo "fetch-libbpf: $suite has no libbpf source package to fetch." >&2; exit 1; }
got="$work/src/$tarball"
[ -f "$got" ] || { echo "fetch-libbpf: $suite no longer offers libbpf $version (got: $(ls "$work/src" | tr '\n' ' ')); pin another release in deps/libbpf.json." >&2; exit 1; }
echo "$sha  $got" | sha256sum -c --status || { echo "fetch-libbpf: $tarball does not match the pinned sha256 $sha; refusing it." >&2; exit 1; }
cp "$got" "$dest"
echo "fetch-libbpf: $dest (sha256 $sha)"
