#!/usr/bin/env bash
# Runs a command inside a qemu guest on one of the Debian kernels of scripts/vm/host.mjs FLAVOURS
# (5.10 to experimental, and their -rt flavours); see scripts/vm/README.md.
#   scripts/vm/run.sh [--kernel 6.1|7.2-rt|...] [--cpus 4] [--mem 2G] [--timeout 300] -- <command...>
exec node "$(dirname "$(readlink -f "$0")")/cli.mjs" "$@"
