#!/usr/bin/env bash
# Runs a command inside a root made by make-root.sh, in a private mount namespace (so no
# mount outlives the command, whatever happens): /proc, /sys, bpffs, tracefs, /dev and a
# fresh /tmp, the host's DNS and TLS trust set-up, and the given directories bound in.
#   enter.sh ROOT [--bind HOST_DIR:ROOT_DIR]... [--env K=V]... -- COMMAND [ARGS...]
set -euo pipefail
root=${1:?usage: enter.sh ROOT [--bind SRC:DST]... -- COMMAND...}; shift
binds=(); envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bind) binds+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "enter: unknown option '$1' (known: --bind, --env, --)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "enter: no command given" >&2; exit 2; }
[ -f "$root/.complete" ] || { echo "enter: $root is not a root made by make-root.sh" >&2; exit 2; }
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The host's TLS trust (it may hold a site's own CA, which npm's registry access then needs).
host_ca=/etc/ssl/certs/ca-certificates.crt

export HOST_CA="$host_ca" ROOT="$root" NBINDS=${#binds[@]} NENVS=${#envs[@]}
exec unshare --mount --propagation private --fork -- bash -c '
  set -euo pipefail
  mount -t proc proc "$ROOT/proc"
  mount --rbind /sys "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"
  mount -t tmpfs tmpfs "$ROOT/tmp"
  if [ -f "$HOST_CA" ] && [ -f "$ROOT$HOST_CA" ]; then mount --bind -o ro "$HOST_CA" "$ROOT$HOST_CA"; fi
  for b in "${@:1:$NBINDS}"; do
    src=${b%%:*}; dst=$ROOT${b#*:}
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
  done
  shift "$NBINDS"
  envs=("${@:1:$NENVS}")
  shift "$NENVS"
  exec chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    LANG=C.UTF-8 NODE_EXTRA_CA_CERTS="$HOST_CA" ${CI:+CI=$CI} "${envs[@]}" "$@"
' enter ${binds[@]+"${binds[@]}"} ${envs[@]+"${envs[@]}"} "$@"
