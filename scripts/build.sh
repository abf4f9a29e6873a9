#!/usr/bin/env bash
# Builds what is out of date: BPF objects, the native addon, the TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-bpf.sh packages/bpf-sync-timer/bpf packages/bpf-sync-timer/dist/bpf -I packages/bpf-sync-timer/include
bash scripts/build-bpf.sh packages/bpf-sync-timer/test/fixtures packages/bpf-sync-timer/test/fixtures/obj -I packages/bpf-sync-timer/include
bash scripts/build-bpf.sh packages/libbpf/test/fixtures packages/libbpf/test/fixtures/obj
for ex in examples/*/; do
  [ -d "$ex/bpf" ] && bash scripts/build-bpf.sh "$ex/bpf" "$ex/obj" -I packages/bpf-sync-timer/include
done

addon=packages/libbpf/build/Release/bpf_native.node
# node-gyp rebuilds in place: two builds at once would trample each other.
exec 9>"${TMPDIR:-/tmp}/bpf-sync-timer-native.lock"
flock 9
if [ ! -f "$addon" ] || [ -n "$(find packages/libbpf/native packages/libbpf/binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  (cd packages/libbpf && node scripts/build-native.js >/dev/null) || { echo "build: the native addon failed to build; run 'cd packages/libbpf && node scripts/build-native.js' to see why." >&2; exit 1; }
fi

bash scripts/build-bpf.sh examples/tick-probe packages/bpf-sync-timer/dist/bpf -I packages/bpf-sync-timer/include

node_modules/.bin/tsc -b packages/libbpf packages/bpf-sync-timer
if [ -f examples/tsconfig.json ]; then node_modules/.bin/tsc -b examples; fi
