#!/usr/bin/env bash
# Compiles every *.bpf.c in SRC_DIR into OUT_DIR/*.bpf.o with clang (14 or newer),
# against uapi headers only (no vmlinux.h) and the BPF-side headers of the pinned libbpf
# (packages/libbpf/include/bpf, unpacked from deps/ on first use: no libbpf-dev needed).
# Extra arguments go to clang (e.g. -I dirs).
# Rebuilds only objects older than their source or than any header they may include.
set -euo pipefail
src_dir=$1; out_dir=$2; shift 2
clang_bin=""
for c in clang clang-19 clang-16 clang-14; do
  if command -v "$c" >/dev/null 2>&1; then clang_bin=$c; break; fi
done
if [ -z "$clang_bin" ]; then
  echo "build-bpf: clang is not installed; run 'npm run setup' (or apt-get install clang llvm)." >&2
  exit 1
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
arch=$(uname -m); case "$arch" in x86_64) target_arch=x86;; aarch64) target_arch=arm64;; *) target_arch=$arch;; esac
here=$(cd "$(dirname "$0")/.." && pwd)
node "$here/packages/libbpf/scripts/bpf-headers.js"
headers=("$here"/packages/bpf-sync-timer/include/*.h "$here"/packages/bpf-sync-timer/bpf/*.h "$here"/packages/libbpf/include/bpf/*.h)
mkdir -p "$out_dir"
shopt -s nullglob
for src in "$src_dir"/*.bpf.c; do
  obj="$out_dir/$(basename "${src%.c}").o"
  if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$0" ]; then
    stale=0
    for h in "${headers[@]}" "$src_dir"/*.h; do [ "$h" -nt "$obj" ] && stale=1; done
    [ $stale = 0 ] && continue
  fi
  "$clang_bin" -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$target_arch \
    -I "$here/packages/libbpf/include" -I "/usr/include/$multiarch" "$@" -c "$src" -o "$obj"
  echo "build-bpf: $obj"
done
