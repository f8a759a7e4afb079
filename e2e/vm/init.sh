#!/bin/busybox sh
# Stage 1 init of the evpnhost test VM. It runs as PID 1 from the initramfs
# that run.sh builds (busybox + the 9p/virtio modules of the guest kernel).
#
# Job: load the 9p modules, mount the host's / read-only (9p tag "root") on
# /newroot, mount the API and tmpfs filesystems, then (last, so no tmpfs
# hides it) the repository read-write (9p tag "repo") over its own path
# inside it, and switch_root into the
# host's filesystem, where stage 2 (e2e/vm/guest.sh, read live from the
# repository) loads modules and runs the command.
#
# Any change to this file changes the initramfs cache key (run.sh hashes it).
# shellcheck shell=sh

/bin/busybox --install -s /bin
export PATH=/bin

mkdir -p /proc /sys /dev /newroot /repo
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# Debian kernels have CONFIG_DEVTMPFS_MOUNT unset, and it would not apply to
# an initramfs anyway: mount it ourselves.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

die() {
	echo "evpnhost-vm stage 1: $*"
	# Without an rc file run.sh reports "VM died" (exit 125). Not the sysrq
	# trigger: it prints "sysrq: Power Off" whatever the loglevel.
	poweroff -f
	sleep 30
}

run=
verbose=
alt=
# Dotted parameters are neither passed to init as argv nor as environment:
# read them from /proc/cmdline.
read -r cmdline </proc/cmdline
for a in $cmdline; do
	case $a in
	evpnhost.run=*) run=${a#*=} ;;
	evpnhost.verbose=1) verbose=1 ;;
	evpnhost.alt=1) alt=1 ;;
	esac
done
[ -n "$run" ] || die "no evpnhost.run= on the kernel command line"
say() {
	[ -z "$verbose" ] || { read -r up _ </proc/uptime; echo "evpnhost-vm stage 1 [${up}s]: $*"; }
}

# Modules are listed in load order by run.sh (modprobe --show-depends).
# Debian 12 ships them uncompressed, so busybox insmod can load them.
while read -r m; do
	say "insmod $m"
	insmod "/modules/$m" || die "insmod $m failed"
done </modules/order

# msize: 512000 is far above the 8 KiB default and makes reads of big
# binaries over 9p several times faster. The root share is read-only (also
# enforced by QEMU), so cache=loose is safe and saves round trips.
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" root /newroot || die "cannot mount the root 9p share"
mount -t 9p -o "$opts,cache=mmap" repo /repo || die "cannot mount the repo 9p share"

# run.sh wrote the repository's absolute host path in the run directory; the
# path is not put on the kernel command line, so any path works.
repo=$(cat "/repo/e2e/vm/.out/$run/repo-path") || die "no repo-path in run directory $run"
[ -d "/newroot$repo" ] || die "$repo does not exist in the guest root"
say "repository at $repo"
# The repository is mounted at its host path only at the end, after the
# tmpfs mounts below: a clone under /root, /tmp or /var/lib would otherwise
# be hidden by them (guest.sh: No such file or directory).

# busybox switch_root does not carry the API filesystems over: move them.
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys

# Make the read-only host root a usable, writable Debian-like system. This is
# done here rather than in stage 2 because busybox from the initramfs starts
# much faster under TCG than dynamically linked binaries read over 9p.
r=/newroot
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $r/dev/pts || die "cannot mount devpts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $r/dev/shm || die "cannot mount /dev/shm"
# devtmpfs lacks the /dev/fd links udev would make; bash process
# substitution (<(...)) needs /dev/fd.
ln -sfn /proc/self/fd $r/dev/fd
ln -sfn /proc/self/fd/0 $r/dev/stdin
ln -sfn /proc/self/fd/1 $r/dev/stdout
ln -sfn /proc/self/fd/2 $r/dev/stderr
mount -t bpf -o mode=700 bpf $r/sys/fs/bpf || echo "evpnhost-vm: no bpf filesystem"
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup 2>/dev/null || say "no cgroup2"
mount -t debugfs debugfs $r/sys/kernel/debug 2>/dev/null || say "no debugfs"
mount -t tracefs tracefs $r/sys/kernel/tracing 2>/dev/null || say "no tracefs"
# Writable places over the read-only root. /var/run is a symlink to /run on
# Debian, so /run covers it; bind it for other layouts.
# The package's /etc/frr/daemons survives the tmpfs over /etc/frr: FRR
# started the way frr.service starts it (TestDebianFRR) reads it.
[ -r $r/etc/frr/daemons ] && cp $r/etc/frr/daemons /frr-daemons
for d in /run /var/lib /var/log /etc/frr /root; do
	mount -t tmpfs -o mode=755 tmpfs "$r$d" || die "cannot mount tmpfs on $d"
done
[ -r /frr-daemons ] && cp /frr-daemons $r/etc/frr/daemons
for d in /tmp /var/tmp; do
	mount -t tmpfs -o mode=1777 tmpfs "$r$d" || die "cannot mount tmpfs on $d"
done
[ -L $r/var/run ] || mount --bind $r/run $r/var/run
# run.sh --alt-platform: the other platform's root, read-only, on the tmpfs
# /run (the lab runs the TORs' FRR from it, chrooted: LAB_TOR_ROOT).
if [ -n "$alt" ]; then
	mkdir -p $r/run/evpnhost-alt
	mount -t 9p -o "$opts,ro,cache=loose" alt $r/run/evpnhost-alt || die "cannot mount the alt 9p share"
fi
# Last: the repository over its own path (the directory exists on the host
# root, checked above; under a tmpfs it has to be made again).
mkdir -p "$r$repo" || die "cannot make $repo in the guest"
mount --move /repo "$r$repo" || die "cannot move the repo mount to $repo"
mkdir -p $r/run/netns $r/run/lock $r/run/frr $r/var/tmp/frr $r/var/lib/frr $r/var/log/frr
# The guest's /etc/passwd is the host's: take frr's ids from it (numeric,
# the initramfs has no passwd file for name lookups).
frr=$(awk -F: '$1 == "frr" { print $3 ":" $4 }' $r/etc/passwd)
if [ -n "$frr" ]; then
	chown "$frr" $r/run/frr $r/var/tmp/frr $r/var/lib/frr $r/var/log/frr $r/etc/frr
fi
hostname evpnhost-vm
ip link set lo up

say "switching to $repo/e2e/vm/guest.sh"
# shellcheck disable=SC2093 # die runs only if the exec fails
exec switch_root /newroot /bin/bash "$repo/e2e/vm/guest.sh" "$run" "$repo"
die "switch_root failed"
