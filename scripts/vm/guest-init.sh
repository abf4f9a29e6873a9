#!/bin/busybox sh
# PID 1 of the guest. It stays in the initramfs for the whole run: it mounts the host's root
# (read-only 9p) under a tmpfs overlay at /newroot, runs the job there with chroot, reports the
# exit code on the control port and powers off.
#
# Serial ports (qemu hands each to the runner on its own pipe):
#   ttyS0  console: kernel log and these messages (shown on failure or with --verbose)
#   ttyS1  the command's stdout        ttyS2  the command's stderr
#   ttyS3  control: "VMRUN-EXIT <nonce> <code>" or "VMRUN-FAIL <nonce> <reason>"
# /job/job.sh (appended per run by the runner) sets VMRUN_NONCE, VMRUN_CWD, VMRUN_MODULES,
# VMRUN_LOGLEVEL and the chroot argv with `set --`.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /job/job.sh

say() { echo "vmrun-init: $*"; }
fail() {
  say "$*"
  echo "VMRUN-FAIL $VMRUN_NONCE $*" > /dev/ttyS3
  poweroff -f
  sleep 10
}

# Raw ports: no "\n" -> "\r\n" rewriting of the command's bytes, no echo.
for port in /dev/ttyS1 /dev/ttyS2 /dev/ttyS3; do
  stty -F "$port" raw -echo || fail "cannot configure $port"
done

while read -r mod; do
  insmod "/modules/$mod.ko" || fail "insmod $mod failed"
done < /modules/order
say "modules loaded; mounting the host root"

# cache=loose: the share is read-only, so the guest may cache pages and lookups freely.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower \
  || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work || fail "cannot mount the tmpfs for the overlay"
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
  || fail "cannot mount the overlay"

R=/newroot
mount -t proc proc $R/proc || fail "cannot mount /proc"
mount -t sysfs sysfs $R/sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs $R/dev || fail "cannot mount /dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=0755 run $R/run
mount -t bpf bpf $R/sys/fs/bpf || fail "cannot mount bpffs"
mount -t tracefs tracefs $R/sys/kernel/tracing || fail "cannot mount tracefs"
mount -t debugfs debugfs $R/sys/kernel/debug || fail "cannot mount debugfs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
# The guest kernel's modules, so `modprobe` works inside as on a normal install.
kver=$(uname -r)
if [ -d "$R$VMRUN_MODULES" ]; then
  mkdir -p "$R/lib/modules/$kver" && mount --bind "$R$VMRUN_MODULES" "$R/lib/modules/$kver"
fi
hostname vmrun
say "root ready; starting the command"

[ -d "$R$VMRUN_CWD" ] || fail "the working directory $VMRUN_CWD does not exist in the guest"

# The command writes into fifos, not straight into the serial ports, so that its stdout and
# stderr are pipes as they would be under CI, not ttys.
mkfifo /out /err
cat /out > /dev/ttyS1 &
out_pid=$!
cat /err > /dev/ttyS2 &
err_pid=$!

echo "$VMRUN_LOGLEVEL" > /proc/sys/kernel/printk
echo "VMRUN-START $VMRUN_NONCE"
chroot $R "$@" < /dev/null > /out 2> /err
code=$?

# Leftover background processes would hold the fifos open; the run is over, so end them. The
# cats then see EOF, and their last close of the port waits until the bytes have left the UART.
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  case "$pid" in 1|"$out_pid"|"$err_pid") continue ;; esac
  kill -9 "$pid" 2>/dev/null
done
wait "$out_pid" "$err_pid"

echo "VMRUN-EXIT $VMRUN_NONCE $code" > /dev/ttyS3
poweroff -f
sleep 10
