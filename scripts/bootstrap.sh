#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian 12 / Ubuntu 22.04+ machine, run by `npm start`
# and `npm test`: system packages, npm dependencies, BPF objects, the native addon, the
# TypeScript, and tracefs. Each step is skipped when already done.
# With --unit (what `npm run test:unit` uses) an unprivileged user gets the unit lane: no
# packages are installed and no kernel is checked; the tree must have been set up once by
# root, or be writable so the TypeScript can be built.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

unit_only=0
for a in "$@"; do
  case "$a" in
    --unit) unit_only=1 ;;
    *) die "unknown option '$a' (known: --unit)" ;;
  esac
done
if [ $unit_only = 1 ] && [ "$(id -u)" != 0 ]; then
  [ -d node_modules/typescript ] || die "node_modules is missing: run 'sudo npm run setup' (or npm ci) once first."
  if [ -w packages/libbpf ]; then
    node_modules/.bin/tsc -b packages/libbpf packages/bpf-sync-timer
    node scripts/esm-wrapper.mjs packages/libbpf >/dev/null
    node scripts/esm-wrapper.mjs packages/bpf-sync-timer >/dev/null
  else
    [ -d packages/bpf-sync-timer/dist/test/unit ] || die "the tree is not built and not writable by $(id -un): run 'sudo npm run setup' first."
  fi
  exit 0
fi

# --- the machine: one clear sentence for each thing that cannot work -----------------
[ "$(uname -s)" = Linux ] || die "eBPF needs Linux; this is $(uname -s)."
read -r kmaj kmin _ < <(uname -r | tr '.-' '  ')
if [ "$kmaj" -lt 5 ] || { [ "$kmaj" -eq 5 ] && [ "$kmin" -lt 15 ]; }; then
  die "kernel $(uname -r) is older than 5.15, the first with bpf_timer: boot a newer kernel."
fi
[ -r /sys/kernel/btf/vmlinux ] || die "the kernel has no BTF (/sys/kernel/btf/vmlinux missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y."
if [ "$(cat /sys/kernel/realtime 2>/dev/null || echo 0)" = 1 ] || uname -v | grep -qw PREEMPT_RT; then
  die "this is a PREEMPT_RT kernel: the library runs here (thread mode), but the kernel test lanes exercise the bpf_timer modes, which its verifier refuses: run them on a non-RT kernel (the RT kernels are covered by npm run test:matrix)."
fi
if [ "$(id -u)" != 0 ]; then
  die "BPF needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) and this set-up installs packages: run it with sudo."
fi

# --- system packages (chromium renders the benchmark report in a test; bpftrace is a peer) ---
need=()
# libbpf itself is built from the pinned release in packages/libbpf/deps (static), so no
# libbpf-dev; debootstrap makes the clean roots of the prebuild and the install lane.
for p in clang llvm libelf-dev zlib1g-dev make g++ python3 pkg-config chromium bpftrace debootstrap; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed: check the network or the apt sources."
  apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed."
fi
# Prometheus scrapes the metrics endpoint in a kernel test, which starts its own server on a
# loopback port; without its recommends (node exporter and the like, services of their own).
if ! dpkg -s prometheus >/dev/null 2>&1; then
  say "installing prometheus"
  [ ${#need[@]} -gt 0 ] || apt-get update -qq >/dev/null || die "apt-get update failed: check the network or the apt sources."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || die "apt-get install prometheus failed."
fi
# bpftool is a convenience for users (inspecting maps); Ubuntu ships it per kernel.
if ! command -v bpftool >/dev/null 2>&1; then
  apt-get install -y -qq bpftool >/dev/null 2>&1 || say "bpftool is not available from apt here; it is optional."
fi

# --- tracefs: tracepoint attachment needs it --------------------------------------------
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing || die "tracefs is not mounted and mounting it failed: mount -t tracefs nodev /sys/kernel/tracing"
fi

# --- npm dependencies (this also builds the addon) ---------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund >/dev/null || die "npm ci failed (see the output above)."
fi

bash scripts/build.sh
