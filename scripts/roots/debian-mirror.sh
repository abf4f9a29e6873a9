#!/usr/bin/env bash
# Prints the Debian archive URI this machine's apt already uses (deb822 .sources or
# sources.list), so the project's private apt configurations and debootstrap use the
# same mirror as the system without naming one. Exits 1 when none is configured.
set -euo pipefail
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
  [ -n "$uri" ] && break
done
if [ -z "$uri" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
fi
[ -n "$uri" ] || { echo "debian-mirror: no Debian archive in /etc/apt/sources.list*; configure apt first." >&2; exit 1; }
echo "${uri%/}"
