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

# The addon: the committed prebuild (packages/libbpf/prebuilds) when it was built from these
# native sources, so the tests run the binary users get; otherwise a source build, which
# node-gyp-build then prefers. A stale source build must not shadow a current prebuild.
lib=packages/libbpf
addon=$lib/build/Release/bpf_native.node
# node-gyp rebuilds in place: two builds at once would trample each other.
exec 9>"${TMPDIR:-/tmp}/bpf-sync-timer-native.lock"
flock 9
if (cd $lib && node -e "process.exit(require('./scripts/prebuild-fit').prebuildFit({sourceHash: require('./scripts/source-hash').sourceHash()}).fits ? 0 : 1)"); then
  [ -d $lib/build ] && { echo "build: the prebuilt addon matches the native sources; removing the source build $lib/build" >&2; rm -rf $lib/build; }
elif [ ! -f "$addon" ] || [ -n "$(find $lib/native $lib/binding.gyp $lib/deps $lib/scripts/build-native.js -newer "$addon" 2>/dev/null | head -1)" ]; then
  echo "build: the native sources differ from the prebuild's; building the addon from source (run 'npm run build:prebuild -w @bpf-sync-timer/libbpf' before committing)" >&2
  (cd $lib && node scripts/build-native.js --quiet) || { echo "build: the native addon failed to build; run 'cd $lib && node scripts/build-native.js' to see why." >&2; exit 1; }
fi
exec 9>&-

bash scripts/build-bpf.sh examples/tick-probe packages/bpf-sync-timer/dist/bpf -I packages/bpf-sync-timer/include

node_modules/.bin/tsc -b packages/libbpf
# The timer's ABI and the examples' records, typed from the objects' BTF (bpf-skel).
node scripts/gen-skel.mjs
node_modules/.bin/tsc -b packages/bpf-sync-timer
node scripts/esm-wrapper.mjs packages/libbpf >/dev/null
node scripts/esm-wrapper.mjs packages/bpf-sync-timer >/dev/null
if [ -f examples/tsconfig.json ]; then node_modules/.bin/tsc -b examples; fi
