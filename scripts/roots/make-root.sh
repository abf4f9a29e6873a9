#!/usr/bin/env bash
# Makes (once) and prints the path of a clean Debian root kept in a cache, for building the
# prebuilt addon on an old glibc and for clean-room install tests.
#   make-root.sh SUITE FLAVOUR      SUITE: bullseye | bookworm    FLAVOUR: min | build
# min:   debootstrap minbase plus libelf1 and zlib1g: what a user's machine has at run time
#        (no compiler, make, Python, libbpf or clang).
# build: min plus g++, make, python3, pkg-config, libelf-dev and zlib1g-dev.
# Both get this machine's node and npm copied in (refreshed when the host's change).
# Cache: $BPF_SYNC_TIMER_ROOTS, else /var/cache/bpf-sync-timer-roots. Needs root and debootstrap
# (installed with apt when missing). Deleting the cache is always safe.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${1:?usage: make-root.sh SUITE FLAVOUR}; flavour=${2:?usage: make-root.sh SUITE FLAVOUR}
case "$suite" in bullseye|bookworm) ;; *) echo "make-root: unknown suite '$suite' (bullseye or bookworm)" >&2; exit 2;; esac
case "$flavour" in
  min) extra=libelf1,zlib1g,ca-certificates ;;
  build) extra=libelf1,zlib1g,ca-certificates,g++,make,python3,pkg-config,libelf-dev,zlib1g-dev ;;
  *) echo "make-root: unknown flavour '$flavour' (min or build)" >&2; exit 2;;
esac
[ "$(id -u)" = 0 ] || { echo "make-root: debootstrap and chroot need root: run it with sudo." >&2; exit 1; }
cache=${BPF_SYNC_TIMER_ROOTS:-/var/cache/bpf-sync-timer-roots}
root="$cache/$suite-$flavour"
mkdir -p "$cache"
exec 8>"$cache/.lock-$suite-$flavour"
flock 8

if [ ! -f "$root/.complete" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "make-root: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
      { echo "make-root: apt-get install debootstrap failed." >&2; exit 1; }
  fi
  mirror=$("$here/debian-mirror.sh")
  scratch=$(mktemp -d "$cache/.new-$suite-$flavour.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  echo "make-root: debootstrap $suite ($flavour) into the cache; this takes a few minutes once" >&2
  if ! debootstrap --variant=minbase --include="$extra" "$suite" "$scratch" "$mirror" >"$scratch.log" 2>&1; then
    tail -20 "$scratch.log" >&2
    echo "make-root: debootstrap $suite failed (log above)." >&2
    exit 1
  fi
  rm -f "$scratch.log"
  rm -rf "$scratch/var/cache/apt/archives/"*.deb
  touch "$scratch/.complete"
  rm -rf "$root"
  mv "$scratch" "$root"
  trap - EXIT
fi

# node and npm as this machine has them (Node's official builds run on glibc 2.28+).
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
if ! cmp -s "$node_bin" "$root/usr/local/bin/node"; then
  install -D -m 755 "$node_bin" "$root/usr/local/bin/node"
  rm -rf "$root/usr/local/lib/node_modules/npm"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  node_prefix=$(cd "$(dirname "$node_bin")/.." && pwd)
  if [ -d "$node_prefix/include/node" ]; then
    rm -rf "$root/usr/local/include/node"
    mkdir -p "$root/usr/local/include"
    cp -a "$node_prefix/include/node" "$root/usr/local/include/node"
  fi
fi
echo "$root"
