#!/usr/bin/env bash
# Runs a command inside a qemu guest on a Debian 6.1 or 6.1-rt kernel; see scripts/vm/README.md.
#   scripts/vm/run.sh [--kernel 6.1|6.1-rt] [--cpus 4] [--mem 2G] [--timeout 300] -- <command...>
exec node "$(dirname "$(readlink -f "$0")")/cli.mjs" "$@"
